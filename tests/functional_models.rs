//! The functional-API guide's graph models on images (inception block, residual blocks, a base
//! model shared as a layer): Keras' parameter counts, and what a model used as a layer must do:
//! one set of weights for every application, starting from the model's values, errors that
//! name the model for inputs it cannot take, and model files that keep it.

mod harness;
#[allow(dead_code)]
#[path = "../examples/models/vision_blocks.rs"]
mod vision_blocks;

use wgtrain::cpu::CpuBackend;
use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Array, CompileConfig, Dense, FitConfig, Input, LayerExt, Loss, Model, Optimizer,
};

fn compiled(mut m: Model) -> Model {
    m.compile_on(
        CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    m
}

#[test]
fn the_guide_models_have_keras_parameter_counts() {
    // scripts/keras_reference/param_counts.py (Keras 3.15.1).
    for (name, build, keras) in [
        (
            "inception-block",
            vision_blocks::inception_block as fn() -> _,
            162_762,
        ),
        ("residual-block", vision_blocks::residual_block, 673_802),
        ("shared-vision", vision_blocks::shared_vision, 19_521),
    ] {
        let m: Model = build().unwrap();
        assert_eq!(m.count_params(), keras, "{name}");
    }
    let m = vision_blocks::inception_block().unwrap();
    assert_eq!(m.outputs()[0].shape_text(), "(None, 10)");
}

#[test]
fn the_inception_block_trains_on_its_generated_images() {
    let mut m = vision_blocks::inception_block().unwrap();
    m.compile_on(
        CompileConfig::new(Optimizer::adam(), Loss::CategoricalCrossentropy),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    let (x, y) = vision_blocks::random_images(16, 0).unwrap();
    let h = m
        .fit(
            &[&x],
            &[&y],
            &FitConfig {
                epochs: 6,
                batch_size: 16,
                verbose: Verbosity::Silent,
                ..Default::default()
            },
        )
        .unwrap();
    let losses = &h.history["loss"];
    assert!(
        losses.last().unwrap() < &(0.95 * losses[0]),
        "the loss on 16 images falls: {losses:?}"
    );
}

fn images(n: usize, seed: usize) -> Array {
    let v = (0..n * 64 * 64 * 3)
        .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 1000.0)
        .collect();
    Array::new([n, 64, 64, 3], v).unwrap()
}

#[test]
fn a_model_used_as_a_layer_shares_one_set_of_weights() {
    let mut base = compiled(vision_blocks::vision_base().unwrap());
    let base_values = base.weight_values().unwrap();
    let shared = base.as_layer().unwrap();
    let a = Input::named([64, 64, 3], "a");
    let b = Input::named([64, 64, 3], "b");
    let (fa, fb) = (shared.apply(&a).unwrap(), shared.apply(&b).unwrap());
    let m = Model::new(&[&a, &b], &[&fa, &fb]).unwrap();
    assert_eq!(m.layers().len(), 1, "one layer, called twice");
    assert_eq!(m.count_params(), base.count_params());
    let mut m = compiled(m);
    // The model built on the base starts from the base's values, not fresh ones.
    assert_eq!(m.weight_values().unwrap(), base_values);
    let x = images(3, 1);
    let out = m.predict(&[&x, &x], 3).unwrap();
    assert_eq!(out[0], out[1], "both applications read the same weights");
    assert_eq!(out[0], base.predict(&[&x], 3).unwrap()[0]);
}

#[test]
fn training_through_both_applications_moves_the_shared_weights_once() {
    let mut m = compiled(vision_blocks::shared_vision().unwrap());
    let before = m.weight_values().unwrap();
    let (x, y) = vision_blocks::random_pairs(8, 0).unwrap();
    let h = m
        .fit(
            &[&x[0], &x[1]],
            &[&y],
            &FitConfig {
                epochs: 2,
                batch_size: 4,
                verbose: Verbosity::Silent,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(h.last("loss").unwrap().is_finite());
    let after = m.weight_values().unwrap();
    assert_eq!(
        after.len(),
        before.len(),
        "no weight copied per application"
    );
    assert!(
        after.iter().zip(&before).all(|(a, b)| a != b),
        "every weight trained"
    );
}

#[test]
fn a_base_model_takes_back_the_weights_trained_through_it() {
    let mut base = compiled(vision_blocks::vision_base().unwrap());
    let shared = base.as_layer().unwrap();
    let (a, b) = (Input::new([64, 64, 3]), Input::new([64, 64, 3]));
    let (fa, fb) = (shared.apply(&a).unwrap(), shared.apply(&b).unwrap());
    let joined = wgtrain::nn::Concatenate::new()
        .apply_many(&[&fa, &fb])
        .unwrap()
        .remove(0);
    let out = Dense::new(1)
        .activation(ActivationKind::Sigmoid)
        .apply(&joined)
        .unwrap();
    let mut outer = compiled(Model::new(&[&a, &b], &[&out]).unwrap());
    let (x, y) = vision_blocks::random_pairs(8, 1).unwrap();
    let config = FitConfig {
        epochs: 1,
        batch_size: 8,
        verbose: Verbosity::Silent,
        ..Default::default()
    };
    outer.fit(&[&x[0], &x[1]], &[&y], &config).unwrap();
    let trained = outer.weight_values().unwrap();
    assert_ne!(base.weight_values().unwrap(), trained[..4].to_vec());
    assert_eq!(base.copy_shared_weights_from(&mut outer).unwrap(), 4);
    assert_eq!(base.weight_values().unwrap(), trained[..4].to_vec());
    // The base now computes the features the trained model reads.
    let probe = Model::new(&[&a, &b], &[&fa]).unwrap();
    let mut probe = compiled(probe);
    probe.copy_shared_weights_from(&mut outer).unwrap();
    let image = images(2, 5);
    assert_eq!(
        base.predict(&[&image], 2).unwrap(),
        probe.predict(&[&image, &image], 2).unwrap()
    );
}

#[test]
fn a_model_used_as_a_layer_trains_on_the_gpu_as_on_the_cpu() {
    let Some(gpu) = harness::gpu_backend() else {
        return;
    };
    let (x, y) = vision_blocks::random_pairs(4, 2).unwrap();
    let config = FitConfig {
        epochs: 2,
        batch_size: 4,
        verbose: Verbosity::Silent,
        ..Default::default()
    };
    let mut cpu = compiled(vision_blocks::shared_vision().unwrap());
    let mut on_gpu = vision_blocks::shared_vision().unwrap();
    on_gpu
        .compile_on(
            CompileConfig::new(Optimizer::rmsprop(), Loss::BinaryCrossentropy),
            Box::new(gpu),
        )
        .unwrap();
    on_gpu
        .set_weight_values(cpu.weight_values().unwrap())
        .unwrap();
    let want = cpu.fit(&[&x[0], &x[1]], &[&y], &config).unwrap();
    let got = on_gpu.fit(&[&x[0], &x[1]], &[&y], &config).unwrap();
    for (g, w) in got.history["loss"].iter().zip(&want.history["loss"]) {
        assert!((g - w).abs() <= 1e-4 * w.abs(), "GPU loss {g} vs CPU {w}");
    }
}

#[test]
fn a_model_applied_to_the_wrong_shape_is_an_error_naming_it() {
    let shared = vision_blocks::vision_base().unwrap().as_layer().unwrap();
    let small = Input::new([32, 32, 3]);
    let err = format!("{:#}", shared.apply(&small).err().expect("refused"));
    assert!(
        err.contains("expects input 0 ('image') of shape (None, 64, 64, 3)"),
        "{err}"
    );
    assert!(err.contains("(None, 32, 32, 3)"), "{err}");
    let err = format!(
        "{:#}",
        shared
            .apply_many(&[&Input::new([64, 64, 3]), &Input::new([64, 64, 3])])
            .err()
            .expect("refused")
    );
    assert!(err.contains("takes 1 input(s), got 2"), "{err}");
}

#[test]
fn a_model_file_keeps_a_model_used_as_a_layer() {
    let original = vision_blocks::shared_vision().unwrap();
    let text = original.to_json().unwrap();
    let rebuilt = Model::from_json(&text).unwrap();
    assert_eq!(rebuilt.to_json().unwrap(), text);
    assert_eq!(rebuilt.count_params(), original.count_params());
    let (mut original, mut rebuilt) = (compiled(original), compiled(rebuilt));
    rebuilt
        .set_weight_values(original.weight_values().unwrap())
        .unwrap();
    let (a, b) = (images(2, 3), images(2, 4));
    assert_eq!(
        rebuilt.predict(&[&a, &b], 2).unwrap(),
        original.predict(&[&a, &b], 2).unwrap()
    );
}

#[test]
fn a_sequential_model_can_be_a_layer_too() {
    let mut stack = wgtrain::nn::Sequential::new([4]);
    stack
        .add(Dense::new(3).activation(ActivationKind::Relu))
        .unwrap();
    let mut stack = stack.build().unwrap();
    let layer = stack.as_layer().unwrap();
    assert_eq!(layer.class_name(), "Sequential");
    let x = Input::new([4]);
    let y = layer.apply(&x).unwrap();
    let out = Dense::new(1).apply(&y).unwrap();
    assert_eq!(Model::new(&[&x], &[&out]).unwrap().count_params(), 15 + 4);
}
