//! The guide's multi-output model: Keras' parameter count, and a short run on its random data
//! with the loss weights by name reporting each head under Keras' names.

#[allow(dead_code)]
#[path = "../examples/models/multi_output.rs"]
mod multi_output;

use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::FitConfig;

#[test]
fn the_multi_output_model_has_keras_parameter_count_and_trains() {
    // Keras 3.15: Model(posts, [age, income, gender]).count_params().
    assert_eq!(
        multi_output::build_model().unwrap().count_params(),
        14_146_316
    );

    let (vocabulary, maxlen) = (300, multi_output::MAXLEN);
    let mut m = multi_output::build(vocabulary).unwrap();
    m.compile(multi_output::compile_config()).unwrap();
    let (x, [age, income, gender]) = multi_output::random_data(8, vocabulary, maxlen, 0).unwrap();
    let y = m
        .targets_by_name(&[("gender", &gender), ("age", &age), ("income", &income)])
        .unwrap();
    let h = m
        .fit(
            &[&x],
            &y,
            &FitConfig {
                epochs: 2,
                batch_size: 4,
                verbose: Verbosity::Silent,
                ..Default::default()
            },
        )
        .unwrap();
    for k in [
        "loss",
        "age_loss",
        "income_loss",
        "gender_loss",
        "income_accuracy",
    ] {
        let v = &h.history[k];
        assert_eq!(v.len(), 2, "{k}");
        assert!(v.iter().all(|x| x.is_finite()), "{k}: {v:?}");
    }
    let at = |k: &str| h.history[k][1];
    let weighted = 0.25 * at("age_loss") + at("income_loss") + 10.0 * at("gender_loss");
    assert!(
        (at("loss") - weighted).abs() <= 1e-3 * weighted.abs(),
        "{weighted}"
    );
}
