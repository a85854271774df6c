//! `Backend::profile` on the GPU: one time per dispatch from timestamp queries, named by kernel,
//! and the profiled run computes what a plain run does.

mod harness;

use wgtrain::graph::{Backend, Feed, Graph, NodeId, Plan, PlanOutputs};

/// `relu(a @ b) * 2` for a [16, 32] input a and a [32, 8] input b.
fn plan() -> (Plan, NodeId) {
    let mut g = Graph::new();
    let a = g.input([16, 32]);
    let b = g.input([32, 8]);
    let ab = g.matmul(a, b).unwrap();
    let r = g.relu(ab).unwrap();
    let two = g.scalar(2.0);
    let out = g.mul(r, two).unwrap();
    let outputs = PlanOutputs {
        predictions: vec![out],
        ..Default::default()
    };
    (Plan::new(g, outputs, Vec::new(), None), out)
}

#[test]
fn a_profiled_run_times_every_dispatch_and_computes_the_same() {
    let Some(mut gpu) = harness::gpu_backend() else {
        return;
    };
    let a: Vec<f32> = (0..16 * 32).map(|i| (i % 7) as f32 * 0.25 - 0.5).collect();
    let b: Vec<f32> = (0..32 * 8).map(|i| (i % 5) as f32 * 0.125 - 0.25).collect();
    let feeds = [Feed::F32(&a), Feed::F32(&b)];
    let (p, out) = plan();
    let id = gpu.compile(p).unwrap();
    gpu.run(id, &feeds, &Default::default()).unwrap();
    let mut want = vec![0.0; 16 * 8];
    gpu.read(id, out, &mut want).unwrap();

    match gpu.profile(id, &feeds, &Default::default()) {
        Ok(times) => {
            assert_eq!(times.len(), gpu.dispatches(id).unwrap(), "{times:?}");
            assert!(
                times.iter().any(|(name, _)| name.contains("matmul")),
                "{times:?}"
            );
            assert!(times.iter().all(|(_, t)| t.is_finite() && *t >= 0.0));
            assert!(times.iter().map(|t| t.1).sum::<f64>() > 0.0, "{times:?}");
            let mut got = vec![0.0; 16 * 8];
            gpu.read(id, out, &mut got).unwrap();
            assert_eq!(got, want);
        }
        Err(e) => assert!(e.to_string().contains("timestamp queries"), "{e}"),
    }
    // Reference values: the product itself.
    for (i, v) in want.iter().enumerate() {
        let (r, c) = (i / 8, i % 8);
        let dot: f32 = (0..32).map(|k| a[r * 32 + k] * b[k * 8 + c]).sum();
        assert!((v - 2.0 * dot.max(0.0)).abs() < 1e-4, "element {i}");
    }
}
