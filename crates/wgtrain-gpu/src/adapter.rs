//! Finding and opening adapters: the listing behind `wgtrain devices` and the choice behind
//! `--device gpu|software|<index>`.

use std::fmt;

/// Which adapter a backend runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterChoice {
    /// The best hardware GPU: a discrete one, else an integrated one.
    Gpu,
    /// The CPU-type adapter (Mesa lavapipe on Linux).
    Software,
    /// Position in `wgtrain devices`.
    Index(usize),
}

impl fmt::Display for AdapterChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdapterChoice::Gpu => write!(f, "gpu"),
            AdapterChoice::Software => write!(f, "software"),
            AdapterChoice::Index(i) => write!(f, "adapter {i}"),
        }
    }
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = wgpu::Backends::PRIMARY;
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu finds, in a stable order.
pub fn adapters() -> Vec<wgpu::Adapter> {
    pollster::block_on(instance().enumerate_adapters(wgpu::Backends::PRIMARY))
}

/// What `wgtrain devices` prints about one adapter.
#[derive(Clone, Debug)]
pub struct AdapterReport {
    pub index: usize,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
}

impl AdapterReport {
    pub fn of(index: usize, adapter: &wgpu::Adapter) -> Self {
        Self {
            index,
            info: adapter.get_info(),
            limits: adapter.limits(),
            features: adapter.features(),
        }
    }

    pub fn f16(&self) -> bool {
        self.features.contains(wgpu::Features::SHADER_F16)
    }

    pub fn subgroups(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP)
    }

    pub fn to_json(&self) -> String {
        let l = &self.limits;
        format!(
            concat!(
                "{{\"index\":{},\"name\":{:?},\"backend\":\"{:?}\",\"device_type\":\"{:?}\",",
                "\"driver\":{:?},\"driver_info\":{:?},\"max_buffer_size\":{},",
                "\"max_storage_buffer_binding_size\":{},\"max_compute_workgroup_storage_size\":{},",
                "\"max_compute_invocations_per_workgroup\":{},",
                "\"max_compute_workgroups_per_dimension\":{},\"f16\":{},\"subgroups\":{}}}"
            ),
            self.index,
            self.info.name,
            self.info.backend,
            self.info.device_type,
            self.info.driver,
            self.info.driver_info,
            l.max_buffer_size,
            l.max_storage_buffer_binding_size,
            l.max_compute_workgroup_storage_size,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroups_per_dimension,
            self.f16(),
            self.subgroups()
        )
    }
}

impl fmt::Display for AdapterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (i, l) = (&self.info, &self.limits);
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let yes = |b: bool| if b { "yes" } else { "no" };
        writeln!(f, "[{}] {}", self.index, i.name)?;
        writeln!(
            f,
            "    backend {:?}, type {:?}, driver {} {}",
            i.backend, i.device_type, i.driver, i.driver_info
        )?;
        writeln!(
            f,
            "    max buffer {:.0} MiB, max storage binding {:.0} MiB, workgroup memory {} KiB, \
             {} invocations per workgroup",
            mib(l.max_buffer_size),
            mib(l.max_storage_buffer_binding_size),
            l.max_compute_workgroup_storage_size / 1024,
            l.max_compute_invocations_per_workgroup
        )?;
        write!(
            f,
            "    f16 {}, subgroups {}",
            yes(self.f16()),
            yes(self.subgroups())
        )
    }
}

/// Reports on every adapter, in the order `--device <index>` counts them.
pub fn list() -> Vec<AdapterReport> {
    adapters()
        .iter()
        .enumerate()
        .map(|(i, a)| AdapterReport::of(i, a))
        .collect()
}

/// Picks the adapter for `choice`, or says why none fits.
pub fn pick(choice: AdapterChoice) -> Result<wgpu::Adapter, String> {
    let all = adapters();
    let hint = "`wgtrain devices` lists the adapters; on Linux without a GPU, install \
                mesa-vulkan-drivers for the software adapter, or use the CPU backend (Device::Cpu)";
    if all.is_empty() {
        return Err(format!(
            "no GPU adapter was found (Vulkan, Metal or DX12); {hint}"
        ));
    }
    let of_type = |t: wgpu::DeviceType| all.iter().position(|a| a.get_info().device_type == t);
    let index = match choice {
        AdapterChoice::Gpu => of_type(wgpu::DeviceType::DiscreteGpu)
            .or_else(|| of_type(wgpu::DeviceType::IntegratedGpu))
            .ok_or_else(|| {
                format!("no hardware GPU was found (only software or virtual adapters); {hint}")
            })?,
        AdapterChoice::Software => of_type(wgpu::DeviceType::Cpu)
            .ok_or_else(|| format!("no software (CPU-type) adapter was found; {hint}"))?,
        AdapterChoice::Index(i) => {
            if i >= all.len() {
                return Err(format!(
                    "there is no adapter {i}: {} found; {hint}",
                    all.len()
                ));
            }
            i
        }
    };
    Ok(all.into_iter().nth(index).expect("index is in range"))
}
