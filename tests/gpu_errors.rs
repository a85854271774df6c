//! User mistakes on the GPU backend come back as errors that name the limit and the fix.

mod harness;

use wgtrain::graph::{Backend, Graph, ParamId, Plan, PlanOutputs};

/// A plan computing `[m, k] @ [k, n]` from two params.
fn matmul_plan(backend: &mut dyn Backend, m: usize, k: usize, n: usize) -> Plan {
    let mut g = Graph::new();
    let a = g.param(ParamId(0), vec![m, k]);
    let b = g.param(ParamId(1), vec![k, n]);
    let c = g.matmul(a, b).unwrap();
    backend.set_param(ParamId(0), &vec![0.5; m * k]).unwrap();
    backend.set_param(ParamId(1), &vec![0.5; k * n]).unwrap();
    let outputs = PlanOutputs {
        predictions: vec![c],
        ..Default::default()
    };
    Plan::new(g, outputs, Vec::new(), None)
}

#[test]
fn a_result_larger_than_one_binding_is_refused_by_name() {
    let Some(mut gpu) = harness::gpu_backend() else {
        return;
    };
    // 6000 x 6000 f32 is 144 MB: past the 128 MiB binding limit of lavapipe and of WebGPU's
    // defaults; adapters that bind more get a larger result.
    let side = 6000usize.max(
        (wgtrain::gpu::list_adapters()
            .iter()
            .map(|a| a.limits.max_storage_buffer_binding_size)
            .max()
            .unwrap_or(0) as f64
            / 4.0)
            .sqrt() as usize
            + 1,
    );
    let plan = matmul_plan(&mut gpu, side, 1, side);
    let e = gpu.compile(plan).unwrap_err().to_string();
    assert!(e.contains("max_storage_buffer_binding_size"), "{e}");
    assert!(e.contains(&format!("({side}, {side})")), "{e}");
    assert!(
        e.contains("smaller batch size") && e.contains("Device::Cpu"),
        "{e}"
    );
}

#[test]
fn the_software_adapter_refuses_loops_it_would_cut_short() {
    let Some(mut gpu) = harness::gpu_backend() else {
        return;
    };
    if !gpu.describe().contains("Cpu)") {
        return;
    }
    let plan = matmul_plan(&mut gpu, 2, 70_000, 2);
    let e = gpu.compile(plan).unwrap_err().to_string();
    assert!(e.contains("loop iterations"), "{e}");
    assert!(e.contains("Device::Cpu"), "{e}");
    // The same product within the limit runs and is right.
    let plan = matmul_plan(&mut gpu, 2, 60_000, 2);
    let c = *plan.outputs.predictions.first().unwrap();
    let id = gpu.compile(plan).unwrap();
    gpu.run(id, &[], &Default::default()).unwrap();
    let mut out = [0.0f32; 4];
    gpu.read(id, c, &mut out).unwrap();
    assert_eq!(out, [15_000.0; 4]);
}
