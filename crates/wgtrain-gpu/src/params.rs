//! Typed parameter blocks: a `#[repr(C)]` struct of 4-byte scalars per kernel (or kernel
//! family), mirrored by a WGSL `struct` of the same name, fields and order declared in that
//! family's shader and bound as `var<uniform>` at `binding::PARAMS`. The unit tests parse every
//! shader and check that each block's WGSL layout is the Rust one.

use crate::lower::PARAM_WORDS;

/// (field, WGSL scalar type, byte offset) of each field of a block, in declaration order.
pub type BlockFields = &'static [(&'static str, &'static str, usize)];

/// A parameter block: a Rust struct whose WGSL counterpart, `WGSL_NAME`, has the same fields.
pub trait ParamBlock: Copy + 'static {
    const WGSL_NAME: &'static str;
    const FIELDS: BlockFields;

    /// The block as the words a dispatch uploads.
    fn words(&self) -> [u32; PARAM_WORDS];
}

/// Declares a parameter block. Fields are `u32`, `i32` or `f32`, spelled the same in Rust and
/// WGSL, so both layouts are 4 bytes a field with no padding.
macro_rules! param_block {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ident),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        // SAFETY: a repr(C) struct of 4-byte scalars has no padding and every bit pattern is
        // a valid value.
        unsafe impl bytemuck::Zeroable for $name {}
        unsafe impl bytemuck::Pod for $name {}

        impl $crate::params::ParamBlock for $name {
            const WGSL_NAME: &'static str = stringify!($name);
            const FIELDS: $crate::params::BlockFields = &[
                $((stringify!($field), stringify!($ty), std::mem::offset_of!($name, $field)),)*
            ];

            fn words(&self) -> [u32; $crate::lower::PARAM_WORDS] {
                let src: &[u32] = bytemuck::cast_slice(bytemuck::bytes_of(self));
                let mut out = [0u32; $crate::lower::PARAM_WORDS];
                out[..src.len()].copy_from_slice(src);
                out
            }
        }

        const _: () = assert!(
            std::mem::size_of::<$name>() <= 4 * $crate::lower::PARAM_WORDS,
            "a parameter block fits the uploaded words"
        );
    };
}

param_block! {
    /// `gather` in `shaders/gather.wgsl`.
    GatherParams {
        /// Output values: positions x width.
        n: u32,
        /// Values per row.
        width: u32,
        /// Rows of the table.
        rows: u32,
    }
}

param_block! {
    /// `scatter_add_rows` in `shaders/gather.wgsl`: one dispatch adds positions
    /// `first..end` (and zeroes the output first when `zero` is 1).
    ScatterParams {
        width: u32,
        rows: u32,
        /// Rows each invocation owns.
        block_rows: u32,
        /// Invocations: row blocks x width.
        invocations: u32,
        first: u32,
        end: u32,
        zero: u32,
    }
}

param_block! {
    /// `cast` in `shaders/gather.wgsl`.
    CastParams {
        n: u32,
    }
}

param_block! {
    /// The implicit GEMMs of `shaders/conv.wgsl`: out (m x n) = A (m x k) @ B (k x n), with A
    /// and B read in place from the convolution's operands. Workgroup z computes the products
    /// over k in `z * k_chunk .. (z + 1) * k_chunk`, written `z * chunk_stride` further on.
    ConvParams {
        m: u32,
        n: u32,
        k: u32,
        k_chunk: u32,
        chunk_stride: u32,
        /// Input height and width (a 1-D convolution: height 1).
        in_h: u32,
        in_w: u32,
        /// Output height and width.
        out_h: u32,
        out_w: u32,
        /// Kernel width.
        kw: u32,
        cin: u32,
        cout: u32,
        stride_h: u32,
        stride_w: u32,
        dil_h: u32,
        dil_w: u32,
        pad_top: u32,
        pad_left: u32,
    }
}

param_block! {
    /// `conv_sum_chunks` in `shaders/conv.wgsl`: out[i] = sum over c of partial[c * n + i].
    ChunkSumParams {
        n: u32,
        chunks: u32,
    }
}

param_block! {
    /// `pool2d`, `pool2d_grad_mean` and `pool2d_grad_max` in `shaders/pool.wgsl`.
    PoolParams {
        /// Values computed: outputs (forward) or inputs (gradients).
        n: u32,
        channels: u32,
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        kh: u32,
        kw: u32,
        stride_h: u32,
        stride_w: u32,
        pad_top: u32,
        pad_left: u32,
        /// 0: maximum, 1: mean.
        average: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_fields_in_order() {
        let p = ConvParams {
            m: 1,
            n: 2,
            k: 3,
            pad_left: 12,
            ..Default::default()
        };
        let w = p.words();
        assert_eq!(&w[..4], &[1, 2, 3, 0]);
        assert_eq!(w[17], 12);
        assert!(w[18..].iter().all(|&v| v == 0));
        assert_eq!(ConvParams::FIELDS[17], ("pad_left", "u32", 68));
    }
}
