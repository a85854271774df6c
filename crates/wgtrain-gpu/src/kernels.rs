//! The WGSL kernel families in `shaders/` and the pipelines built from them. A kernel is a
//! family, an entry point and the text substitutions that specialize it; each distinct kernel
//! is compiled once per device and shared by every plan.

use std::collections::HashMap;

const PRELUDE: &str = include_str!("../../../shaders/prelude.wgsl");
const TREE: &str = include_str!("../../../shaders/tree.wgsl");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Elementwise,
    Fused,
    Layout,
    Reduce,
    Random,
    Loss,
    Matmul,
    Optim,
}

impl Family {
    fn source(self) -> &'static str {
        match self {
            Family::Elementwise => include_str!("../../../shaders/elementwise.wgsl"),
            Family::Fused => include_str!("../../../shaders/fused.wgsl"),
            Family::Layout => include_str!("../../../shaders/layout.wgsl"),
            Family::Reduce => include_str!("../../../shaders/reduce.wgsl"),
            Family::Random => include_str!("../../../shaders/random.wgsl"),
            Family::Loss => include_str!("../../../shaders/loss.wgsl"),
            Family::Matmul => include_str!("../../../shaders/matmul.wgsl"),
            Family::Optim => include_str!("../../../shaders/optim.wgsl"),
        }
    }

    /// Kernels whose every access is guarded in the source, so the per-access clamps the shader
    /// compiler would add are left out.
    fn checks_its_own_bounds(self) -> bool {
        matches!(self, Family::Matmul)
    }

    /// Shared code the family's kernels use, placed after the prelude.
    fn includes(self) -> &'static str {
        match self {
            Family::Reduce | Family::Loss => TREE,
            _ => "",
        }
    }

    /// Values for the placeholders a kernel leaves unset: the whole file is compiled, so every
    /// placeholder of every entry point needs one.
    fn defaults(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Family::Elementwise => &[("BINARY_EXPR", "x")],
            Family::Fused => &[
                ("FLAT_LOADS", ""),
                ("FLAT_BODY", "let r = 0.0;"),
                ("ROWS_LOADS", ""),
                ("ROWS_BODY", "let r = 0.0;"),
            ],
            Family::Reduce => &[("IS_SUM", "true"), ("IS_LOG", "false")],
            Family::Matmul => &[
                ("LOAD_A_RUN", crate::lower::SCALAR_RUN_A),
                ("LOAD_B_RUN", crate::lower::SCALAR_RUN_B),
            ],
            _ => &[],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub family: Family,
    pub entry: &'static str,
    /// Placeholder names in the source and what replaces them.
    pub specialize: Vec<(&'static str, String)>,
}

impl Kernel {
    pub fn new(family: Family, entry: &'static str) -> Self {
        Self {
            family,
            entry,
            specialize: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.specialize.push((name, value.into()));
        self
    }

    /// The full WGSL text of this kernel.
    pub fn source(&self) -> String {
        let mut body = self.family.source().to_string();
        for (name, value) in &self.specialize {
            body = body.replace(name, value);
        }
        for (name, value) in self.family.defaults() {
            body = body.replace(name, value);
        }
        format!("{PRELUDE}\n{}\n{body}", self.family.includes())
    }
}

/// Compiled pipelines by kernel.
#[derive(Default)]
pub struct PipelineCache {
    pipelines: HashMap<Kernel, wgpu::ComputePipeline>,
}

impl PipelineCache {
    pub fn get_or_build(
        &mut self,
        device: &wgpu::Device,
        kernel: &Kernel,
    ) -> Result<wgpu::ComputePipeline, String> {
        if let Some(p) = self.pipelines.get(kernel) {
            return Ok(p.clone());
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(kernel.entry),
            source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
        };
        let module = if kernel.family.checks_its_own_bounds() {
            // SAFETY: the kernel guards every global access with the operand's extents and
            // indexes workgroup memory only below its declared size.
            unsafe {
                device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
        } else {
            device.create_shader_module(desc)
        };
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry),
            layout: None,
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(format!(
                "the GPU could not build kernel {:?}/{}: {e}",
                kernel.family, kernel.entry
            ));
        }
        self.pipelines.insert(kernel.clone(), pipeline.clone());
        Ok(pipeline)
    }

    pub fn len(&self) -> usize {
        self.pipelines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pipelines.is_empty()
    }
}
