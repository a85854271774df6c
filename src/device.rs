//! Choosing a backend: the same fallback for apps and the command line.

use crate::cpu::{ConvAlgorithm, CpuBackend};
use crate::gpu::{AdapterChoice, GpuBackend};
use crate::graph::Backend;
use anyhow::{anyhow, Result};

/// Where a model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// A discrete GPU, else an integrated one, else the CPU backend.
    Auto,
    /// The multi-threaded CPU backend.
    Cpu,
    /// A GPU adapter.
    Gpu(AdapterChoice),
}

impl Device {
    /// The backend for this device, and a line saying which was taken and why (for `Auto`,
    /// the reason a GPU was not used when it falls back to the CPU).
    pub fn backend(self) -> Result<(Box<dyn Backend>, String)> {
        self.backend_with(ConvAlgorithm::default())
    }

    /// `backend()` with the CPU backend (when it is the one taken) computing convolutions by
    /// `cpu_conv`.
    pub fn backend_with(self, cpu_conv: ConvAlgorithm) -> Result<(Box<dyn Backend>, String)> {
        let cpu = || CpuBackend::new().with_conv_algorithm(cpu_conv);
        match self {
            Device::Cpu => {
                let cpu = cpu();
                let note = cpu.describe();
                Ok((Box::new(cpu), note))
            }
            Device::Gpu(choice) => {
                let gpu = GpuBackend::new(choice).map_err(|e| anyhow!("device {choice}: {e}"))?;
                let note = gpu.describe();
                Ok((Box::new(gpu), note))
            }
            Device::Auto => match GpuBackend::new(AdapterChoice::Gpu) {
                Ok(gpu) => {
                    let note = format!("device auto: {}", gpu.describe());
                    Ok((Box::new(gpu), note))
                }
                Err(e) => {
                    let cpu = cpu();
                    let note = format!(
                        "device auto: {e}\ndevice auto: falling back to {}",
                        cpu.describe()
                    );
                    Ok((Box::new(cpu), note))
                }
            },
        }
    }

    /// `Device::Auto.backend()`: a GPU when there is one, else the CPU, saying which.
    pub fn auto() -> Box<dyn Backend> {
        let (backend, note) = Device::Auto
            .backend()
            .unwrap_or_else(|_| (Box::new(CpuBackend::new()), "cpu".into()));
        eprintln!("{note}");
        backend
    }
}

impl std::str::FromStr for Device {
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
