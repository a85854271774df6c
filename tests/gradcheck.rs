//! Every gradient rule against central finite differences of the loss, and forward values of the
//! ops whose kernels a gradient check alone cannot pin down.

mod harness;

use harness::{evaluate, naive_matmul, reference_backend, OpCase, Prepared, Rng, ARGS};
use wgtrain::cpu::kernels::PAR_MIN;
use wgtrain::graph::rng::dropout_scale;
use wgtrain::graph::{AccuracyKind, Backend, BinaryOp, Graph, NodeId, Shape};

/// Central-difference step, unless a case sets its own.
const H: f32 = 1e-2;
/// Allowed |analytic - numeric| relative to max(1, |numeric|).
const TOL: f32 = 2e-2;
/// Elements in the large forward checks: past the CPU kernels' threading threshold.
const LARGE: usize = 2 * PAR_MIN;

/// The finite-difference gradient of the case's loss with respect to every param element.
fn numeric_gradients(prepared: &Prepared, backend: &mut dyn Backend, h: f32) -> Vec<Vec<f32>> {
    let mut params = prepared.params.clone();
    let mut grads = Vec::new();
    for p in 0..params.len() {
        let mut grad = Vec::with_capacity(params[p].len());
        for i in 0..params[p].len() {
            let x = params[p][i];
            params[p][i] = x + h;
            let plus = prepared.loss(backend, &params);
            params[p][i] = x - h;
            let minus = prepared.loss(backend, &params);
            params[p][i] = x;
            grad.push((plus - minus) / (2.0 * h));
        }
        grads.push(grad);
    }
    grads
}

/// The worst disagreement between analytic and numeric gradients, if any is out of tolerance.
fn compare(name: &str, analytic: &[Vec<f32>], numeric: &[Vec<f32>]) -> Result<(), String> {
    let mut worst: Option<(f32, String)> = None;
    for (p, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        let largest = n.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if largest < 1e-3 {
            return Err(format!(
                "{name}: param {p} has a vanishing numeric gradient (max {largest:e}), so the check would be vacuous"
            ));
        }
        for (i, (&a, &n)) in a.iter().zip(n).enumerate() {
            let excess = (a - n).abs() / (TOL * n.abs().max(1.0));
            let excess = if excess.is_nan() {
                f32::INFINITY
            } else {
                excess
            };
            if excess > 1.0 && worst.as_ref().is_none_or(|w| excess > w.0) {
                worst = Some((
                    excess,
                    format!("{name}: param {p} element {i}: analytic {a} vs numeric {n}"),
                ));
            }
        }
    }
    match worst {
        Some((_, message)) => Err(message),
        None => Ok(()),
    }
}

fn gradient_check(case: &OpCase) -> Result<(), String> {
    let mut backend = reference_backend();
    let prepared = Prepared::new(case, &mut backend);
    let analytic = prepared.run(&mut backend, &prepared.params).grads;
    let numeric = numeric_gradients(&prepared, &mut backend, case.difference_step.unwrap_or(H));
    compare(&case.name, &analytic, &numeric)
}

fn check_all(cases: Vec<OpCase>) {
    assert!(!cases.is_empty());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| gradient_check(c).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree with finite differences:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn matmul_gradients_match_finite_differences() {
    check_all(harness::matmul_cases());
}

#[test]
fn broadcasting_binary_gradients_match_finite_differences() {
    check_all(harness::binary_cases());
}

#[test]
fn unary_gradients_match_finite_differences() {
    check_all(harness::unary_cases());
}

#[test]
fn reduction_gradients_match_finite_differences() {
    check_all(harness::reduce_cases());
}

#[test]
fn softmax_and_log_softmax_gradients_match_finite_differences() {
    check_all(harness::softmax_cases());
}

#[test]
fn layout_gradients_match_finite_differences() {
    check_all(harness::layout_cases());
}

#[test]
fn l2_normalize_gradients_match_finite_differences() {
    check_all(harness::l2_normalize_cases());
}

#[test]
fn dropout_gradients_match_finite_differences() {
    check_all(harness::dropout_cases());
}

#[test]
fn gated_mix_gradients_match_finite_differences() {
    check_all(harness::gate_cases());
}

/// The recognized gated mix computes what the ops it replaces compute, forward and backward,
/// on rows past the threading threshold.
#[test]
fn gated_mix_matches_the_tail_as_written() {
    for (gate_half, rate, biased, masked) in [(0, 0.1, true, true), (1, 0.0, false, false)] {
        let params = harness::gate_leaves(&[40, 50], 20, biased, masked);
        let build = |as_written: bool| {
            OpCase::new("gated tail", params.clone(), move |g, p| {
                let out = harness::gated_tail(g, p, gate_half, rate, biased, as_written)?;
                let fused = matches!(g.node(out).op, wgtrain::graph::Op::GatedMix(_));
                assert_eq!(
                    fused, !as_written,
                    "recognized only when not built as written"
                );
                Ok(out)
            })
        };
        let fused = harness::differentiate(&mut wgtrain::cpu::CpuBackend::new(), &build(false));
        let written = harness::differentiate(&mut reference_backend(), &build(true));
        assert_close("gated mix output", &fused.output, &written.output, 1e-6);
        for (k, (f, w)) in fused.grads.iter().zip(&written.grads).enumerate() {
            if biased && k == 2 {
                // The bias's gradient sums 2000 rows of dh: the as-written plan's running f32
                // sum drifts about 1e-5 from the exact one, so check the fused sum against dh
                // summed in f64, and against the as-written sum at that drift.
                let width = f.len();
                let exact: Vec<f32> = (0..width)
                    .map(|c| {
                        fused.grads[0]
                            .iter()
                            .skip(c)
                            .step_by(width)
                            .map(|&v| v as f64)
                            .sum::<f64>() as f32
                    })
                    .collect();
                assert_close("gated mix bias gradient vs dh", f, &exact, 1e-6);
                assert_close("gated mix bias gradient", f, w, 1e-4);
                continue;
            }
            assert_close(&format!("gated mix gradient {k}"), f, w, 1e-5);
        }
    }
}

#[test]
fn batch_norm_gradients_match_finite_differences() {
    check_all(harness::batch_norm_cases());
}

#[test]
fn recurrent_gradients_match_finite_differences() {
    check_all(harness::recurrent_cases());
}

#[test]
fn loss_gradients_match_finite_differences() {
    check_all(harness::loss_cases());
}

#[test]
fn composite_gradients_match_finite_differences() {
    check_all(harness::composite_cases());
}

#[test]
fn gather_and_scatter_gradients_match_finite_differences() {
    check_all(harness::gather_cases());
}

#[test]
fn conv1d_gradients_match_finite_differences() {
    check_all(harness::conv_cases());
}

#[test]
fn conv2d_and_pooling_gradients_match_finite_differences() {
    check_all(harness::conv2d_cases());
}

#[test]
fn the_check_rejects_a_wrong_gradient() {
    let case = harness::matmul_case("2d", &[3, 4], &[4, 5], false, false);
    let mut backend = reference_backend();
    let prepared = Prepared::new(&case, &mut backend);
    let mut analytic = prepared.run(&mut backend, &prepared.params).grads;
    let numeric = numeric_gradients(&prepared, &mut backend, case.difference_step.unwrap_or(H));
    assert!(compare(&case.name, &analytic, &numeric).is_ok());
    let a = &mut analytic[1][7];
    *a += 0.05 * (1.0 + a.abs());
    assert!(compare(&case.name, &analytic, &numeric).is_err());
}

// ---------------------------------------------------------------------------------------------
// Forward values.

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}: element {i} is {g}, expected {w}"
        );
    }
}

#[test]
fn matmul_matches_a_naive_triple_loop() {
    let mut rng = Rng::new(1);
    let shapes: [(&[usize], &[usize], bool, bool); 10] = [
        (&[3, 4], &[4, 5], false, false),
        (&[3, 4], &[5, 4], false, true),
        (&[4, 3], &[4, 5], true, false),
        (&[4, 3], &[5, 4], true, true),
        (&[2, 3, 4], &[2, 4, 5], false, false),
        (&[2, 4, 3], &[2, 5, 4], true, true),
        (&[2, 3, 4], &[4, 5], false, false),
        (&[2, 3, 4], &[5, 4], false, true),
        (&[2, 2, 3, 4], &[2, 2, 4, 5], false, false),
        (&[64, 96], &[80, 96], false, true),
    ];
    for (sa, sb, ta, tb) in shapes {
        let a = rng.values(sa.iter().product(), -1.0, 1.0);
        let b = rng.values(sb.iter().product(), -1.0, 1.0);
        let mut g = Graph::new();
        let (x, y) = (g.input(sa), g.input(sb));
        let z = g.matmul_t(x, y, ta, tb).unwrap();
        let got = evaluate(g, &[&a, &b], &[z]).remove(0);
        let want = naive_matmul(&a, sa, &b, sb, ta, tb);
        assert_close(
            &format!("{sa:?} ta={ta} @ {sb:?} tb={tb}"),
            &got,
            &want,
            1e-5,
        );
    }
}

#[test]
fn softmax_rows_sum_to_one_and_match_the_formula() {
    let mut rng = Rng::new(2);
    let x = rng.values(2 * 4 * 3, -3.0, 3.0);
    let mut g = Graph::new();
    let xi = g.input([2, 4, 3]);
    let last = g.softmax(xi, -1).unwrap();
    let middle = g.softmax(xi, 1).unwrap();
    let log_middle = g.log_softmax(xi, 1).unwrap();
    let out = evaluate(g, &[&x], &[last, middle, log_middle]);

    for (row, p) in x.chunks(3).zip(out[0].chunks(3)) {
        let total: f32 = row.iter().map(|v| v.exp()).sum();
        let want: Vec<f32> = row.iter().map(|v| v.exp() / total).collect();
        assert_close("softmax last axis", p, &want, 1e-6);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
    for o in 0..2 {
        for i in 0..3 {
            let at = |j: usize| o * 12 + j * 3 + i;
            let total: f32 = (0..4).map(|j| x[at(j)].exp()).sum();
            let sum: f32 = (0..4).map(|j| out[1][at(j)]).sum();
            assert!(
                (sum - 1.0).abs() < 1e-6,
                "middle-axis softmax sums to {sum}"
            );
            for j in 0..4 {
                let want = x[at(j)].exp() / total;
                assert!((out[1][at(j)] - want).abs() < 1e-6);
                assert!((out[2][at(j)] - want.ln()).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn reductions_match_hand_computed_values() {
    let x = [1.0, 5.0, 3.0, 4.0, 2.0, 6.0];
    let mut g = Graph::new();
    let xi = g.input([2, 3]);
    let outs = [
        g.sum(xi, 0, false).unwrap(),
        g.sum(xi, 1, true).unwrap(),
        g.mean(xi, 0, true).unwrap(),
        g.mean(xi, -1, false).unwrap(),
        g.max(xi, 0, false).unwrap(),
        g.max(xi, 1, false).unwrap(),
    ];
    let got = evaluate(g, &[&x], &outs);
    let want: [&[f32]; 6] = [
        &[5.0, 7.0, 9.0],
        &[9.0, 12.0],
        &[2.5, 3.5, 4.5],
        &[3.0, 4.0],
        &[4.0, 5.0, 6.0],
        &[5.0, 6.0],
    ];
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(&format!("reduction {k}"), g, w, 1e-6);
    }
}

#[test]
fn broadcast_to_and_sum_to_match_hand_computed_values() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let mut g = Graph::new();
    let col = g.input([3, 1]);
    let row = g.input([3]);
    let full = g.input([2, 3]);
    let outs = [
        g.broadcast_to(col, [2, 3, 2]).unwrap(),
        g.broadcast_to(col, [3, 2]).unwrap(),
        g.broadcast_to(row, [2, 3]).unwrap(),
        g.sum_to(full, &Shape::new(&[3])).unwrap(),
        g.sum_to(full, &Shape::new(&[2, 1])).unwrap(),
        g.sum_to(full, &Shape::new(&[1, 3])).unwrap(),
        g.sum_to(full, &Shape::scalar()).unwrap(),
    ];
    let got = evaluate(g, &[&x[..3], &x[..3], &x], &outs);
    let want: [&[f32]; 7] = [
        &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
        &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
        &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
        &[5.0, 7.0, 9.0],
        &[6.0, 15.0],
        &[5.0, 7.0, 9.0],
        &[21.0],
    ];
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(&format!("broadcast/sum_to {k}"), g, w, 0.0);
    }
}

#[test]
fn sum_to_of_a_middle_axis_matches_hand_computed_values() {
    let x: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    let mut g = Graph::new();
    let xi = g.input([2, 3, 2]);
    let out = g.sum_to(xi, &Shape::new(&[2, 1, 2])).unwrap();
    let got = evaluate(g, &[&x], &[out]).remove(0);
    assert_close("sum_to [2, 1, 2]", &got, &[9.0, 12.0, 27.0, 30.0], 0.0);
}

#[test]
fn concat_slice_and_pad_place_the_right_elements() {
    let a = [1.0, 2.0, 3.0, 4.0];
    let b = [5.0, 6.0];
    let mut g = Graph::new();
    let ai = g.input([2, 2]);
    let bi = g.input([2, 1]);
    let cat = g.concat(&[ai, bi], 1).unwrap();
    let cat0 = g.concat(&[ai, ai], 0).unwrap();
    let sliced = g.slice(cat, 1, 1, 3).unwrap();
    let padded = g.pad(ai, 1, 1, 2).unwrap();
    let got = evaluate(g, &[&a, &b], &[cat, cat0, sliced, padded]);
    assert_close("concat", &got[0], &[1.0, 2.0, 5.0, 3.0, 4.0, 6.0], 0.0);
    assert_close(
        "concat axis 0",
        &got[1],
        &[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0],
        0.0,
    );
    assert_close("slice", &got[2], &[2.0, 5.0, 4.0, 6.0], 0.0);
    assert_close(
        "pad",
        &got[3],
        &[0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0],
        0.0,
    );
}

/// The index into a tensor of shape `s` that broadcasts to element `i` of shape `so`.
fn broadcast_source(i: usize, so: &[usize], s: &[usize]) -> usize {
    let mut rest = i;
    let mut index = 0;
    let mut stride = 1;
    for k in 0..so.len() {
        let coord = rest % so[so.len() - 1 - k];
        rest /= so[so.len() - 1 - k];
        if k < s.len() {
            let d = s[s.len() - 1 - k];
            if d != 1 {
                index += coord * stride;
            }
            stride *= d;
        }
    }
    index
}

#[test]
fn broadcasting_binary_ops_match_a_naive_broadcast() {
    let mut rng = Rng::new(3);
    let shapes: [(&[usize], &[usize]); 14] = [
        (&[3, 4], &[3, 4]),
        (&[3, 4], &[4]),
        (&[4], &[3, 4]),
        (&[3, 4], &[3, 1]),
        (&[3, 1], &[3, 4]),
        (&[3, 4], &[]),
        (&[], &[3, 4]),
        (&[2, 1, 3], &[4, 1]),
        (&[1, 3, 4], &[2, 1, 4]),
        (&[2, 3, 1], &[1, 3, 4]),
        (&[128, 512], &[128, 512]),
        (&[128, 512], &[512]),
        (&[128, 512], &[]),
        (&[], &[128, 512]),
    ];
    type Reference = fn(f32, f32) -> f32;
    let ops: [(BinaryOp, Reference); 4] = [
        (BinaryOp::Add, |a, b| a + b),
        (BinaryOp::Sub, |a, b| a - b),
        (BinaryOp::Mul, |a, b| a * b),
        (BinaryOp::Div, |a, b| a / b),
    ];
    for (sa, sb) in shapes {
        let a = rng.values(sa.iter().product(), -1.0, 1.0);
        let b = rng.values(sb.iter().product(), 0.5, 1.5);
        let so = Shape::broadcast(&Shape::new(sa), &Shape::new(sb)).unwrap();
        for (op, f) in ops {
            let mut g = Graph::new();
            let (x, y) = (g.input(sa), g.input(sb));
            let z = g.binary(op, x, y).unwrap();
            let got = evaluate(g, &[&a, &b], &[z]).remove(0);
            let want: Vec<f32> = (0..so.numel())
                .map(|i| {
                    f(
                        a[broadcast_source(i, &so.0, sa)],
                        b[broadcast_source(i, &so.0, sb)],
                    )
                })
                .collect();
            assert_close(&format!("{op:?} {sa:?} {sb:?}"), &got, &want, 0.0);
        }
    }
}

#[test]
fn unary_ops_match_the_standard_library() {
    type Build = fn(&mut Graph, NodeId) -> harness::Built;
    type Reference = fn(f32) -> f32;
    let cases: [(&str, Build, Reference, bool); 9] = [
        ("neg", |g, x| g.neg(x), |v| -v, false),
        ("relu", |g, x| g.relu(x), |v| v.max(0.0), false),
        (
            "sigmoid",
            |g, x| g.sigmoid(x),
            |v| 1.0 / (1.0 + (-v).exp()),
            false,
        ),
        ("tanh", |g, x| g.tanh(x), f32::tanh, false),
        ("exp", |g, x| g.exp(x), f32::exp, false),
        ("log", |g, x| g.log(x), f32::ln, true),
        ("sqrt", |g, x| g.sqrt(x), f32::sqrt, true),
        ("square", |g, x| g.square(x), |v| v * v, false),
        (
            "step",
            |g, x| g.step(x),
            |v| if v > 0.0 { 1.0 } else { 0.0 },
            false,
        ),
    ];
    let mut rng = Rng::new(6);
    let any = [
        vec![-1.5f32, -0.25, 0.0, 0.5, 2.0],
        rng.values(LARGE, -3.0, 3.0),
    ];
    let positive = [
        vec![0.25f32, 0.5, 1.0, 2.0, 9.0],
        rng.values(LARGE, 0.1, 3.0),
    ];
    for (name, build, f, needs_positive) in cases {
        let inputs = if needs_positive { &positive } else { &any };
        for input in inputs {
            let mut g = Graph::new();
            let xi = g.input([input.len()]);
            let y = build(&mut g, xi).unwrap();
            let got = evaluate(g, &[input], &[y]).remove(0);
            let want: Vec<f32> = input.iter().map(|&v| f(v)).collect();
            assert_close(
                &format!("{name} of {} values", input.len()),
                &got,
                &want,
                1e-6,
            );
        }
    }
}

#[test]
fn dropout_keeps_about_one_minus_rate_and_scales_by_its_inverse() {
    let n = LARGE;
    let rate = 0.25;
    let ones = vec![1.0f32; n];
    let mut g = Graph::new();
    let x = g.input([n]);
    let y = g.dropout(x, rate, 9).unwrap();
    let got = evaluate(g, &[&ones], &[y]).remove(0);
    let scale = 1.0 / (1.0 - rate);
    let mut kept = 0;
    for (i, &v) in got.iter().enumerate() {
        assert!(v == 0.0 || v == scale, "element {i} is {v}");
        assert_eq!(
            v,
            dropout_scale(ARGS.seed, ARGS.step, 9, i, rate),
            "element {i}"
        );
        kept += usize::from(v != 0.0);
    }
    let frac = kept as f64 / n as f64;
    assert!((frac - 0.75).abs() < 0.01, "kept fraction {frac}");
}

#[test]
fn one_hot_and_accuracy_on_hand_made_inputs() {
    let mut g = Graph::new();
    let idx = g.input([3]);
    let idx_col = g.input([3, 1]);
    let hot = g.one_hot(idx, 4).unwrap();
    let hot_col = g.one_hot(idx_col, 4).unwrap();
    let pred = g.input([4, 3]);
    let labels = g.input([4, 3]);
    let cat = g.accuracy(AccuracyKind::Categorical, pred, labels).unwrap();
    let bp = g.input([5]);
    let bl = g.input([5]);
    let bin = g.accuracy(AccuracyKind::Binary, bp, bl).unwrap();
    let indices = [2.0, 0.0, 3.0];
    let p = [
        0.1, 0.7, 0.2, //
        0.5, 0.3, 0.2, //
        0.2, 0.2, 0.6, //
        0.4, 0.4, 0.2,
    ];
    let l = [
        0.0, 1.0, 0.0, //
        0.0, 0.0, 1.0, //
        0.0, 0.0, 1.0, //
        1.0, 0.0, 0.0,
    ];
    let bin_pred = [0.2, 0.7, 0.9, 0.4, 0.6];
    let bin_labels = [0.0, 1.0, 0.0, 1.0, 1.0];
    let got = evaluate(
        g,
        &[&indices, &indices, &p, &l, &bin_pred, &bin_labels],
        &[hot, hot_col, cat, bin],
    );
    let want_hot = [
        0.0, 0.0, 1.0, 0.0, //
        1.0, 0.0, 0.0, 0.0, //
        0.0, 0.0, 0.0, 1.0,
    ];
    assert_close("one_hot", &got[0], &want_hot, 0.0);
    assert_close("one_hot of a column", &got[1], &want_hot, 0.0);
    assert_close("categorical accuracy", &got[2], &[0.75], 0.0);
    assert_close("binary accuracy", &got[3], &[0.6], 1e-7);
}

#[test]
fn losses_match_their_formulas() {
    let mut rng = Rng::new(4);
    let (rows, width) = (3, 5);
    let z = rng.values(rows * width, -3.0, 3.0);
    let y = rng.values(rows * width, 0.0, 1.0);
    let mut g = Graph::new();
    let zi = g.input([rows, width]);
    let yi = g.input([rows, width]);
    let sce = g.softmax_cross_entropy(zi, yi).unwrap();
    let bce = g.sigmoid_binary_cross_entropy(zi, yi).unwrap();
    let got = evaluate(g, &[&z, &y], &[sce, bce]);

    let mut want_sce = 0.0f64;
    for (zr, yr) in z.chunks(width).zip(y.chunks(width)) {
        let lse = zr.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
        want_sce += zr
            .iter()
            .zip(yr)
            .map(|(&zv, &yv)| -(yv as f64) * (zv as f64 - lse))
            .sum::<f64>();
    }
    want_sce /= rows as f64;
    let want_bce = z
        .iter()
        .zip(&y)
        .map(|(&zv, &t)| {
            let p = 1.0 / (1.0 + (-(zv as f64)).exp());
            -(t as f64 * p.ln() + (1.0 - t as f64) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / z.len() as f64;
    assert_close("softmax_cross_entropy", &got[0], &[want_sce as f32], 1e-5);
    assert_close(
        "sigmoid_binary_cross_entropy",
        &got[1],
        &[want_bce as f32],
        1e-5,
    );
}
