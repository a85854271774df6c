//! Workload 2 on real IMDB, CPU backend: two stacked SimpleRNN(32) over reviews pre-padded to
//! 500 words learn in one epoch what Keras' first epoch gives here (validation accuracy 0.639
//! on the last 20% of the training data; `../shared/peers/peers.md`). The three-epoch
//! comparison with several seeds on each side is in docs/perf.md.

#[allow(dead_code)]
#[path = "../examples/models/imdb_simplernn.rs"]
mod imdb_simplernn;

mod datasets;

use datasets::imdb_dir;
use wgtrain::cpu::CpuBackend;
use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::{set_random_seed, CompileConfig, FitConfig, Loss, Optimizer, Validation};

#[test]
fn two_simple_rnns_learn_imdb_in_one_epoch() {
    let Some(dir) = imdb_dir() else {
        return;
    };
    let d = imdb_simplernn::load_data(&dir).expect("IMDB loads");
    set_random_seed(1234);
    let mut model = imdb_simplernn::build_model().expect("the model builds");
    assert_eq!(model.count_params(), 324_193, "Keras' parameter count");
    model
        .compile_on(
            CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
            Box::new(CpuBackend::new()),
        )
        .unwrap();
    let history = model
        .fit(
            &[&d.x_train],
            &[&d.y_train],
            &FitConfig {
                epochs: 1,
                batch_size: 128,
                seed: Some(1234),
                validation: Validation::Split(0.2),
                verbose: Verbosity::Silent,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        history.step_loss.len(),
        157,
        "20,000 training reviews in batches of 128"
    );
    let acc = history.last("val_accuracy").expect("validation ran");
    eprintln!("imdb-simplernn: one epoch, val_accuracy {acc}");
    assert!(
        acc >= 0.63,
        "validation accuracy after one epoch {acc} < 0.63 (Keras: 0.639)"
    );
    let classes = model
        .predict_classes(&[&d.x_test.slice_rows(0, 200).unwrap()], 128)
        .unwrap();
    let labels = d.y_test.f32s().unwrap();
    let right = classes
        .iter()
        .zip(labels)
        .filter(|(c, y)| **c == (**y > 0.5) as usize)
        .count();
    assert!(right >= 120, "{right} of 200 test reviews classed right");
}
