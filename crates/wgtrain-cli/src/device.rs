//! `--device` and `wgtrain devices`: which backend a run uses, said aloud.

use anyhow::{Context, Result};
use wgtrain::cpu::{ConvAlgorithm, CpuBackend};
use wgtrain::gpu::list_adapters;
use wgtrain::graph::Backend;
use wgtrain::Device;

/// `--device`: the library's device choice, parsed from the command line.
pub type DeviceChoice = Device;

/// The backend for `--device` (with `--cpu-conv` when it is the CPU); `auto` says which it
/// took and why.
pub fn backend_for(device: DeviceChoice, cpu_conv: ConvAlgorithm) -> Result<Box<dyn Backend>> {
    let (backend, note) = device.backend_with(cpu_conv).with_context(|| "--device")?;
    if device == Device::Auto {
        eprintln!("{note}");
    }
    Ok(backend)
}

/// `--cpu-conv`: `auto`, `gemm` or `winograd`.
pub fn parse_cpu_conv(s: &str) -> Result<ConvAlgorithm, String> {
    match s {
        "auto" => Ok(ConvAlgorithm::Auto),
        "gemm" => Ok(ConvAlgorithm::Gemm),
        "winograd" => Ok(ConvAlgorithm::Winograd),
        other => Err(format!(
            "unknown convolution algorithm {other:?}: use auto (the default), gemm or winograd"
        )),
    }
}

/// What the CLI adds to an error from a run on the backend `description` names: the flags
/// behind the fixes the library's message names.
pub fn run_failed(description: &str) -> String {
    if description.starts_with("gpu") {
        "the run on the GPU failed (--device cpu runs on the CPU; a smaller --batch-size needs \
         less GPU memory)"
            .to_string()
    } else {
        "the run failed".to_string()
    }
}

/// `wgtrain devices`: every adapter, then the CPU backend.
pub fn list(json: bool) -> Result<()> {
    let adapters = list_adapters();
    if json {
        let items: Vec<String> = adapters.iter().map(|a| a.to_json()).collect();
        println!("[{}]", items.join(","));
        return Ok(());
    }
    if adapters.is_empty() {
        println!("no GPU adapters found (Vulkan, Metal or DX12)");
    }
    for a in &adapters {
        println!("{a}");
    }
    println!("cpu: {}", CpuBackend::new().describe());
    Ok(())
}
