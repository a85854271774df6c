//! Kernel timing from timestamp queries: each dispatch of a profiled run is its own compute
//! pass with a timestamp written at its beginning and end; the run's timestamps are resolved
//! into one buffer and read back once it has finished.

const QUERIES_PER_SET: u32 = wgpu::QUERY_SET_MAX_QUERIES;

/// The query sets and buffers that time `dispatches` passes of one run.
pub struct PassTimer {
    sets: Vec<wgpu::QuerySet>,
    resolved: wgpu::Buffer,
    readback: wgpu::Buffer,
    dispatches: usize,
}

impl PassTimer {
    /// Whether the device was opened with what timing needs.
    pub fn supported(device: &wgpu::Device) -> bool {
        device.features().contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    pub fn new(device: &wgpu::Device, dispatches: usize) -> Self {
        let queries = (2 * dispatches).max(2) as u32;
        let sets = (0..queries.div_ceil(QUERIES_PER_SET))
            .map(|k| {
                device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("kernel timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: (queries - k * QUERIES_PER_SET).min(QUERIES_PER_SET),
                })
            })
            .collect();
        let bytes = u64::from(queries) * 8;
        let buffer = |usage, label| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        Self {
            sets,
            resolved: buffer(
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                "resolved timestamps",
            ),
            readback: buffer(
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                "timestamp readback",
            ),
            dispatches,
        }
    }

    /// Where dispatch `i` writes its beginning and end timestamps.
    pub fn writes(&self, i: usize) -> wgpu::ComputePassTimestampWrites<'_> {
        let first = 2 * i as u32;
        let set = first / QUERIES_PER_SET;
        let at = first % QUERIES_PER_SET;
        wgpu::ComputePassTimestampWrites {
            query_set: &self.sets[set as usize],
            beginning_of_pass_write_index: Some(at),
            end_of_pass_write_index: Some(at + 1),
        }
    }

    /// Records the copy of every timestamp to the readback buffer, after the run's passes.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        for (k, set) in self.sets.iter().enumerate() {
            let offset = k as u64 * u64::from(QUERIES_PER_SET) * 8;
            encoder.resolve_query_set(set, 0..set.count(), &self.resolved, offset);
        }
        encoder.copy_buffer_to_buffer(&self.resolved, 0, &self.readback, 0, self.resolved.size());
    }

    /// Seconds each dispatch took on the device, once the submit holding `resolve` is done.
    pub fn seconds(&self, device: &wgpu::Device, queue: &wgpu::Queue) -> Result<Vec<f64>, String> {
        let slice = self.readback.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| format!("waiting for the GPU failed: {e}"))?;
        let ticks: Vec<u64> = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| format!("reading the kernel timestamps failed: {e}"))?;
            bytemuck::cast_slice(&view).to_vec()
        };
        self.readback.unmap();
        let period_ns = f64::from(queue.get_timestamp_period());
        Ok((0..self.dispatches)
            .map(|i| ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period_ns * 1e-9)
            .collect())
    }
}
