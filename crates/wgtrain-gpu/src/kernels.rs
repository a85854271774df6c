//! The WGSL kernel families in `shaders/` and the pipelines built from them. A kernel is a
//! family, an entry point and the text substitutions that specialize it; each distinct kernel
//! is compiled once per device and shared by every plan.

use std::collections::HashMap;

const PRELUDE: &str = include_str!("../../../shaders/prelude.wgsl");
const TREE: &str = include_str!("../../../shaders/tree.wgsl");
const PHILOX: &str = include_str!("../../../shaders/philox.wgsl");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Elementwise,
    Fused,
    Layout,
    Reduce,
    Random,
    Gate,
    Loss,
    Matmul,
    Optim,
    Gather,
    Conv,
    Pool,
    Norm,
    Recurrent,
}

/// Every family, for the tests that check each one's source.
pub const FAMILIES: [Family; 14] = [
    Family::Elementwise,
    Family::Fused,
    Family::Layout,
    Family::Reduce,
    Family::Random,
    Family::Gate,
    Family::Loss,
    Family::Matmul,
    Family::Optim,
    Family::Gather,
    Family::Conv,
    Family::Pool,
    Family::Norm,
    Family::Recurrent,
];

/// The binding numbers of each family's resources, as its shader declares them; lowering binds
/// through these names and the tests check them against the parsed shaders.
pub mod binding {
    /// The per-dispatch parameter block, in every family.
    pub const PARAMS: u32 = 0;

    pub mod elementwise {
        pub const A: u32 = 1;
        pub const B: u32 = 2;
        pub const OUT: u32 = 3;
    }
    pub mod fused {
        /// Input k is bound at `IN0 + k`.
        pub const IN0: u32 = 1;
        pub const OUT: u32 = 7;
    }
    pub mod layout {
        pub const X: u32 = 1;
        pub const OUT: u32 = 2;
    }
    pub mod reduce {
        pub const X: u32 = 1;
        pub const OUT: u32 = 2;
    }
    pub mod random {
        pub const X: u32 = 1;
        pub const OUT: u32 = 2;
        pub const STEP: u32 = 3;
    }
    pub mod gate {
        pub const H: u32 = 1;
        pub const S: u32 = 2;
        pub const MASK: u32 = 3;
        pub const DY: u32 = 4;
        pub const OUT: u32 = 5;
        pub const STEP: u32 = 6;
        pub const BIAS: u32 = 7;
    }
    pub mod loss {
        pub const LOGITS: u32 = 1;
        pub const LABELS: u32 = 2;
        pub const UPSTREAM: u32 = 3;
        pub const OUT: u32 = 4;
    }
    pub mod matmul {
        pub const A: u32 = 1;
        pub const B: u32 = 2;
        pub const OUT: u32 = 3;
    }
    pub mod optim {
        pub const PARAM: u32 = 1;
        pub const GRAD: u32 = 2;
        pub const SLOT0: u32 = 3;
        pub const SLOT1: u32 = 4;
        pub const STEP: u32 = 5;
        /// The summed squares of gathered rows' gradients (`Update::grad_sq`).
        pub const GRAD_SQ: u32 = 6;
    }
    pub mod gather {
        /// The table (gather), the values (scatter) or the tensor converted (cast).
        pub const SRC: u32 = 1;
        pub const IDS: u32 = 2;
        pub const DST: u32 = 3;
    }
    pub mod norm {
        pub const X: u32 = 1;
        pub const MOMENTS: u32 = 2;
        pub const GAMMA: u32 = 3;
        pub const BETA: u32 = 4;
        pub const DY: u32 = 5;
        pub const OUT: u32 = 6;
    }
    pub mod recurrent {
        pub const XW: u32 = 1;
        pub const KERNEL: u32 = 2;
        pub const H0: u32 = 3;
        pub const C0: u32 = 4;
        pub const RBIAS: u32 = 5;
        pub const MASK: u32 = 6;
        pub const OUT: u32 = 7;
        pub const D_OUTPUTS: u32 = 8;
        pub const D_LAST: u32 = 9;
        pub const D_STATE: u32 = 10;
        pub const D_CELL: u32 = 11;
        /// The forward walk's packed output, read by the reverse walk.
        pub const SAVED: u32 = 12;
    }
    pub mod conv {
        /// x (forward, backward filter) or dy (backward data); the partials of a chunk sum.
        pub const A: u32 = 1;
        /// The kernel (forward, backward data) or dy (backward filter).
        pub const B: u32 = 2;
        pub const OUT: u32 = 3;
    }
    pub mod pool {
        pub const X: u32 = 1;
        pub const DY: u32 = 2;
        pub const OUT: u32 = 3;
    }
}

impl Family {
    pub fn source(self) -> &'static str {
        match self {
            Family::Elementwise => include_str!("../../../shaders/elementwise.wgsl"),
            Family::Fused => include_str!("../../../shaders/fused.wgsl"),
            Family::Layout => include_str!("../../../shaders/layout.wgsl"),
            Family::Reduce => include_str!("../../../shaders/reduce.wgsl"),
            Family::Random => include_str!("../../../shaders/random.wgsl"),
            Family::Gate => include_str!("../../../shaders/gate.wgsl"),
            Family::Loss => include_str!("../../../shaders/loss.wgsl"),
            Family::Matmul => include_str!("../../../shaders/matmul.wgsl"),
            Family::Optim => include_str!("../../../shaders/optim.wgsl"),
            Family::Gather => include_str!("../../../shaders/gather.wgsl"),
            Family::Conv => include_str!("../../../shaders/conv.wgsl"),
            Family::Pool => include_str!("../../../shaders/pool.wgsl"),
            Family::Norm => include_str!("../../../shaders/norm.wgsl"),
            Family::Recurrent => include_str!("../../../shaders/recurrent.wgsl"),
        }
    }

    /// Every placeholder in the family's source: the names `Kernel::with` may set.
    pub fn tokens(self) -> &'static [&'static str] {
        match self {
            Family::Elementwise => &["BINARY_EXPR"],
            Family::Fused => &["FLAT_LOADS", "FLAT_BODY", "ROWS_LOADS", "ROWS_BODY"],
            Family::Reduce => &["IS_SUM", "IS_LOG"],
            Family::Matmul => &[
                "TILE_SIDE",
                "REG_M",
                "REG_N",
                "TRANSPOSE_A",
                "TRANSPOSE_B",
                "LOAD_A_RUN",
                "LOAD_B_RUN",
            ],
            Family::Gather => &["CAST_EXPR"],
            Family::Conv => &["CONV_MODE", "CONV_TS", "CONV_RM", "CONV_RN"],
            Family::Optim => &["SQUARED_GRAD"],
            Family::Recurrent => &["UNITS_CAP_VALUE", "GATES_CAP_VALUE"],
            Family::Layout
            | Family::Random
            | Family::Gate
            | Family::Loss
            | Family::Norm
            | Family::Pool => &[],
        }
    }

    /// The global variables of the family's shader and the bindings they are declared at.
    pub fn bindings(self) -> &'static [(&'static str, u32)] {
        use binding::*;
        match self {
            Family::Elementwise => &[
                ("a", elementwise::A),
                ("b", elementwise::B),
                ("out", elementwise::OUT),
            ],
            Family::Fused => &[
                ("in0", fused::IN0),
                ("in1", fused::IN0 + 1),
                ("in2", fused::IN0 + 2),
                ("in3", fused::IN0 + 3),
                ("in4", fused::IN0 + 4),
                ("in5", fused::IN0 + 5),
                ("fused_out", fused::OUT),
            ],
            Family::Layout => &[("x", layout::X), ("out", layout::OUT)],
            Family::Reduce => &[("x", reduce::X), ("out", reduce::OUT)],
            Family::Random => &[
                ("x", random::X),
                ("out", random::OUT),
                ("step", random::STEP),
            ],
            Family::Gate => &[
                ("h", gate::H),
                ("s", gate::S),
                ("mask", gate::MASK),
                ("dy", gate::DY),
                ("out", gate::OUT),
                ("step", gate::STEP),
                ("bias", gate::BIAS),
            ],
            Family::Loss => &[
                ("logits", loss::LOGITS),
                ("labels", loss::LABELS),
                ("upstream", loss::UPSTREAM),
                ("out", loss::OUT),
            ],
            Family::Matmul => &[
                ("a", matmul::A),
                ("b", matmul::B),
                ("a4", matmul::A),
                ("b4", matmul::B),
                ("out", matmul::OUT),
            ],
            Family::Optim => &[
                ("p", optim::PARAM),
                ("g", optim::GRAD),
                ("s0", optim::SLOT0),
                ("s1", optim::SLOT1),
                ("step", optim::STEP),
                ("gsq", optim::GRAD_SQ),
            ],
            Family::Gather => &[
                ("gather_cfg", PARAMS),
                ("scatter_cfg", PARAMS),
                ("cast_cfg", PARAMS),
                ("src", gather::SRC),
                ("ids", gather::IDS),
                ("dst", gather::DST),
            ],
            Family::Conv => &[
                ("cfg", PARAMS),
                ("sum_cfg", PARAMS),
                ("a_src", conv::A),
                ("b_src", conv::B),
                ("out", conv::OUT),
            ],
            Family::Pool => &[
                ("cfg", PARAMS),
                ("x", pool::X),
                ("dy", pool::DY),
                ("out", pool::OUT),
            ],
            Family::Norm => &[
                ("x", norm::X),
                ("moments", norm::MOMENTS),
                ("gamma", norm::GAMMA),
                ("beta", norm::BETA),
                ("dy", norm::DY),
                ("out", norm::OUT),
            ],
            Family::Recurrent => &[
                ("xw", recurrent::XW),
                ("kernel", recurrent::KERNEL),
                ("h0", recurrent::H0),
                ("c0", recurrent::C0),
                ("rbias", recurrent::RBIAS),
                ("mask", recurrent::MASK),
                ("out", recurrent::OUT),
                ("d_outputs", recurrent::D_OUTPUTS),
                ("d_last", recurrent::D_LAST),
                ("d_state", recurrent::D_STATE),
                ("d_cell", recurrent::D_CELL),
                ("saved", recurrent::SAVED),
            ],
        }
    }

    /// The typed parameter blocks the family's shader declares (the others read the untyped
    /// words through `P(i)`, `shaders/prelude.wgsl`), as (WGSL struct name, Rust fields).
    pub fn param_blocks(self) -> Vec<(&'static str, crate::params::BlockFields)> {
        use crate::params::*;
        fn of<T: ParamBlock>() -> (&'static str, BlockFields) {
            (T::WGSL_NAME, T::FIELDS)
        }
        match self {
            Family::Gather => vec![
                of::<GatherParams>(),
                of::<ScatterParams>(),
                of::<CastParams>(),
            ],
            Family::Conv => vec![of::<ConvParams>(), of::<ChunkSumParams>()],
            Family::Pool => vec![of::<PoolParams>()],
            _ => Vec::new(),
        }
    }

    /// Whether `token` is one of the family's placeholders and occurs in its source as a word.
    pub fn has_token(self, token: &str) -> bool {
        self.tokens().contains(&token) && occurs_as_word(self.source(), token)
    }

    /// Kernels whose every access is guarded in the source, so the per-access clamps the shader
    /// compiler would add are left out.
    fn checks_its_own_bounds(self) -> bool {
        matches!(self, Family::Matmul)
    }

    /// Shared code the family's kernels use, placed after the prelude.
    fn includes(self) -> &'static str {
        match self {
            Family::Reduce | Family::Loss | Family::Norm => TREE,
            Family::Random | Family::Gate => PHILOX,
            _ => "",
        }
    }

    /// Values for the placeholders a kernel leaves unset: the whole file is compiled, so every
    /// placeholder of every entry point needs one.
    pub(crate) fn defaults(self) -> &'static [(&'static str, &'static str)] {
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
            Family::Gather => &[("CAST_EXPR", "v")],
            Family::Conv => &[
                ("CONV_MODE", "0u"),
                ("CONV_TS", "8u"),
                ("CONV_RM", "4u"),
                ("CONV_RN", "4u"),
            ],
            Family::Optim => &[("SQUARED_GRAD", "g[i] * g[i]")],
            Family::Recurrent => &[("UNITS_CAP_VALUE", "64u"), ("GATES_CAP_VALUE", "64u")],
            _ => &[],
        }
    }
}

/// Whether `word` occurs in `text` with no identifier character on either side.
pub fn occurs_as_word(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
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

    /// Replaces placeholder `name` of the family's source with `value`. `name` must be one of
    /// the family's `tokens()` (checked in debug builds; `check` says why not).
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        debug_assert!(
            self.family.has_token(name),
            "{:?} has no placeholder {name}",
            self.family
        );
        self.specialize.push((name, value.into()));
        self
    }

    /// Whether every substitution names a placeholder the family's source holds.
    pub fn check(&self) -> Result<(), String> {
        for (name, _) in &self.specialize {
            if !self.family.has_token(name) {
                return Err(format!(
                    "kernel {:?}/{} sets {name}, which is no placeholder of its family",
                    self.family, self.entry
                ));
            }
        }
        Ok(())
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
