//! Geometry of convolutions and pooling windows: one helper for the shape rules, both backends
//! and the tests. A 2-D window is a 1-D geometry along each of its axes.

use serde::{Deserialize, Serialize};

/// How a convolution pads its input, as Keras' `padding` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Padding {
    Valid,
    /// Output length ceil(in / stride); the odd pad goes on the right.
    Same,
    /// All padding on the left, so output t sees inputs up to t only.
    Causal,
}

impl Padding {
    pub fn from_name(name: &str) -> Option<Padding> {
        match name {
            "valid" => Some(Padding::Valid),
            "same" => Some(Padding::Same),
            "causal" => Some(Padding::Causal),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
            Padding::Causal => "causal",
        }
    }
}

/// Output position `t`, tap `j` reads input position `t * stride + j * dilation - pad_left`
/// (zero outside `0..in_len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv1dGeometry {
    pub in_len: usize,
    pub out_len: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_left: usize,
}

impl Conv1dGeometry {
    pub fn new(
        in_len: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
        padding: Padding,
    ) -> Result<Self, String> {
        if kernel == 0 || stride == 0 || dilation == 0 {
            return Err(format!(
                "kernel size, strides and dilation must be at least 1 (got {kernel}, {stride}, {dilation})"
            ));
        }
        let span = (kernel - 1) * dilation + 1;
        let (out_len, pad_left) = match padding {
            Padding::Valid => {
                if in_len < span {
                    return Err(format!(
                        "an input of length {in_len} is shorter than the kernel's span {span} \
                         (kernel size {kernel}, dilation {dilation}) with padding 'valid'"
                    ));
                }
                ((in_len - span) / stride + 1, 0)
            }
            Padding::Same => {
                let out = in_len.div_ceil(stride);
                let total = ((out - 1) * stride + span).saturating_sub(in_len);
                (out, total / 2)
            }
            Padding::Causal => (in_len.div_ceil(stride), span - 1),
        };
        if out_len == 0 {
            return Err(format!("an input of length {in_len} gives an empty output"));
        }
        Ok(Self {
            in_len,
            out_len,
            kernel,
            stride,
            dilation,
            pad_left,
        })
    }

    /// The input position output `t` reads at tap `j`, if it lies inside the input.
    pub fn input_at(&self, t: usize, j: usize) -> Option<usize> {
        let p = (t * self.stride + j * self.dilation).checked_sub(self.pad_left)?;
        (p < self.in_len).then_some(p)
    }

    /// The outputs `t_lo..t_hi` whose tap `j` reads inside the input.
    pub fn valid_outputs(&self, j: usize) -> (usize, usize) {
        let off = j * self.dilation;
        let lo = self.pad_left.saturating_sub(off).div_ceil(self.stride);
        // t * stride + off - pad_left <= in_len - 1
        let limit = self.in_len + self.pad_left;
        let hi = if limit > off {
            ((limit - off - 1) / self.stride + 1).min(self.out_len)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

/// A window over (height, width): output (r, c), tap (i, j) reads input
/// `(rows.input_at(r, i), cols.input_at(c, j))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dGeometry {
    pub rows: Conv1dGeometry,
    pub cols: Conv1dGeometry,
}

impl Conv2dGeometry {
    /// `input`, `kernel`, `strides` and `dilation` as (height, width); padding `valid` or `same`.
    pub fn new(
        input: [usize; 2],
        kernel: [usize; 2],
        strides: [usize; 2],
        dilation: [usize; 2],
        padding: Padding,
    ) -> Result<Self, String> {
        if padding == Padding::Causal {
            return Err("2-D windows take padding 'valid' or 'same', not 'causal'".into());
        }
        let axis = |a: usize, name: &str| {
            Conv1dGeometry::new(input[a], kernel[a], strides[a], dilation[a], padding)
                .map_err(|e| format!("along the {name}: {e}"))
        };
        Ok(Self {
            rows: axis(0, "height")?,
            cols: axis(1, "width")?,
        })
    }

    /// A 1-D geometry as a 2-D one of height 1.
    pub fn of_1d(cols: Conv1dGeometry) -> Self {
        Self {
            rows: Conv1dGeometry {
                in_len: 1,
                out_len: 1,
                kernel: 1,
                stride: 1,
                dilation: 1,
                pad_left: 0,
            },
            cols,
        }
    }

    /// Taps of the window: kernel height times kernel width.
    pub fn taps(&self) -> usize {
        self.rows.kernel * self.cols.kernel
    }
    /// Input positions: height times width.
    pub fn in_positions(&self) -> usize {
        self.rows.in_len * self.cols.in_len
    }
    /// Output positions: output height times output width.
    pub fn out_positions(&self) -> usize {
        self.rows.out_len * self.cols.out_len
    }
    /// The input position (flattened row-major) output `o` reads at tap `t`, if inside.
    pub fn input_at(&self, o: usize, t: usize) -> Option<usize> {
        let (r, c) = (o / self.cols.out_len, o % self.cols.out_len);
        let (i, j) = (t / self.cols.kernel, t % self.cols.kernel);
        let y = self.rows.input_at(r, i)?;
        let x = self.cols.input_at(c, j)?;
        Some(y * self.cols.in_len + x)
    }
}

/// What a pooling window computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PoolKind {
    Max,
    /// The mean over the window's positions inside the input (padding never counts).
    Average,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_puts_the_odd_pad_on_the_right() {
        // Keras: total pad = (out-1)*s + (k-1)*d + 1 - in; left = total // 2.
        let g = Conv1dGeometry::new(10, 4, 1, 1, Padding::Same).unwrap();
        assert_eq!((g.out_len, g.pad_left), (10, 1));
        let g = Conv1dGeometry::new(300, 3, 1, 2, Padding::Same).unwrap();
        assert_eq!((g.out_len, g.pad_left), (300, 2));
        let g = Conv1dGeometry::new(7, 3, 2, 1, Padding::Same).unwrap();
        assert_eq!((g.out_len, g.pad_left), (4, 1));
    }

    #[test]
    fn valid_and_causal_lengths() {
        let g = Conv1dGeometry::new(100, 3, 1, 1, Padding::Valid).unwrap();
        assert_eq!((g.out_len, g.pad_left), (98, 0));
        let g = Conv1dGeometry::new(10, 3, 3, 2, Padding::Valid).unwrap();
        assert_eq!(g.out_len, 2);
        let g = Conv1dGeometry::new(10, 3, 1, 2, Padding::Causal).unwrap();
        assert_eq!((g.out_len, g.pad_left), (10, 4));
        assert!(Conv1dGeometry::new(2, 3, 1, 1, Padding::Valid).is_err());
    }

    #[test]
    fn windows_2d_read_along_each_axis() {
        let g = Conv2dGeometry::new([7, 5], [3, 2], [2, 1], [1, 1], Padding::Same).unwrap();
        assert_eq!((g.rows.out_len, g.cols.out_len), (4, 5));
        assert_eq!((g.rows.pad_left, g.cols.pad_left), (1, 0));
        // Output (1, 4), tap (2, 0): row 1*2 + 2 - 1 = 3, column 4.
        assert_eq!(g.input_at(5 + 4, 2 * 2), Some(3 * 5 + 4));
        // Output (0, 4), tap (0, 1): row -1 is padding.
        assert_eq!(g.input_at(4, 1), None);
        assert!(
            Conv2dGeometry::new([4, 4], [5, 1], [1, 1], [1, 1], Padding::Valid)
                .unwrap_err()
                .contains("height")
        );
        assert!(Conv2dGeometry::new([4, 4], [1, 1], [1, 1], [1, 1], Padding::Causal).is_err());
    }

    #[test]
    fn valid_outputs_match_input_at() {
        for (l, k, s, d, p) in [
            (10, 3, 1, 1, Padding::Same),
            (11, 4, 2, 3, Padding::Same),
            (9, 3, 2, 2, Padding::Causal),
            (12, 2, 3, 1, Padding::Valid),
        ] {
            let g = Conv1dGeometry::new(l, k, s, d, p).unwrap();
            for j in 0..k {
                let (lo, hi) = g.valid_outputs(j);
                for t in 0..g.out_len {
                    assert_eq!(g.input_at(t, j).is_some(), (lo..hi).contains(&t));
                }
            }
        }
    }
}
