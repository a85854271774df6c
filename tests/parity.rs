//! Every backend under test against the single-threaded CPU reference: forward values, the loss
//! and every gradient of each op case, and optimizer updates.

mod harness;

use harness::{
    backends_under_test, differentiate, leaf, reference_backend, Init, OpCase, Outcome, Rng, ANY,
};
use wgtrain::graph::optim::OptimizerClock;
use wgtrain::graph::{
    gradients, Backend, Conv1dGeometry, Conv2dGeometry, Feed, Graph, Op, OptimizerSpec, Padding,
    ParamId, Plan, PlanOutputs, PoolKind, StepArgs, Update,
};

/// Allowed max |got - reference| / max(1, max |reference|).
const TOL: f32 = 1e-5;

/// max |got - want| / max(1, max |want|); infinite when the lengths differ or a value is NaN.
fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    if got.len() != want.len() {
        return f32::INFINITY;
    }
    let mut diff = 0.0f32;
    let mut scale = 1.0f32;
    for (&g, &w) in got.iter().zip(want) {
        if g.is_nan() || w.is_nan() {
            return f32::INFINITY;
        }
        diff = diff.max((g - w).abs());
        scale = scale.max(w.abs());
    }
    diff / scale
}

/// The worst disagreement seen, and every one over the tolerance.
#[derive(Default)]
struct Tally {
    compared: usize,
    worst: Option<(f32, String)>,
    failures: Vec<String>,
}

impl Tally {
    fn compare(&mut self, what: String, got: &[f32], want: &[f32]) {
        let err = relative_error(got, want);
        self.compared += 1;
        if err > TOL {
            self.failures
                .push(format!("{what}: relative error {err:e}"));
        }
        if self.worst.as_ref().is_none_or(|w| err > w.0) {
            self.worst = Some((err, what));
        }
    }

    fn outcome(&mut self, backend: &str, case: &str, got: &Outcome, want: &Outcome) {
        let at = |what: &str| format!("{backend} / {case} / {what}");
        self.compare(at("loss"), &[got.loss], &[want.loss]);
        self.compare(at("output"), &got.output, &want.output);
        assert_eq!(got.grads.len(), want.grads.len(), "{}", at("gradients"));
        for (p, (g, w)) in got.grads.iter().zip(&want.grads).enumerate() {
            self.compare(at(&format!("gradient of param {p}")), g, w);
        }
    }

    fn assert_passed(&self) {
        assert!(self.compared > 0, "nothing was compared");
        let (err, what) = self.worst.clone().unwrap_or_default();
        eprintln!("{} comparisons; worst: {what} ({err:e})", self.compared);
        assert!(
            self.failures.is_empty(),
            "{} of {} comparisons exceed {TOL:e}; worst: {what} ({err:e})\n{}",
            self.failures.len(),
            self.compared,
            self.failures.join("\n")
        );
    }
}

fn check_parity(cases: Vec<OpCase>) {
    assert!(!cases.is_empty());
    let mut tally = Tally::default();
    let mut backends = backends_under_test();
    for case in &cases {
        let want = differentiate(&mut reference_backend(), case);
        for (name, backend) in backends.iter_mut() {
            let got = differentiate(backend.as_mut(), case);
            tally.outcome(name, &case.name, &got, &want);
        }
    }
    tally.assert_passed();
}

#[test]
fn every_op_case_matches_the_reference() {
    check_parity(harness::all_cases());
}

#[test]
fn large_op_cases_on_threaded_kernels_match_the_reference() {
    check_parity(harness::large_cases());
}

/// Convolutions, gathers and scatters at shapes that take the GPU kernels' tiling, blocking and
/// splitting paths: several output tiles, products split over k into partial sums (in chunks
/// for a hardware GPU's parallelism, and past the software adapter's loop budget), and
/// scatter-adds whose positions span several dispatches.
fn large_gather_and_conv_cases() -> Vec<OpCase> {
    let conv =
        |name: &str, batch: usize, len: usize, cin: usize, cout: usize, geo: Conv1dGeometry| {
            let k = geo.kernel;
            OpCase::new(
                format!("large conv1d {name} [{batch}, {len}, {cin}] -> {cout}"),
                vec![
                    leaf(&[batch, len, cin], ANY),
                    leaf(&[k, cin, cout], Init::Uniform(-0.2, 0.2)),
                ],
                move |g, p| g.conv1d(p[0], p[1], geo),
            )
        };
    let geo = |len, k, s, d, pad| Conv1dGeometry::new(len, k, s, d, pad).expect("a geometry");
    let filter_geo = geo(500, 3, 1, 1, Padding::Same);
    let long_geo = geo(70_002, 3, 1, 1, Padding::Valid);
    let inception =
        Conv2dGeometry::new([32, 32], [3, 3], [2, 2], [1, 1], Padding::Same).expect("a geometry");
    let pool =
        Conv2dGeometry::new([33, 31], [3, 3], [2, 2], [1, 1], Padding::Same).expect("a geometry");
    vec![
        conv(
            "valid k3",
            4,
            100,
            50,
            64,
            geo(100, 3, 1, 1, Padding::Valid),
        ),
        conv(
            "same k5 dilation 2",
            3,
            64,
            20,
            70,
            geo(64, 5, 1, 2, Padding::Same),
        ),
        conv(
            "causal k3 stride 2",
            2,
            81,
            33,
            17,
            geo(81, 3, 2, 1, Padding::Causal),
        ),
        // The filter gradient sums over batch * out_len = 4000 products: split over k on GPUs.
        OpCase::new(
            "large conv1d_backward_filter same k3 [8, 500, 16] -> 24",
            vec![
                leaf(&[8, 500, 16], ANY),
                leaf(&[8, filter_geo.out_len, 24], ANY),
            ],
            move |g, p| g.push(Op::Conv1dBackwardFilter(filter_geo), &[p[0], p[1]]),
        ),
        // 70000 products in one sum: past the software adapter's loop budget.
        OpCase::new(
            "large conv1d_backward_filter valid k3 [1, 70002, 2] -> 3",
            vec![
                leaf(&[1, 70_002, 2], Init::Integers(-2, 2)),
                leaf(&[1, long_geo.out_len, 3], Init::Integers(-2, 2)),
            ],
            move |g, p| g.push(Op::Conv1dBackwardFilter(long_geo), &[p[0], p[1]]),
        ),
        OpCase::new(
            "large conv1d_backward_data same k3 stride 2 [4, 50, 40] <- 3",
            vec![
                leaf(&[4, 50, 40], ANY),
                leaf(&[3, 3, 40], Init::Uniform(-0.3, 0.3)),
            ],
            |g, p| {
                let geo = Conv1dGeometry::new(100, 3, 2, 1, Padding::Same).expect("a geometry");
                g.push(Op::Conv1dBackwardData(geo), &[p[0], p[1]])
            },
        ),
        // Inception-like shapes: several output tiles, and a filter gradient summing over
        // 4 * 16 * 16 = 1024 products, split over k on GPUs.
        OpCase::new(
            "large conv2d same 3x3 stride 2 [4, 32, 32, 24] -> 40",
            vec![
                leaf(&[4, 32, 32, 24], ANY),
                leaf(&[3, 3, 24, 40], Init::Uniform(-0.2, 0.2)),
            ],
            move |g, p| g.conv2d(p[0], p[1], inception),
        ),
        OpCase::new(
            "large max and average pooling 3x3 stride 2 same [4, 33, 31, 16]",
            vec![leaf(&[4, 33, 31, 16], Init::Spaced(-1.0, 1.0))],
            move |g, p| {
                let m = g.pool2d(p[0], PoolKind::Max, pool)?;
                let a = g.pool2d(p[0], PoolKind::Average, pool)?;
                g.add(m, a)
            },
        ),
        OpCase::new(
            "large gather [300, 16] by ids [4, 250]",
            vec![leaf(&[300, 16], ANY)],
            |g, p| g.gather(p[0], p[1]),
        )
        .with_inputs(vec![leaf(&[4, 250], Init::Ids(300))]),
        OpCase::new(
            "large scatter_add_rows [1000, 40] into 300 rows",
            vec![leaf(&[1000, 40], ANY)],
            |g, p| g.scatter_add_rows(p[0], p[1], 300),
        )
        .with_inputs(vec![leaf(&[1000], Init::Ids(300))]),
        // 70000 positions: more than one software-adapter dispatch walks.
        OpCase::new(
            "large gather [50, 2] by ids [70000]",
            vec![leaf(&[50, 2], ANY)],
            |g, p| g.gather(p[0], p[1]),
        )
        .with_inputs(vec![leaf(&[70_000], Init::Ids(50))]),
    ]
}

#[test]
fn large_gather_and_conv_cases_match_the_reference() {
    check_parity(large_gather_and_conv_cases());
}

const STEPS: u64 = 3;
/// The param of the optimizer tests: past the threaded update kernel's threshold.
const SHAPE: [usize; 2] = [256, 256];
const N: usize = SHAPE[0] * SHAPE[1];

/// The initial param and the loss weights of the optimizer tests.
fn train_data() -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(5);
    (rng.values(N, -1.0, 1.0), rng.values(N, -1.0, 1.0))
}

/// A few optimizer steps on `loss = sum(p^2 * w)`; returns the param after each step.
fn train(backend: &mut dyn Backend, spec: &OptimizerSpec) -> Vec<Vec<f32>> {
    let (init, weights) = train_data();

    let mut g = Graph::new();
    let p = g.param(ParamId(0), SHAPE);
    let w = g.input(SHAPE);
    let sq = g.square(p).unwrap();
    let prod = g.mul(sq, w).unwrap();
    let flat = g.reshape(prod, [N]).unwrap();
    let loss = g.sum(flat, 0, false).unwrap();
    let grad = gradients(&mut g, loss, &[p]).unwrap()[0].unwrap();
    let outputs = PlanOutputs {
        loss: Some(loss),
        ..Default::default()
    };
    let updates = vec![Update::new(ParamId(0), grad)];
    let plan = Plan::new(g, outputs, updates, Some(spec.clone()));

    backend.set_param(ParamId(0), &init).unwrap();
    backend.reset_optimizer();
    let id = backend.compile(plan).unwrap();
    let mut clock = OptimizerClock::default();
    let mut after = Vec::new();
    for step in 0..STEPS {
        let args = StepArgs {
            seed: 1,
            step,
            optimizer: clock.tick(spec, spec.learning_rate()),
            ..Default::default()
        };
        backend.run(id, &[Feed::F32(&weights)], &args).unwrap();
        let mut p = vec![0.0; N];
        backend.read_param(ParamId(0), &mut p).unwrap();
        after.push(p);
    }
    after
}

#[test]
fn optimizer_updates_match_the_reference() {
    let specs = [
        OptimizerSpec::sgd(),
        OptimizerSpec::Sgd {
            learning_rate: 0.01,
            momentum: 0.9,
            nesterov: true,
        },
        OptimizerSpec::rmsprop(),
        OptimizerSpec::RmsProp {
            learning_rate: 1e-3,
            rho: 0.9,
            momentum: 0.5,
            epsilon: 1e-7,
        },
        OptimizerSpec::adam(),
        OptimizerSpec::adamw(),
        OptimizerSpec::nadam(),
    ];
    let mut tally = Tally::default();
    for spec in &specs {
        let want = train(&mut reference_backend(), spec);
        assert_ne!(want[0], want[2], "{spec:?} does not move the param");
        for (name, mut backend) in backends_under_test() {
            let got = train(backend.as_mut(), spec);
            for (step, (g, w)) in got.iter().zip(&want).enumerate() {
                tally.compare(format!("{name} / {spec:?} / step {step}"), g, w);
            }
        }
    }
    tally.assert_passed();
}

/// The same steps as `train`, as plain loops over the whole param.
fn plain_loop(spec: &OptimizerSpec) -> Vec<Vec<f32>> {
    let (mut p, w) = train_data();
    let (mut s0, mut s1) = (vec![0.0f32; N], vec![0.0f32; N]);
    let mut clock = OptimizerClock::default();
    let mut after = Vec::new();
    for _ in 0..STEPS {
        let s = clock.tick(spec, spec.learning_rate());
        let lr = s[0];
        for i in 0..N {
            let g = 2.0 * p[i] * w[i];
            match *spec {
                OptimizerSpec::Sgd {
                    momentum,
                    nesterov: true,
                    ..
                } => {
                    s0[i] = momentum * s0[i] - lr * g;
                    p[i] += momentum * s0[i] - lr * g;
                }
                OptimizerSpec::Adam {
                    beta_1,
                    beta_2,
                    epsilon,
                    ..
                } => {
                    s0[i] = beta_1 * s0[i] + (1.0 - beta_1) * g;
                    s1[i] = beta_2 * s1[i] + (1.0 - beta_2) * g * g;
                    p[i] -= s[1] * s0[i] / (s1[i].sqrt() + epsilon);
                }
                _ => unreachable!("plain_loop covers nesterov SGD and Adam"),
            }
        }
        after.push(p.clone());
    }
    after
}

#[test]
fn reference_optimizer_updates_match_plain_loops() {
    let specs = [
        OptimizerSpec::Sgd {
            learning_rate: 0.01,
            momentum: 0.9,
            nesterov: true,
        },
        OptimizerSpec::adam(),
    ];
    let mut tally = Tally::default();
    for spec in &specs {
        let got = train(&mut reference_backend(), spec);
        for (step, (g, w)) in got.iter().zip(&plain_loop(spec)).enumerate() {
            tally.compare(format!("{spec:?} / step {step}"), g, w);
        }
    }
    tally.assert_passed();
}
