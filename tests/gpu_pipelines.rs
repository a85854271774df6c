//! Pipelines are shared by kernel text: plans whose kernels render the same WGSL build no new
//! pipelines, however their graphs number their nodes.

mod harness;

use wgtrain::graph::{Backend, Feed, Graph, NodeId, Plan, PlanOutputs};

/// `relu(a * b + c) - a` over [4, 8] inputs a, b and an [8] input c, with `extra` unrelated
/// nodes made first so that every node of the chain has a different id.
fn chain_plan(extra: usize) -> (Plan, NodeId) {
    let mut g = Graph::new();
    for _ in 0..extra {
        g.scalar(3.0);
    }
    // The inputs made in another order (and so numbered differently) but fed by index.
    let (a, b, c) = if extra == 0 {
        let a = g.input([4, 8]);
        let b = g.input([4, 8]);
        let c = g.input([8]);
        (a, b, c)
    } else {
        let a = g.input([4, 8]);
        let b = g.input([4, 8]);
        let unused = g.scalar(1.0);
        let c = g.input([8]);
        let _ = g.neg(unused).unwrap();
        (a, b, c)
    };
    let ab = g.mul(a, b).unwrap();
    let abc = g.add(ab, c).unwrap();
    let r = g.relu(abc).unwrap();
    let out = g.sub(r, a).unwrap();
    let outputs = PlanOutputs {
        predictions: vec![out],
        ..Default::default()
    };
    (Plan::new(g, outputs, Vec::new(), None), out)
}

fn run(gpu: &mut dyn Backend, plan: Plan, out: NodeId) -> Vec<f32> {
    let a: Vec<f32> = (0..32).map(|i| i as f32 * 0.25 - 4.0).collect();
    let b: Vec<f32> = (0..32).map(|i| 1.0 - i as f32 * 0.125).collect();
    let c: Vec<f32> = (0..8).map(|i| i as f32 - 3.5).collect();
    let id = gpu.compile(plan).unwrap();
    gpu.run(
        id,
        &[Feed::F32(&a), Feed::F32(&b), Feed::F32(&c)],
        &Default::default(),
    )
    .unwrap();
    let mut values = vec![0.0; 32];
    gpu.read(id, out, &mut values).unwrap();
    values
}

#[test]
fn identical_chains_from_different_nodes_share_pipelines() {
    let Some(mut gpu) = harness::gpu_backend() else {
        return;
    };
    let (first, out1) = chain_plan(0);
    let (second, out2) = chain_plan(5);
    assert_ne!(out1, out2, "the chains are built from different nodes");
    let want = run(&mut gpu, first, out1);
    let built = gpu.pipelines_built();
    assert!(built > 0);
    let got = run(&mut gpu, second, out2);
    assert_eq!(
        gpu.pipelines_built(),
        built,
        "the second, identical chain built new pipelines"
    );
    assert_eq!(got, want);
    // And the values are the chain's.
    let a = |i: usize| i as f32 * 0.25 - 4.0;
    let b = |i: usize| 1.0 - i as f32 * 0.125;
    let c = |i: usize| (i % 8) as f32 - 3.5;
    for (i, v) in want.iter().enumerate() {
        assert_eq!(*v, (a(i) * b(i) + c(i)).max(0.0) - a(i), "element {i}");
    }
}
