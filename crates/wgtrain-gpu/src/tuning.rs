//! Kernel choices that depend on the adapter.

use crate::lower::R;

/// Adapter-dependent choices.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// `matmul_direct` (no workgroup memory) rather than the tiled `matmul`.
    pub matmul_direct: bool,
    /// Invocations per side of a matmul workgroup.
    pub matmul_tile_side: usize,
    /// Rows and columns of the output block each invocation accumulates.
    pub matmul_block: usize,
    /// The block for outputs of `LARGE_MATMUL` values or more, where bigger tiles still leave
    /// every core a workgroup.
    pub matmul_large_block: usize,
    /// One invocation per reduced value rather than a workgroup tree.
    pub serial_reductions: bool,
    /// About how many invocations a scatter-add spreads over (each owns one column of a block
    /// of rows and reads every id): fewer where invocations run on CPU cores.
    pub scatter_invocations: usize,
    /// The most loop iterations one invocation may run in all: Mesa's llvmpipe (lavapipe)
    /// silently ends every loop of an invocation once 65535 back-edges have been taken.
    pub loop_budget: Option<usize>,
}

impl Tuning {
    /// The kernels chosen for hardware GPUs (tiled matmul, workgroup-tree reductions), keeping
    /// this adapter's limits: how the GPU kernels are tested on a software adapter.
    pub fn with_gpu_kernels(self, limits: &wgpu::Limits) -> Self {
        let gpu = Self::hardware(limits);
        Self {
            loop_budget: self.loop_budget,
            ..gpu
        }
    }

    pub(crate) fn fits(&self, trips: usize) -> bool {
        self.loop_budget.is_none_or(|b| trips <= b)
    }

    /// An error naming the op when one invocation would loop past the adapter's budget.
    pub(crate) fn check_loops(&self, what: &str, trips: usize) -> R<()> {
        match self.loop_budget {
            Some(budget) if trips > budget => Err(format!(
                "{what} needs {trips} loop iterations in one invocation, more than this software \
                 adapter runs ({budget}); use the CPU backend (Device::Cpu) or a hardware GPU"
            )),
            _ => Ok(()),
        }
    }

    pub fn for_adapter(info: &wgpu::AdapterInfo, limits: &wgpu::Limits) -> Self {
        // Measured on lavapipe: barriers and workgroup memory cost more than they save when
        // invocations run on CPU cores, and 8 x 8 blocks per invocation run fastest there.
        // Reductions there run one invocation per value, with no barriers at all.
        if info.device_type == wgpu::DeviceType::Cpu {
            return Self {
                matmul_direct: true,
                matmul_tile_side: 8,
                matmul_block: 8,
                matmul_large_block: 8,
                serial_reductions: true,
                scatter_invocations: 512,
                loop_budget: Some(65_535),
            };
        }
        Self::hardware(limits)
    }

    /// Tiles sized from the adapter's limits: 16 x 16 invocations when a workgroup may be that
    /// large, 8 x 8 blocks for large outputs when two 16-deep tiles of 128 rows fit in workgroup
    /// memory.
    fn hardware(limits: &wgpu::Limits) -> Self {
        let fits = |side: u32, block: u32| {
            let tile = side * block;
            limits.max_compute_invocations_per_workgroup >= side * side
                && limits.max_compute_workgroup_size_x >= side
                && limits.max_compute_workgroup_size_y >= side
                && limits.max_compute_workgroup_storage_size >= 2 * 16 * tile * 4
        };
        let side = if fits(16, 4) { 16 } else { 8 };
        Self {
            matmul_direct: false,
            matmul_tile_side: side as usize,
            matmul_block: 4,
            matmul_large_block: if fits(side, 8) { 8 } else { 4 },
            serial_reductions: false,
            scatter_invocations: 16_384,
            loop_budget: None,
        }
    }
}
