use std::fmt;

/// The highest tensor rank any op takes or makes (every backend indexes up to this rank).
pub const MAX_RANK: usize = 6;

/// A concrete tensor shape, outermost dimension first (Keras order: batch first, channels last).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    pub fn new(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    pub fn dims(&self) -> &[usize] {
        &self.0
    }
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }
    pub fn last(&self) -> usize {
        *self.0.last().unwrap_or(&1)
    }

    /// Splits the shape around `axis` into (outer, axis length, inner) element counts.
    pub fn around(&self, axis: usize) -> (usize, usize, usize) {
        let outer = self.0[..axis].iter().product();
        let inner = self.0[axis + 1..].iter().product();
        (outer, self.0[axis], inner)
    }

    /// The shape with `axis` set to 1 (what a keepdims reduction produces).
    pub fn with_dim(&self, axis: usize, len: usize) -> Shape {
        let mut d = self.0.clone();
        d[axis] = len;
        Shape(d)
    }

    /// Numpy broadcasting of two shapes, aligned on the right.
    pub fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
        let rank = a.rank().max(b.rank());
        let mut out = vec![0; rank];
        for (i, o) in out.iter_mut().enumerate() {
            let da = a.dim_from_right(rank - 1 - i);
            let db = b.dim_from_right(rank - 1 - i);
            *o = match (da, db) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return None,
            };
        }
        Some(Shape(out))
    }

    /// Dimension `k` counted from the right, 1 past the rank.
    pub fn dim_from_right(&self, k: usize) -> usize {
        if k < self.rank() {
            self.0[self.rank() - 1 - k]
        } else {
            1
        }
    }

    /// Row-major strides of this shape aligned to `rank` dims, with 0 where the dim is broadcast.
    pub fn broadcast_strides(&self, out: &Shape) -> Vec<usize> {
        let rank = out.rank();
        let mut strides = vec![0; rank];
        let mut acc = 1;
        for k in 0..self.rank() {
            let d = self.0[self.rank() - 1 - k];
            strides[rank - 1 - k] = if d == 1 { 0 } else { acc };
            acc *= d;
        }
        strides
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        if self.0.len() == 1 {
            write!(f, ",")?;
        }
        write!(f, ")")
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape(d.to_vec())
    }
}
impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape(d.to_vec())
    }
}
impl From<Vec<usize>> for Shape {
    fn from(d: Vec<usize>) -> Self {
        Shape(d)
    }
}

/// `s` read inside an output of shape `o` seen as rows x cols (cols = the last axis): the
/// (row stride, col stride) that address it, if two strides can.
pub fn rows_view(s: &Shape, o: &Shape) -> Option<(usize, usize)> {
    let r = o.rank();
    if s.rank() > r {
        return None;
    }
    if r == 0 {
        return Some((0, 0));
    }
    let cols = o.0[r - 1];
    let aligned: Vec<usize> = std::iter::repeat_n(1, r - s.rank())
        .chain(s.0.iter().copied())
        .collect();
    let last = aligned[r - 1];
    let col_stride = usize::from(last != 1);
    let lead = &aligned[..r - 1];
    let row_stride = if lead.iter().all(|&d| d == 1) {
        0
    } else if lead == &o.0[..r - 1] {
        if last == 1 {
            1
        } else {
            cols
        }
    } else {
        return None;
    };
    Some((row_stride, col_stride))
}
