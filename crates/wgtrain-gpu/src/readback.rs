//! Scalar outputs (loss, metrics) come back through a ring of small mappable buffers: each run
//! copies its scalars into the next one, which is mapped once that run finishes, so collecting
//! a step late never makes the device wait.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use wgtrain_graph::backend::{MAX_SCALARS, RECENT_RUNS};

const PENDING: u8 = 0;
const MAPPED: u8 = 1;
const FAILED: u8 = 2;

pub struct ScalarRing {
    buffers: Vec<wgpu::Buffer>,
    state: Vec<Arc<AtomicU8>>,
    lens: [usize; RECENT_RUNS],
    submissions: Vec<Option<wgpu::SubmissionIndex>>,
    first: usize,
    len: usize,
}

impl ScalarRing {
    pub fn new(device: &wgpu::Device) -> Self {
        let buffers = (0..RECENT_RUNS)
            .map(|_| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("scalar readback"),
                    size: (MAX_SCALARS * 4) as u64,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        Self {
            buffers,
            state: (0..RECENT_RUNS)
                .map(|_| Arc::new(AtomicU8::new(PENDING)))
                .collect(),
            lens: [0; RECENT_RUNS],
            submissions: vec![None; RECENT_RUNS],
            first: 0,
            len: 0,
        }
    }

    /// Encodes copies of the scalars at `offsets` (f32 elements of `arena`) into the next ring
    /// buffer, and its mapping once the command buffer has run. A full ring drops its oldest run.
    pub fn record(
        &mut self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        arena: &wgpu::Buffer,
        offsets: &[usize],
    ) -> Result<(), String> {
        if self.len == RECENT_RUNS {
            self.pop(device, &mut |_| {})?;
        }
        let slot = (self.first + self.len) % RECENT_RUNS;
        let buffer = &self.buffers[slot];
        for (k, &offset) in offsets.iter().enumerate() {
            encoder.copy_buffer_to_buffer(arena, (offset * 4) as u64, buffer, (k * 4) as u64, 4);
        }
        let state = self.state[slot].clone();
        state.store(PENDING, Ordering::Release);
        encoder.map_buffer_on_submit(buffer, wgpu::MapMode::Read, .., move |r| {
            state.store(if r.is_ok() { MAPPED } else { FAILED }, Ordering::Release);
        });
        self.lens[slot] = offsets.len();
        self.submissions[slot] = None;
        self.len += 1;
        Ok(())
    }

    /// Notes the submission that carries the run recorded last.
    pub fn submitted(&mut self, index: wgpu::SubmissionIndex) {
        let slot = (self.first + self.len + RECENT_RUNS - 1) % RECENT_RUNS;
        self.submissions[slot] = Some(index);
    }

    pub fn take(
        &mut self,
        device: &wgpu::Device,
        keep_latest: bool,
        sink: &mut dyn FnMut(&[f32]),
    ) -> Result<(), String> {
        while self.len > usize::from(keep_latest) {
            self.pop(device, sink)?;
        }
        Ok(())
    }

    fn pop(&mut self, device: &wgpu::Device, sink: &mut dyn FnMut(&[f32])) -> Result<(), String> {
        let slot = self.first;
        if self.state[slot].load(Ordering::Acquire) == PENDING {
            device
                .poll(wgpu::PollType::Wait {
                    submission_index: self.submissions[slot].clone(),
                    timeout: None,
                })
                .map_err(|e| format!("waiting for the GPU failed: {e}"))?;
        }
        self.first = (self.first + 1) % RECENT_RUNS;
        self.len -= 1;
        match self.state[slot].load(Ordering::Acquire) {
            MAPPED => {
                let buffer = &self.buffers[slot];
                {
                    let view = buffer
                        .slice(..)
                        .get_mapped_range()
                        .map_err(|e| format!("reading the loss back from the GPU failed: {e}"))?;
                    let values: &[f32] = bytemuck::cast_slice(&view);
                    sink(&values[..self.lens[slot]]);
                }
                buffer.unmap();
                self.state[slot].store(PENDING, Ordering::Release);
                Ok(())
            }
            _ => Err("reading the loss back from the GPU failed".into()),
        }
    }
}
