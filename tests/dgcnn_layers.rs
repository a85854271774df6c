//! The layers workload 1 adds, against plain loops: BatchNormalization's moving statistics
//! after a training step (the biased batch variance, mask-weighted moments with a mask) and its
//! inference output, and SpatialDropout1D's whole-channel drops. SGD with learning rate 0 keeps
//! gamma and beta at 1 and 0.

use wgtrain::cpu::CpuBackend;
use wgtrain::graph::DType;
use wgtrain::nn::{
    Array, BatchNormalization, CompileConfig, Embedding, Input, LayerExt, Loss, Model, Optimizer,
};

fn sgd_frozen() -> Optimizer {
    Optimizer::Sgd {
        learning_rate: 0.0,
        momentum: 0.0,
        nesterov: false,
    }
}

fn compiled(mut m: Model) -> Model {
    m.compile_on(
        CompileConfig::new(sgd_frozen(), Loss::MeanSquaredError),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    m
}

fn close(got: &[f32], want: &[f64], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= 1e-5 * w.abs().max(1.0),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

#[test]
fn moving_statistics_and_inference_follow_keras_formulas() {
    let (n, l, c) = (3, 4, 2);
    let x = Input::new([l, c]);
    let y = BatchNormalization::new().apply(&x).unwrap();
    let mut m = compiled(Model::new(&[&x], &[&y]).unwrap());
    let data: Vec<f32> = (0..n * l * c)
        .map(|i| ((i * 7 % 13) as f32) * 0.3 - 1.0)
        .collect();
    let xa = Array::new([n, l, c], data.clone()).unwrap();
    let target = Array::new([n, l, c], vec![0.0; n * l * c]).unwrap();
    m.train_on_batch(&[&xa], &[&target]).unwrap();
    let rows = (n * l) as f64;
    let mean: Vec<f64> = (0..c)
        .map(|ch| {
            data.iter()
                .skip(ch)
                .step_by(c)
                .map(|&v| v as f64)
                .sum::<f64>()
                / rows
        })
        .collect();
    let var: Vec<f64> = (0..c)
        .map(|ch| {
            let s: f64 = data
                .iter()
                .skip(ch)
                .step_by(c)
                .map(|&v| (v as f64 - mean[ch]).powi(2))
                .sum();
            s / rows
        })
        .collect();
    let w = m.get_weights().unwrap();
    let moving_mean: Vec<f64> = mean.iter().map(|v| 0.01 * v).collect();
    let moving_var: Vec<f64> = var.iter().map(|v| 0.99 + 0.01 * v).collect();
    close(w[2].f32s().unwrap(), &moving_mean, "moving_mean");
    close(w[3].f32s().unwrap(), &moving_var, "moving_variance");
    let pred = m.predict(&[&xa], n).unwrap();
    let want: Vec<f64> = data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = i % c;
            (v as f64 - moving_mean[ch]) / (moving_var[ch] + 1e-3).sqrt()
        })
        .collect();
    close(pred[0].f32s().unwrap(), &want, "inference output");
}

#[test]
fn a_mask_weights_the_moments() {
    let (n, l, c) = (2, 5, 3);
    let ids = Input::typed([l], DType::I32);
    let e = Embedding::new(10, c).mask_zero(true).apply(&ids).unwrap();
    let y = BatchNormalization::new().apply(&e).unwrap();
    let mut m = compiled(Model::new(&[&ids], &[&y]).unwrap());
    let id_values = vec![3, 1, 0, 0, 0, 2, 9, 4, 7, 0];
    let xa = Array::from_i32([n, l], id_values.clone()).unwrap();
    let table = m.get_weights().unwrap()[0].f32s().unwrap().to_vec();
    let target = Array::new([n, l, c], vec![0.0; n * l * c]).unwrap();
    m.train_on_batch(&[&xa], &[&target]).unwrap();
    let kept: Vec<usize> = id_values
        .iter()
        .filter(|&&i| i != 0)
        .map(|&i| i as usize)
        .collect();
    let count = kept.len() as f64 + 1e-7;
    let mean: Vec<f64> = (0..c)
        .map(|ch| kept.iter().map(|&r| table[r * c + ch] as f64).sum::<f64>() / count)
        .collect();
    let var: Vec<f64> = (0..c)
        .map(|ch| {
            kept.iter()
                .map(|&r| (table[r * c + ch] as f64 - mean[ch]).powi(2))
                .sum::<f64>()
                / count
        })
        .collect();
    let w = m.get_weights().unwrap();
    close(
        w[3].f32s().unwrap(),
        &mean.iter().map(|v| 0.01 * v).collect::<Vec<_>>(),
        "masked moving_mean",
    );
    close(
        w[4].f32s().unwrap(),
        &var.iter().map(|v| 0.99 + 0.01 * v).collect::<Vec<_>>(),
        "masked moving_variance",
    );
}

/// SpatialDropout1D drops whole channels of each sample: with inputs of ones and a zero target,
/// a step's loss is 4x the kept fraction (kept values are 1 / (1 - 0.5) = 2), which comes in
/// whole channels (multiples of 1 / (samples * channels)), never single values.
#[test]
fn spatial_dropout_drops_whole_channels() {
    use wgtrain::nn::SpatialDropout1D;
    let (n, l, c) = (2, 7, 3);
    let x = Input::new([l, c]);
    let y = SpatialDropout1D::new(0.5).apply(&x).unwrap();
    let mut m = compiled(Model::new(&[&x], &[&y]).unwrap());
    let ones = Array::new([n, l, c], vec![1.0; n * l * c]).unwrap();
    let zeros = Array::new([n, l, c], vec![0.0; n * l * c]).unwrap();
    let mut kept = Vec::new();
    for _ in 0..12 {
        let loss = m.train_on_batch(&[&ones], &[&zeros]).unwrap()[0].1;
        let channels = loss / 4.0 * (n * c) as f32;
        assert!(
            (channels - channels.round()).abs() < 1e-4,
            "loss {loss}: {channels} channels kept is not a whole number"
        );
        kept.push(channels.round() as usize);
    }
    assert!(
        kept.iter().any(|&k| k > 0 && k < n * c),
        "every step kept all or none: {kept:?}"
    );
    let pred = m.predict(&[&ones], n).unwrap();
    assert!(
        pred[0].f32s().unwrap().iter().all(|&v| v == 1.0),
        "inference is the identity"
    );
}
