//! The embedded default: a classifier learns three interleaved spirals generated in code.

use anyhow::Result;
use wgtrain::data::synthetic::spirals;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    set_random_seed, Array, CompileConfig, Dense, FitConfig, Loss, Optimizer, Sequential,
    Validation,
};

pub fn run(epochs: usize, seed: u64) -> Result<()> {
    let (points, labels) = spirals(1000, 3, 0.08, seed);
    let n = labels.len();
    let x = Array::new([n, 2], points)?;
    let y = Array::new([n, 1], labels.iter().map(|&l| l as f32).collect())?;

    set_random_seed(seed);
    let mut model = Sequential::new([2]);
    model.add(Dense::new(64).activation(ActivationKind::Relu))?;
    model.add(Dense::new(64).activation(ActivationKind::Relu))?;
    model.add(Dense::new(3).activation(ActivationKind::Softmax))?;
    let mut model = model.build()?;
    println!("Three interleaved spirals, {n} points: learning to tell the arms apart.");
    model.summary();
    model.compile(CompileConfig::new(
        Optimizer::Adam {
            learning_rate: 0.01,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        },
        Loss::SparseCategoricalCrossentropy,
    ))?;
    let history = model.fit(
        &[&x],
        &[&y],
        &FitConfig {
            epochs,
            batch_size: 32,
            seed: Some(seed),
            validation: Validation::Split(0.2),
            ..Default::default()
        },
    )?;
    let first = history.history["val_accuracy"]
        .first()
        .copied()
        .unwrap_or(0.0);
    let last = history.last("val_accuracy").unwrap_or(0.0);
    println!("validation accuracy: {first:.4} after epoch 1 -> {last:.4} after epoch {epochs} (chance is 0.3333)");
    Ok(())
}
