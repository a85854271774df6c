//! Reference workload 2's second half, as the post writes it: Dense, Embedding and SimpleRNN
//! rebuilt as custom layers — the SimpleRNN unrolled over every step with ordinary ops, so the
//! graph grows with the sequence — and trained on IMDB by a loop written by hand (gradients of
//! a batch, an optimizer step with them, running loss and accuracy), not by `fit`.
//!
//! Prints how long the training plan takes to compile, how many ops it runs and the step time
//! (JSON), then the loss and running accuracy of each epoch.
//!
//! Run: cargo run --release --example custom_training_loop -- [--epochs N] [--steps N]
//!      [--maxlen N] [--data-dir DIR]

#[allow(dead_code)]
#[path = "models/imdb_simplernn.rs"]
mod imdb_simplernn;

use anyhow::{bail, Context, Result};
use std::time::Instant;
use wgtrain::data::resolve_imdb_dir;
use wgtrain::graph::{DType, NodeId, Shape};
use wgtrain::nn::{
    Array, BuildCtx, CallCtx, CompileConfig, Initializer, Input, Layer, Loss, Model, Optimizer,
    RunningLogs, Sequential, Weight,
};

/// Keras' `"random_normal"`.
const RANDOM_NORMAL: Initializer = Initializer::Normal {
    mean: 0.0,
    stddev: 0.05,
};

/// `sigmoid(x w + b)`.
struct MyDense {
    units: usize,
    weights: Option<[Weight; 2]>,
}

impl Layer for MyDense {
    fn class_name(&self) -> &str {
        "MyDense"
    }
    fn build(&mut self, shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        self.weights = Some([
            ctx.add_weight("w", [shapes[0].last(), self.units], RANDOM_NORMAL),
            ctx.add_weight("b", [self.units], RANDOM_NORMAL),
        ]);
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let Some([w, b]) = &self.weights else {
            bail!("MyDense is called before it is built");
        };
        let (w, b) = (ctx.weight(w), ctx.weight(b));
        let g = &mut *ctx.graph;
        let z = g.matmul(inputs[0], w)?;
        let z = g.add(z, b)?;
        Ok(vec![g.sigmoid(z)?])
    }
}

/// Rows of a table picked by token ids.
struct MyEmbedding {
    input_unit: usize,
    output_unit: usize,
    table: Option<Weight>,
}

impl Layer for MyEmbedding {
    fn class_name(&self) -> &str {
        "MyEmbedding"
    }
    fn build(&mut self, _shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        self.table = Some(ctx.add_weight(
            "embedding",
            [self.input_unit, self.output_unit],
            RANDOM_NORMAL,
        ));
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let Some(table) = &self.table else {
            bail!("MyEmbedding is called before it is built");
        };
        let t = ctx.weight(table);
        ctx.check_ids(inputs[0], self.input_unit);
        Ok(vec![ctx.graph.gather(t, inputs[0])?])
    }
}

/// `output_t = tanh(x_t w + state u + b)`, one step after another over the whole sequence.
struct MySimpleRnn {
    units: usize,
    return_sequences: bool,
    weights: Option<[Weight; 3]>,
}

impl Layer for MySimpleRnn {
    fn class_name(&self) -> &str {
        "MySimpleRNN"
    }
    fn build(&mut self, shapes: &[Shape], ctx: &mut BuildCtx) -> Result<()> {
        self.weights = Some([
            ctx.add_weight("w", [shapes[0].last(), self.units], RANDOM_NORMAL),
            ctx.add_weight("b", [self.units], RANDOM_NORMAL),
            ctx.add_weight("u", [self.units, self.units], RANDOM_NORMAL),
        ]);
        Ok(())
    }
    fn call(&self, ctx: &mut CallCtx, inputs: &[NodeId]) -> Result<Vec<NodeId>> {
        let Some([w, b, u]) = &self.weights else {
            bail!("MySimpleRNN is called before it is built");
        };
        let (w, b, u) = (ctx.weight(w), ctx.weight(b), ctx.weight(u));
        let g = &mut *ctx.graph;
        let shape = g.shape(inputs[0]).clone();
        let (batch, steps, features) = (shape.0[0], shape.0[1], shape.0[2]);
        let mut state: Option<NodeId> = None;
        let mut outputs = Vec::with_capacity(steps);
        for t in 0..steps {
            let x = g.slice(inputs[0], 1, t, t + 1)?;
            let x = g.reshape(x, [batch, features])?;
            let mut z = g.matmul(x, w)?;
            // The post starts from a zero state, whose product with u is zero.
            if let Some(h) = state {
                let carried = g.matmul(h, u)?;
                z = g.add(z, carried)?;
            }
            let z = g.add(z, b)?;
            let h = g.tanh(z)?;
            if self.return_sequences {
                outputs.push(g.reshape(h, [batch, 1, self.units])?);
            }
            state = Some(h);
        }
        Ok(vec![if self.return_sequences {
            g.concat(&outputs, 1)?
        } else {
            state.context("MySimpleRNN needs at least one step")?
        }])
    }
}

struct Args {
    epochs: usize,
    steps: Option<usize>,
    maxlen: usize,
    data_dir: Option<std::path::PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        epochs: 2,
        steps: None,
        maxlen: imdb_simplernn::MAXLEN,
        data_dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--epochs" => a.epochs = value()?.parse()?,
            "--steps" => a.steps = Some(value()?.parse()?),
            "--maxlen" => a.maxlen = value()?.parse()?,
            "--data-dir" => a.data_dir = Some(value()?.into()),
            other => bail!("unknown argument {other}; see the header of this example"),
        }
    }
    Ok(a)
}

/// The reviews cut to their last `maxlen` ids (the data is pre-padded to 500).
fn last_steps(x: &Array, maxlen: usize) -> Result<Array> {
    let width = x.row_len();
    if maxlen > width {
        bail!("--maxlen may be at most {width}");
    }
    let ids: Vec<i32> = x
        .i32s()?
        .chunks(width)
        .flat_map(|row| row[width - maxlen..].iter().copied())
        .collect();
    Array::from_i32([x.samples(), maxlen], ids)
}

fn main() -> Result<()> {
    let a = args()?;
    let data = imdb_simplernn::load_data(&resolve_imdb_dir(a.data_dir.as_deref())?)?;
    let x = last_steps(&data.x_train, a.maxlen)?;
    let batch = 64;

    let mut model = Sequential::from_input(Input::typed([a.maxlen], DType::I32));
    model.add(MyEmbedding {
        input_unit: imdb_simplernn::NUM_WORDS,
        output_unit: 32,
        table: None,
    })?;
    model.add(MySimpleRnn {
        units: 32,
        return_sequences: true,
        weights: None,
    })?;
    model.add(MySimpleRnn {
        units: 32,
        return_sequences: false,
        weights: None,
    })?;
    model.add(MyDense {
        units: 1,
        weights: None,
    })?;
    let mut model: Model = model.build()?;
    model.compile(CompileConfig::new(
        Optimizer::rmsprop(),
        Loss::BinaryCrossentropy,
    ))?;
    let started = Instant::now();
    let ops = model.training_step_ops(batch, &[x.sample_shape()], &[Shape(vec![1])])?;
    let compile_s = started.elapsed().as_secs_f64();

    let n = x.samples();
    let mut order: Vec<usize> = (0..n).collect();
    let mut step_seconds = Vec::new();
    for epoch in 0..a.epochs {
        // A fixed-seed shuffle per epoch (the post shuffles with a buffer of 1024).
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ epoch as u64;
        for i in (1..n).rev() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            order.swap(i, (state >> 33) as usize % (i + 1));
        }
        let mut running = RunningLogs::new();
        let mut last_loss = f32::NAN;
        let batches = n / batch;
        for k in 0..a.steps.map_or(batches, |s| s.min(batches)) {
            let rows = &order[k * batch..(k + 1) * batch];
            let width = x.row_len();
            let ids = x.i32s()?;
            let xb: Vec<i32> = rows
                .iter()
                .flat_map(|&r| ids[r * width..(r + 1) * width].iter().copied())
                .collect();
            let labels = data.y_train.f32s()?;
            let yb: Vec<f32> = rows.iter().map(|&r| labels[r]).collect();
            let (xb, yb) = (
                Array::from_i32([batch, a.maxlen], xb)?,
                Array::new([batch, 1], yb)?,
            );
            let t0 = Instant::now();
            let gradients = model.compute_gradients(&[&xb], &[&yb])?;
            model.apply_gradients(gradients)?;
            let logs = model.latest_logs()?;
            step_seconds.push(t0.elapsed().as_secs_f64());
            last_loss = logs[0].1;
            running.update(&logs, batch);
        }
        let acc = running.result().get(1).map_or(f32::NAN, |v| v.1);
        println!(
            "Epoch: {epoch} , Loss from last epoch: {last_loss:.3} , Total running accuracy so \
             far: {acc:.3}"
        );
    }
    let mut sorted = step_seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let median_ms = sorted.get(sorted.len() / 2).map_or(f64::NAN, |s| s * 1e3);
    println!(
        "{{\"maxlen\": {}, \"batch\": {batch}, \"ops\": {ops}, \"compile_s\": {compile_s:.4}, \
         \"step_ms_median\": {median_ms:.1}, \"steps\": {}}}",
        a.maxlen,
        step_seconds.len()
    );
    Ok(())
}
