//! `--device` and `wgtrain devices`: which backend a run uses, said aloud.

use anyhow::{anyhow, Result};
use std::str::FromStr;
use wgtrain::cpu::CpuBackend;
use wgtrain::gpu::{list_adapters, AdapterChoice, GpuBackend};
use wgtrain::graph::Backend;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// A discrete GPU, else an integrated one, else the CPU backend.
    Auto,
    /// The multi-threaded CPU backend.
    Cpu,
    /// A GPU adapter.
    Gpu(AdapterChoice),
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "gpu" => Ok(Self::Gpu(AdapterChoice::Gpu)),
            "software" => Ok(Self::Gpu(AdapterChoice::Software)),
            other => other
                .parse()
                .map(|i| Self::Gpu(AdapterChoice::Index(i)))
                .map_err(|_| {
                    format!(
                        "unknown device '{other}': use auto, gpu, cpu, software or an adapter \
                         index from `wgtrain devices`"
                    )
                }),
        }
    }
}

/// The backend for `device`. `auto` says which it took and why.
pub fn backend_for(device: DeviceChoice) -> Result<Box<dyn Backend>> {
    match device {
        DeviceChoice::Cpu => Ok(Box::new(CpuBackend::new())),
        DeviceChoice::Gpu(choice) => Ok(Box::new(
            GpuBackend::new(choice).map_err(|e| anyhow!("--device {choice}: {e}"))?,
        )),
        DeviceChoice::Auto => match GpuBackend::new(AdapterChoice::Gpu) {
            Ok(gpu) => {
                eprintln!("device auto: {}", gpu.describe());
                Ok(Box::new(gpu))
            }
            Err(e) => {
                let cpu = CpuBackend::new();
                eprintln!(
                    "device auto: {e}\ndevice auto: falling back to {}",
                    cpu.describe()
                );
                Ok(Box::new(cpu))
            }
        },
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
