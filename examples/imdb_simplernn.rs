//! Reference workload 2 as the post runs it: two stacked SimpleRNN(32) on IMDB reviews (top
//! 10,000 words, pre-padded to 500), RMSprop, batch 128, validated on the last 20% of the
//! training reviews; then the labels of three test reviews beside the classes predicted for
//! them (the post's `predict_classes`). On a hardware GPU when there is one, else the CPU.
//! Run: cargo run --release --example imdb_simplernn -- [EPOCHS] [DATA_DIR]

#[path = "models/imdb_simplernn.rs"]
mod imdb_simplernn;

use anyhow::Result;
use std::path::PathBuf;
use wgtrain::cpu::CpuBackend;
use wgtrain::data::resolve_imdb_dir;
use wgtrain::gpu::{AdapterChoice, GpuBackend};
use wgtrain::graph::Backend;
use wgtrain::nn::{CompileConfig, FitConfig, Loss, Optimizer, Validation};

fn main() -> Result<()> {
    let epochs: usize = match std::env::args().nth(1) {
        Some(e) => e.parse()?,
        None => 10,
    };
    let dir = resolve_imdb_dir(std::env::args().nth(2).map(PathBuf::from).as_deref())?;
    let d = imdb_simplernn::load_data(&dir)?;
    let mut model = imdb_simplernn::build_model()?;
    model.summary();
    let backend: Box<dyn Backend> = match GpuBackend::new(AdapterChoice::Gpu) {
        Ok(gpu) => Box::new(gpu),
        Err(e) => {
            eprintln!("{e}\ntraining on the CPU");
            Box::new(CpuBackend::new())
        }
    };
    model.compile_on(
        CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
        backend,
    )?;
    model.fit(
        &[&d.x_train],
        &[&d.y_train],
        &FitConfig {
            epochs,
            batch_size: 128,
            validation: Validation::Split(0.2),
            ..Default::default()
        },
    )?;
    let first = d.x_test.slice_rows(0, 3)?;
    let labels: Vec<usize> = d.y_test.f32s()?[..3].iter().map(|y| *y as usize).collect();
    println!("{labels:?}");
    println!("{:?}", model.predict_classes(&[&first], 3)?);
    Ok(())
}
