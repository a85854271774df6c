//! CPU kernels, one file per op family. Each works on slices the executor hands it; none allocates.

pub mod batch_norm;
pub mod conv;
pub mod conv2d;
mod conv_sparse;
mod conv_winograd;
pub mod elementwise;
mod exp;
pub mod fused;
pub mod gate;
pub mod gather;
mod gemm_avx512;
pub mod layout;
pub mod loss;
pub mod matmul;
pub mod optim;
pub mod pool;
pub mod recurrent;
pub mod reduce;
#[cfg(test)]
mod test_values;

/// Above this many elements an elementwise kernel splits its work across threads.
pub const PAR_MIN: usize = 1 << 15;
/// Chunk size for parallel elementwise work.
pub const PAR_CHUNK: usize = 1 << 13;

/// A buffer's start, handed to worker threads that each write their own disjoint part of it.
pub(crate) struct SendPtr(pub *mut f32);
// SAFETY: used only to hand disjoint parts of one buffer to worker threads.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so that closures capture the whole `SendPtr`).
    pub(crate) fn get(&self) -> *mut f32 {
        self.0
    }
}

/// `dst (cols x rows) = src (rows x cols)^T`, both row-major.
pub(crate) fn transpose(src: &[f32], cols: usize, dst: &mut [f32]) {
    let rows = src.len() / cols.max(1);
    for (r, row) in src.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            dst[c * rows + r] = v;
        }
    }
}
