//! A SimpleRNN written as a user writes it by hand: a custom layer that unrolls
//! `h = tanh(x_t W + h U + b)` over every step with ordinary ops (the graph grows with the
//! sequence: about 19 nodes a step with the gradients). Prints, as JSON, how long the training
//! plan of batch 128 takes to compile, how many ops it runs, and the CPU step time on random
//! token ids. Run: cargo run --release --example unrolled_simplernn -- [STEPS]

use anyhow::{bail, Result};
use std::time::Instant;
use wgtrain::cpu::CpuBackend;
use wgtrain::graph::{DType, NodeId, Shape};
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Array, BuildCtx, CallCtx, CompileConfig, Dense, Embedding, Initializer, Input, Layer, LayerExt,
    Loss, Model, Optimizer, Weight,
};

/// The last state of a SimpleRNN unrolled step by step.
struct UnrolledSimpleRnn {
    units: usize,
    weights: Option<[Weight; 3]>,
}

impl Layer for UnrolledSimpleRnn {
    fn class_name(&self) -> &str {
        "UnrolledSimpleRNN"
    }
    fn build(&mut self, shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        let features = shapes[0].last();
        self.weights = Some([
            ctx.add_weight("kernel", [features, self.units], Initializer::GlorotUniform),
            ctx.add_weight(
                "recurrent_kernel",
                [self.units, self.units],
                Initializer::GlorotUniform,
            ),
            ctx.add_weight("bias", [self.units], Initializer::Zeros),
        ]);
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let Some([kernel, recurrent, bias]) = &self.weights else {
            bail!("UnrolledSimpleRNN is called before it is built");
        };
        let (kernel, recurrent, bias) =
            (ctx.weight(kernel), ctx.weight(recurrent), ctx.weight(bias));
        let g = &mut *ctx.graph;
        let shape = g.shape(inputs[0]).clone();
        let (batch, steps, features) = (shape.0[0], shape.0[1], shape.0[2]);
        let mut state: Option<NodeId> = None;
        for t in 0..steps {
            let x = g.slice(inputs[0], 1, t, t + 1)?;
            let x = g.reshape(x, [batch, features])?;
            let mut z = g.matmul(x, kernel)?;
            if let Some(h) = state {
                let carried = g.matmul(h, recurrent)?;
                z = g.add(z, carried)?;
            }
            let z = g.add(z, bias)?;
            state = Some(g.tanh(z)?);
        }
        Ok(vec![state.expect("at least one step")])
    }
}

fn main() -> Result<()> {
    let steps: usize = match std::env::args().nth(1) {
        Some(s) => s.parse()?,
        None => 500,
    };
    let (batch, vocab) = (128, 10_000);
    let ids = Input::typed([steps], DType::I32);
    let x = Embedding::new(vocab, 32).apply(&ids)?;
    let h = UnrolledSimpleRnn {
        units: 32,
        weights: None,
    }
    .apply(&x)?;
    let out = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .apply(&h)?;
    let mut model = Model::new(&[&ids], &[&out])?;
    model.compile_on(
        CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
        Box::new(CpuBackend::new()),
    )?;
    let started = Instant::now();
    let ops = model.training_step_ops(batch, &[Shape(vec![1])])?;
    let compile_s = started.elapsed().as_secs_f64();
    let tokens = (0..batch * steps)
        .map(|i| (i * 7919 % (vocab - 1)) as i32 + 1)
        .collect();
    let x = Array::from_i32([batch, steps], tokens)?;
    let y = Array::new([batch, 1], (0..batch).map(|i| (i % 2) as f32).collect())?;
    model.train_on_batch(&[&x], &[&y])?;
    let timed = 5;
    let started = Instant::now();
    for _ in 0..timed {
        model.train_on_batch(&[&x], &[&y])?;
    }
    let step_ms = started.elapsed().as_secs_f64() * 1000.0 / timed as f64;
    println!(
        "{{\"steps\": {steps}, \"batch\": {batch}, \"ops\": {ops}, \"compile_s\": {compile_s:.4}, \
         \"step_ms\": {step_ms:.1}}}"
    );
    Ok(())
}
