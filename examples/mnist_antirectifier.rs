//! Trains the Antirectifier model on MNIST, like the Keras example, on a hardware GPU when
//! there is one and on the CPU otherwise.
//! Run: cargo run --release --example mnist_antirectifier -- [DATA_DIR]

#[path = "models/antirectifier.rs"]
mod antirectifier;

use anyhow::Result;
use std::path::PathBuf;
use wgtrain::cpu::CpuBackend;
use wgtrain::data::resolve_mnist_dir;
use wgtrain::gpu::{AdapterChoice, GpuBackend};
use wgtrain::graph::Backend;
use wgtrain::nn::{CompileConfig, FitConfig, Loss, Optimizer, Validation};

fn main() -> Result<()> {
    let dir = resolve_mnist_dir(std::env::args().nth(1).map(PathBuf::from).as_deref())?;
    let d = antirectifier::load_data(&dir)?;
    let (x_train, y_train, x_test, y_test) = (&d.x_train, &d.y_train, &d.x_test, &d.y_test);

    let mut model = antirectifier::build_model()?;
    model.summary();
    let backend: Box<dyn Backend> = match GpuBackend::new(AdapterChoice::Gpu) {
        Ok(gpu) => Box::new(gpu),
        Err(e) => {
            eprintln!("{e}\ntraining on the CPU");
            Box::new(CpuBackend::new())
        }
    };
    model.compile_on(
        CompileConfig::new(Optimizer::rmsprop(), Loss::CategoricalCrossentropy),
        backend,
    )?;
    model.fit(
        &[x_train],
        &[y_train],
        &FitConfig {
            epochs: 40,
            batch_size: 128,
            validation: Validation::Data(&[x_test], &[y_test]),
            ..Default::default()
        },
    )?;
    let scores = model.evaluate(&[x_test], &[y_test], 128)?;
    println!("test: {scores:?}");
    Ok(())
}
