//! Reference workload 3, the functional-API guide's graphs, on the CPU: the two-input QA model
//! fed by input name with its loss curves drawn to `qa_curves.svg`; the three-headed posts model
//! with losses and loss weights by output name; a convolutional base model applied as one layer
//! to two images; one LSTM shared by two sequences whose length the data decides (trained on 40
//! steps, evaluated on 60). Every model trains on generated data of the guide's shapes.
//! Run: cargo run --release --example functional_api -- [EPOCHS]

#[path = "models/functional_qa.rs"]
mod functional_qa;
#[allow(dead_code)]
#[path = "models/multi_output.rs"]
mod multi_output;
#[allow(dead_code)]
#[path = "models/siamese_lstm.rs"]
mod siamese_lstm;
#[allow(dead_code)]
#[path = "models/vision_blocks.rs"]
mod vision_blocks;

use anyhow::Result;
use wgtrain::nn::{CompileConfig, FitConfig, Loss, Model, Optimizer};

fn compiled(mut model: Model, config: CompileConfig) -> Result<Model> {
    model.summary();
    model.compile(config)?;
    Ok(model)
}

fn main() -> Result<()> {
    let epochs: usize = match std::env::args().nth(1) {
        Some(e) => e.parse()?,
        None => 2,
    };
    let fit = FitConfig {
        epochs,
        batch_size: 32,
        ..Default::default()
    };

    // Inputs by name; the History drawn as the guide's figures.
    let (x, y) = functional_qa::random_data(functional_qa::SAMPLES, 0)?;
    let mut qa = compiled(
        functional_qa::build_model()?,
        CompileConfig::new(Optimizer::rmsprop(), Loss::CategoricalCrossentropy),
    )?;
    let inputs = qa.inputs_by_name(&[("text", &x[0]), ("question", &x[1])])?;
    let history = qa.fit(&inputs, &[&y], &fit)?;
    history.plot(std::path::Path::new("qa_curves.svg"))?;
    println!("loss and accuracy per epoch drawn to qa_curves.svg");

    // Three heads, losses and loss weights by output name; each head's loss in the logs.
    let (posts, [age, income, gender]) =
        multi_output::random_data(256, 1000, multi_output::MAXLEN, 0)?;
    let mut heads = compiled(multi_output::build(1000)?, multi_output::compile_config())?;
    let targets =
        heads.targets_by_name(&[("age", &age), ("income", &income), ("gender", &gender)])?;
    heads.fit(&[&posts], &targets, &fit)?;

    // A model used as a layer: one set of weights for both images.
    let (pairs, same) = vision_blocks::random_pairs(128, 0)?;
    let mut vision = compiled(
        vision_blocks::shared_vision()?,
        CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
    )?;
    vision.fit(&[&pairs[0], &pairs[1]], &[&same], &fit)?;

    // Sequences of any length: a plan per length.
    let (train, labels) = siamese_lstm::random_pairs(512, 40, 0)?;
    let (test, test_labels) = siamese_lstm::random_pairs(128, 60, 1)?;
    let mut siamese = compiled(
        siamese_lstm::build_model()?,
        CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
    )?;
    siamese.fit(&[&train[0], &train[1]], &[&labels], &fit)?;
    let logs = siamese.evaluate(&[&test[0], &test[1]], &[&test_labels], 32)?;
    println!("siamese LSTM on 60-step pairs: {logs:?}");
    Ok(())
}
