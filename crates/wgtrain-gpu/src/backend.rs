//! The GPU backend: a compiled plan owns one arena buffer, one parameter-block buffer and a
//! pipeline and bind group per dispatch, all made at compile time. A run uploads the batch and
//! the step block, records every dispatch (forward, loss, backward, optimizer) into one command
//! buffer and submits it once.

use crate::adapter::{pick, AdapterChoice};
use crate::kernels::PipelineCache;
use crate::lower::FUSION_LIMITS;
use crate::lower::{lower_node, lower_update, Buf, Dispatch};
use crate::profile::PassTimer;
use crate::readback::ScalarRing;
use crate::tuning::Tuning;
use std::sync::{Arc, Mutex};
use wgtrain_graph::backend::{
    check_params, check_slot_values, feed_inputs, scalar_nodes, stored, BackendError,
    BackendResult, BackendStats, Feed, Stored, MAX_SCALARS,
};
use wgtrain_graph::fusion::Fusion;
use wgtrain_graph::{Backend, NodeId, Op, ParamId, Phase, Plan, PlanId, StepArgs};

/// Bytes between the parameter blocks of consecutive dispatches: the largest uniform offset
/// alignment WebGPU allows an adapter to ask for.
const PARAM_BLOCK_STRIDE: u64 = 256;
const PARAM_BLOCK_BYTES: u64 = (crate::lower::PARAM_WORDS * 4) as u64;

pub struct GpuBackend {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    tuning: Tuning,
    pipelines: PipelineCache,
    params: Vec<Option<(wgpu::Buffer, usize)>>,
    /// Bumped when a parameter gets a new buffer: plans compiled before then are stale.
    param_generation: Vec<u64>,
    optimizer_slots: Vec<Option<[wgpu::Buffer; 2]>>,
    /// Bound where a kernel declares a state tensor its optimizer does not use.
    unused: wgpu::Buffer,
    step: wgpu::Buffer,
    plans: Vec<Compiled>,
    ring: ScalarRing,
    staging: Option<wgpu::Buffer>,
    errors: Arc<Mutex<Option<String>>>,
    stats: BackendStats,
}

struct Compiled {
    plan: Plan,
    arena: wgpu::Buffer,
    _blocks: wgpu::Buffer,
    _scratch: wgpu::Buffer,
    dispatches: Vec<Recorded>,
    /// Arena offsets of the loss and metrics.
    scalars: Vec<usize>,
    /// The generation of every parameter the plan binds, when it was compiled.
    param_generations: Vec<(ParamId, u64)>,
}

/// One dispatch of a compiled plan, ready to record.
struct Recorded {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    groups: [u32; 3],
    /// The kernel's entry point, which names it in profiles.
    entry: &'static str,
}

impl Recorded {
    fn record(&self, pass: &mut wgpu::ComputePass) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.groups[0], self.groups[1], self.groups[2]);
    }
}

fn err(msg: impl Into<String>) -> BackendError {
    BackendError(msg.into())
}

fn gpu_error_text(e: &wgpu::Error) -> String {
    match e {
        wgpu::Error::OutOfMemory { .. } => "out of device memory: the model or batch does not \
            fit on this GPU; use a smaller batch size or the CPU backend (Device::Cpu)"
            .to_string(),
        other => other.to_string(),
    }
}

impl GpuBackend {
    /// Opens the adapter `choice` names and a device with its full limits.
    pub fn new(choice: AdapterChoice) -> BackendResult<Self> {
        Self::open(choice, false).map_err(BackendError)
    }

    /// Like `new`, but with the kernels chosen for hardware GPUs whatever the adapter, so a
    /// software adapter can test them.
    pub fn with_gpu_kernels(choice: AdapterChoice) -> BackendResult<Self> {
        Self::open(choice, true).map_err(BackendError)
    }

    fn open(choice: AdapterChoice, gpu_kernels: bool) -> Result<Self, String> {
        let adapter = pick(choice)?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("wgtrain"),
            required_features: adapter.features() & wgpu::Features::TIMESTAMP_QUERY,
            required_limits: limits.clone(),
            memory_hints: wgpu::MemoryHints::Performance,
            ..Default::default()
        }))
        .map_err(|e| format!("could not open {} ({}): {e}", info.name, choice))?;
        let errors: Arc<Mutex<Option<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock()
                .expect("error slot")
                .get_or_insert(gpu_error_text(&e));
        }));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, message| {
            if reason != wgpu::DeviceLostReason::Destroyed {
                sink.lock().expect("error slot").get_or_insert(format!(
                    "the GPU device was lost ({message}); the run cannot continue on it, \
                     rerun on the CPU backend (Device::Cpu) or after the driver recovers"
                ));
            }
        });
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let unused = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("unused state"),
            size: 256,
            usage: storage,
            mapped_at_creation: false,
        });
        let step = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("step block"),
            size: 32,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let ring = ScalarRing::new(&device);
        let mut tuning = Tuning::for_adapter(&info, &limits);
        if gpu_kernels {
            tuning = tuning.with_gpu_kernels(&limits);
        }
        Ok(Self {
            tuning,
            device,
            queue,
            info,
            limits,
            pipelines: PipelineCache::default(),
            params: Vec::new(),
            param_generation: Vec::new(),
            optimizer_slots: Vec::new(),
            unused,
            step,
            plans: Vec::new(),
            ring,
            staging: None,
            errors,
            stats: BackendStats::default(),
        })
    }

    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// Dispatches one run of a compiled plan records.
    pub fn dispatches(&self, id: PlanId) -> BackendResult<usize> {
        Ok(self.compiled(id)?.dispatches.len())
    }

    fn compiled(&self, id: PlanId) -> BackendResult<&Compiled> {
        self.plans
            .get(id.0)
            .ok_or_else(|| err(format!("no compiled plan {}", id.0)))
    }

    /// Distinct compute pipelines built so far.
    pub fn pipelines_built(&self) -> usize {
        self.pipelines.len()
    }

    fn check(&self) -> BackendResult<()> {
        match self.errors.lock().expect("error slot").as_ref() {
            Some(msg) => Err(err(format!("GPU error on {}: {msg}", self.info.name))),
            None => Ok(()),
        }
    }

    fn buffer(&self, size: u64, usage: wgpu::BufferUsages, label: &str) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4).next_multiple_of(4),
            usage,
            mapped_at_creation: false,
        })
    }

    /// Runs `make` and turns an allocation failure into an error that names `what`.
    fn allocating<T>(&self, what: &str, bytes: u64, make: impl FnOnce() -> T) -> BackendResult<T> {
        if bytes > self.limits.max_buffer_size {
            return Err(err(format!(
                "{what} needs {bytes} bytes, more than this GPU's largest buffer ({} bytes); \
                 use a smaller batch size or the CPU backend (Device::Cpu)",
                self.limits.max_buffer_size
            )));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let value = make();
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(err(format!(
                "{what} ({bytes} bytes): {}",
                gpu_error_text(&e)
            )));
        }
        Ok(value)
    }

    fn param_buffer(&self, id: ParamId) -> BackendResult<&(wgpu::Buffer, usize)> {
        self.params
            .get(id.0)
            .and_then(|p| p.as_ref())
            .ok_or_else(|| err(format!("parameter {} was never set", id.0)))
    }

    /// Copies `out.len()` values from `src` at byte `offset` to the host, waiting for the device.
    fn download(&mut self, src: &wgpu::Buffer, offset: u64, out: &mut [f32]) -> BackendResult<()> {
        let bytes = (out.len() * 4) as u64;
        if bytes == 0 {
            return Ok(());
        }
        if self.staging.as_ref().is_none_or(|s| s.size() < bytes) {
            let staging = self.allocating("a readback buffer", bytes, || {
                self.buffer(
                    bytes,
                    wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    "readback",
                )
            })?;
            self.staging = Some(staging);
        }
        let staging = self.staging.as_ref().expect("staging exists");
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(src, offset, staging, 0, bytes);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..bytes);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| err(format!("waiting for the GPU failed: {e}")))?;
        self.check()?;
        {
            let view = slice
                .get_mapped_range()
                .map_err(|e| err(format!("reading back from the GPU failed: {e}")))?;
            out.copy_from_slice(bytemuck::cast_slice(&view));
        }
        staging.unmap();
        Ok(())
    }

    fn binding_size_check(&self, plan: &Plan) -> BackendResult<()> {
        let max = self.limits.max_storage_buffer_binding_size;
        for &id in &plan.schedule {
            let node = plan.graph.node(id);
            let bytes = (node.shape.numel() * 4) as u64;
            if bytes > max {
                return Err(err(format!(
                    "the {} result of shape {} takes {bytes} bytes, more than this GPU binds at \
                     once (max_storage_buffer_binding_size = {max}); use a smaller batch \
                     size or the CPU backend (Device::Cpu)",
                    node.op.name(),
                    node.shape
                )));
            }
        }
        Ok(())
    }

    fn resolve<'a>(
        &'a self,
        arena: &'a wgpu::Buffer,
        scratch: &'a wgpu::Buffer,
        buf: Buf,
    ) -> wgpu::BindingResource<'a> {
        let range = |buffer, offset: usize, len: usize| {
            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer,
                offset: (offset * 4) as u64,
                size: wgpu::BufferSize::new((len * 4) as u64),
            })
        };
        match buf {
            Buf::Arena { offset, len } => range(arena, offset, len),
            Buf::Scratch { offset, len } => range(scratch, offset, len),
            Buf::Param(id) => self.params[id.0]
                .as_ref()
                .expect("parameters are checked at compile")
                .0
                .as_entire_binding(),
            Buf::OptimizerSlot(id, k) => {
                let used = self.plans_optimizer_slots_for(id, k);
                used.unwrap_or(&self.unused).as_entire_binding()
            }
            Buf::Step => self.step.as_entire_binding(),
        }
    }

    fn plans_optimizer_slots_for(&self, id: ParamId, k: usize) -> Option<&wgpu::Buffer> {
        self.optimizer_slots
            .get(id.0)
            .and_then(|s| s.as_ref())
            .map(|s| &s[k])
    }

    fn ensure_optimizer_slots(&mut self, plan: &Plan) -> BackendResult<()> {
        let Some(spec) = &plan.optimizer else {
            return Ok(());
        };
        if spec.slots() == 0 {
            return Ok(());
        }
        for u in &plan.updates {
            self.allocate_optimizer_slots(u.param)?;
        }
        Ok(())
    }

    /// The two optimizer-state buffers of parameter `id` (zeros), unless it has them.
    fn allocate_optimizer_slots(&mut self, id: ParamId) -> BackendResult<()> {
        if self.optimizer_slots.len() < self.params.len() {
            self.optimizer_slots.resize_with(self.params.len(), || None);
        }
        if self.optimizer_slots[id.0].is_some() {
            return Ok(());
        }
        let n = self.param_buffer(id)?.1;
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let slots = self.allocating("optimizer state", (2 * n * 4) as u64, || {
            [
                self.buffer((n * 4) as u64, usage, "optimizer state"),
                self.buffer((n * 4) as u64, usage, "optimizer state"),
            ]
        })?;
        self.optimizer_slots[id.0] = Some(slots);
        self.stats.device_bytes += (2 * n * 4) as u64;
        Ok(())
    }

    /// Uploads the inputs and step block and submits one run: every dispatch, the state
    /// assignments and the scalars' copy to the ring, in one command buffer. With a `timer`
    /// each dispatch is its own timed pass.
    fn submit_run(
        &mut self,
        id: PlanId,
        inputs: &[Feed],
        args: &StepArgs,
        timer: Option<&PassTimer>,
    ) -> BackendResult<()> {
        self.check()?;
        let compiled = self
            .plans
            .get(id.0)
            .ok_or_else(|| err(format!("no compiled plan {}", id.0)))?;
        let plan = &compiled.plan;
        for &(p, generation) in &compiled.param_generations {
            if self.param_generation[p.0] != generation {
                return Err(err(format!(
                    "parameter {} was resized after plan {} was compiled; compile it again",
                    p.0, id.0
                )));
            }
        }
        let queue = &self.queue;
        if args.phase.computes() {
            feed_inputs(plan, inputs, |slot, data| {
                queue.write_buffer(
                    &compiled.arena,
                    (slot.offset * 4) as u64,
                    bytemuck::cast_slice(data),
                )
            })?;
        }
        // The optimizer's dispatches come last, one per update.
        let updates = if plan.optimizer.is_some() {
            plan.updates.len()
        } else {
            0
        };
        let split = compiled.dispatches.len() - updates;
        let phase = match args.phase {
            Phase::Whole => &compiled.dispatches[..],
            Phase::Gradients => &compiled.dispatches[..split],
            Phase::Updates => &compiled.dispatches[split..],
        };
        let mut block = [0u32; 8];
        block[0] = args.seed as u32;
        block[1] = (args.seed >> 32) as u32;
        block[2] = args.step as u32;
        block[3] = (args.step >> 32) as u32;
        for (dst, v) in block[4..].iter_mut().zip(args.optimizer) {
            *dst = v.to_bits();
        }
        self.queue
            .write_buffer(&self.step, 0, bytemuck::cast_slice(&block));

        let mut encoder = self.device.create_command_encoder(&Default::default());
        match timer {
            None => {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
                for d in phase {
                    d.record(&mut pass);
                }
            }
            Some(timer) => {
                for (i, d) in phase.iter().enumerate() {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(d.entry),
                        timestamp_writes: Some(timer.writes(i)),
                    });
                    d.record(&mut pass);
                }
                timer.resolve(&mut encoder);
            }
        }
        // State updates after the optimizer, in the same submit.
        let assigns = if args.phase.updates() {
            &plan.assigns[..]
        } else {
            &[]
        };
        for a in assigns {
            let slot = plan.slots[a.value.0].expect("an assigned value has a slot");
            let Some(Some((param, n))) = self.params.get(a.param.0) else {
                return Err(err(format!("parameter {} was never set", a.param.0)));
            };
            if *n != slot.len {
                return Err(err(format!(
                    "parameter {} holds {n} values but is assigned {}",
                    a.param.0, slot.len
                )));
            }
            encoder.copy_buffer_to_buffer(
                &compiled.arena,
                (slot.offset * 4) as u64,
                param,
                0,
                (slot.len * 4) as u64,
            );
        }
        let recorded = args.phase.computes() && !compiled.scalars.is_empty();
        if recorded {
            self.ring
                .record(
                    &self.device,
                    &mut encoder,
                    &compiled.arena,
                    &compiled.scalars,
                )
                .map_err(err)?;
        }
        let dispatches = phase.len() as u64;
        let index = self.queue.submit([encoder.finish()]);
        if recorded {
            self.ring.submitted(index);
        }
        self.stats.runs += 1;
        self.stats.submits += 1;
        self.stats.dispatches += dispatches;
        Ok(())
    }

    fn lower(&self, plan: &Plan, fusion: &Fusion) -> BackendResult<Vec<Dispatch>> {
        let mut out = Vec::new();
        for &id in &plan.schedule {
            out.extend(lower_node(plan, id, self.tuning, fusion).map_err(err)?);
        }
        if let Some(spec) = &plan.optimizer {
            for u in &plan.updates {
                let n = self.param_buffer(u.param)?.1;
                out.push(lower_update(spec, plan, u, n).map_err(err)?);
            }
        }
        Ok(out)
    }
}

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        format!(
            "gpu: {} ({:?}, {:?}){}",
            self.info.name,
            self.info.backend,
            self.info.device_type,
            if self.tuning.matmul_direct {
                ""
            } else if self.info.device_type == wgpu::DeviceType::Cpu {
                " with the hardware-GPU kernels"
            } else {
                ""
            }
        )
    }

    fn set_param(&mut self, id: ParamId, values: &[f32]) -> BackendResult<()> {
        if self.params.len() <= id.0 {
            self.params.resize_with(id.0 + 1, || None);
            self.param_generation.resize(id.0 + 1, 0);
        }
        match &self.params[id.0] {
            Some((_, n)) if *n == values.len() => {}
            held => {
                let old = held.as_ref().map_or(0, |(_, n)| *n as u64 * 4);
                self.param_generation[id.0] += 1;
                if let Some(slots) = self.optimizer_slots.get_mut(id.0) {
                    if slots.take().is_some() {
                        self.stats.device_bytes -= 2 * old;
                    }
                }
                self.stats.device_bytes -= old;
                let bytes = (values.len() * 4) as u64;
                let usage = wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC;
                let buffer =
                    self.allocating("a parameter", bytes, || self.buffer(bytes, usage, "param"))?;
                self.stats.device_bytes += bytes;
                self.params[id.0] = Some((buffer, values.len()));
            }
        }
        let (buffer, _) = self.params[id.0].as_ref().expect("just set");
        self.queue
            .write_buffer(buffer, 0, bytemuck::cast_slice(values));
        self.check()
    }

    fn read_param(&mut self, id: ParamId, out: &mut [f32]) -> BackendResult<()> {
        let (buffer, n) = self.param_buffer(id)?.clone();
        if n != out.len() {
            return Err(err(format!(
                "parameter {} has {n} values, asked for {}",
                id.0,
                out.len()
            )));
        }
        self.download(&buffer, 0, out)
    }

    fn read_optimizer_slot(
        &mut self,
        id: ParamId,
        k: usize,
        out: &mut [f32],
    ) -> BackendResult<bool> {
        let n = self.param_buffer(id)?.1;
        let Some(slot) = self.plans_optimizer_slots_for(id, k.min(1)).cloned() else {
            return Ok(false);
        };
        if k > 1 || n != out.len() {
            return Ok(false);
        }
        self.download(&slot, 0, out)?;
        Ok(true)
    }

    fn write_optimizer_slot(&mut self, id: ParamId, k: usize, values: &[f32]) -> BackendResult<()> {
        let n = self.param_buffer(id)?.1;
        check_slot_values(id, k, n, values.len())?;
        self.allocate_optimizer_slots(id)?;
        let slot = self
            .plans_optimizer_slots_for(id, k)
            .expect("allocated just above");
        self.queue
            .write_buffer(slot, 0, bytemuck::cast_slice(values));
        Ok(())
    }

    fn reset_optimizer(&mut self) {
        let mut encoder = self.device.create_command_encoder(&Default::default());
        for slots in self.optimizer_slots.iter().flatten() {
            for s in slots {
                encoder.clear_buffer(s, 0, None);
            }
        }
        self.queue.submit([encoder.finish()]);
    }

    fn compile(&mut self, plan: Plan) -> BackendResult<PlanId> {
        self.check()?;
        let fusion = Fusion::of(&plan, FUSION_LIMITS);
        let plan = fusion.relayout(plan);
        let scalars: Vec<usize> = scalar_nodes(&plan)
            .map(|n| plan.slots[n.0].expect("a scalar output has a slot").offset)
            .collect();
        if scalars.len() > MAX_SCALARS {
            return Err(err(format!(
                "a plan may report at most {MAX_SCALARS} scalars (the loss and metrics)"
            )));
        }
        check_params(&plan, |id| self.param_buffer(id).ok().map(|p| p.1))?;
        self.binding_size_check(&plan)?;
        self.ensure_optimizer_slots(&plan)?;
        let arena_bytes = (plan.arena_len * 4) as u64;
        let arena = self.allocating("the plan's activations and gradients", arena_bytes, || {
            self.buffer(
                arena_bytes,
                wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
                "arena",
            )
        })?;
        for (i, node) in plan.graph.nodes.iter().enumerate() {
            if let (Op::Const { value }, Some(slot)) = (&node.op, plan.slots[i]) {
                self.queue.write_buffer(
                    &arena,
                    (slot.offset * 4) as u64,
                    bytemuck::bytes_of(value),
                );
            }
        }

        let lowered = self.lower(&plan, &fusion)?;
        let scratch_len = lowered
            .iter()
            .flat_map(|d| &d.bindings)
            .filter_map(|(_, b)| match b {
                Buf::Scratch { offset, len } => Some(offset + len),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let scratch_bytes = (scratch_len * 4) as u64;
        if scratch_bytes > self.limits.max_storage_buffer_binding_size {
            return Err(err(format!(
                "a convolution's partial products take {scratch_bytes} bytes, more than this GPU \
                 binds at once (max_storage_buffer_binding_size = {}); use a smaller batch \
                 size or the CPU backend (Device::Cpu)",
                self.limits.max_storage_buffer_binding_size
            )));
        }
        let scratch = self.allocating("the plan's scratch values", scratch_bytes, || {
            self.buffer(scratch_bytes, wgpu::BufferUsages::STORAGE, "scratch")
        })?;
        self.stats.device_bytes += arena_bytes + scratch_bytes;
        let blocks = self.buffer(
            lowered.len() as u64 * PARAM_BLOCK_STRIDE,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            "parameter blocks",
        );
        let mut dispatches = Vec::with_capacity(lowered.len());
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        for (i, d) in lowered.iter().enumerate() {
            let at = i as u64 * PARAM_BLOCK_STRIDE;
            self.queue
                .write_buffer(&blocks, at, bytemuck::cast_slice(&d.params));
            let pipeline = self
                .pipelines
                .get_or_build(&self.device, &d.kernel)
                .map_err(err)?;
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &blocks,
                    offset: at,
                    size: wgpu::BufferSize::new(PARAM_BLOCK_BYTES),
                }),
            }];
            for &(binding, buf) in &d.bindings {
                entries.push(wgpu::BindGroupEntry {
                    binding,
                    resource: self.resolve(&arena, &scratch, buf),
                });
            }
            let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(d.kernel.entry),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            dispatches.push(Recorded {
                pipeline,
                bind_group,
                groups: d.groups,
                entry: d.kernel.entry,
            });
        }
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(err(format!("preparing the plan for the GPU failed: {e}")));
        }
        let param_generations = plan
            .params
            .iter()
            .map(|(id, _)| (*id, self.param_generation[id.0]))
            .collect();
        self.plans.push(Compiled {
            plan,
            arena,
            _blocks: blocks,
            _scratch: scratch,
            dispatches,
            scalars,
            param_generations,
        });
        Ok(PlanId(self.plans.len() - 1))
    }

    fn plan(&self, id: PlanId) -> &Plan {
        &self.plans[id.0].plan
    }

    fn run(&mut self, id: PlanId, inputs: &[Feed], args: &StepArgs) -> BackendResult<()> {
        let started = std::time::Instant::now();
        self.submit_run(id, inputs, args, None)?;
        self.stats.host_seconds += started.elapsed().as_secs_f64();
        Ok(())
    }

    fn profile(
        &mut self,
        id: PlanId,
        inputs: &[Feed],
        args: &StepArgs,
    ) -> BackendResult<Vec<(String, f64)>> {
        if !PassTimer::supported(&self.device) {
            return Err(err(format!(
                "{} does not support timestamp queries, so its kernels cannot be timed; \
                 profile on another adapter or on the CPU backend",
                self.info.name
            )));
        }
        let timer = PassTimer::new(&self.device, self.compiled(id)?.dispatches.len());
        self.submit_run(id, inputs, args, Some(&timer))?;
        let seconds = timer.seconds(&self.device, &self.queue).map_err(err)?;
        self.check()?;
        let compiled = self.compiled(id)?;
        Ok(compiled
            .dispatches
            .iter()
            .zip(seconds)
            .map(|(d, t)| (d.entry.to_string(), t))
            .collect())
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }

    fn synchronize(&mut self) -> BackendResult<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| err(format!("waiting for the GPU failed: {e}")))?;
        self.check()
    }

    fn read(&mut self, id: PlanId, node: NodeId, out: &mut [f32]) -> BackendResult<()> {
        let compiled = self.compiled(id)?;
        match stored(&compiled.plan, node, out.len())? {
            Stored::Param(id) => self.read_param(id, out),
            Stored::Slot(slot) => {
                let arena = compiled.arena.clone();
                self.download(&arena, (slot.offset * 4) as u64, out)
            }
        }
    }

    fn take_scalars(
        &mut self,
        keep_latest: bool,
        sink: &mut dyn FnMut(&[f32]),
    ) -> BackendResult<()> {
        self.ring
            .take(&self.device, keep_latest, sink)
            .map_err(err)?;
        self.check()
    }
}
