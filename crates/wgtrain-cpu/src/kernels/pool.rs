//! 2-D max and average pooling over channels-last images, and their gradients. Padding never
//! enters a window: a maximum is over the window's inside positions, a mean divides by their
//! count.

use rayon::prelude::*;
use wgtrain_graph::{Conv2dGeometry, PoolKind};

/// Inside positions of output `o`'s window, in tap order.
fn window(geo: &Conv2dGeometry, o: usize) -> impl Iterator<Item = usize> + '_ {
    (0..geo.taps()).filter_map(move |t| geo.input_at(o, t))
}

/// y[b, o, ch] = max or mean over the window of output o of x[b, p, ch].
pub fn pool2d(kind: PoolKind, geo: &Conv2dGeometry, x: &[f32], y: &mut [f32], c: usize) {
    let (ins, outs) = (geo.in_positions(), geo.out_positions());
    y.par_chunks_mut(outs * c)
        .zip(x.par_chunks(ins * c))
        .for_each(|(y, x)| {
            for (o, y) in y.chunks_exact_mut(c).enumerate() {
                match kind {
                    PoolKind::Max => {
                        y.fill(f32::NEG_INFINITY);
                        for p in window(geo, o) {
                            for (v, &s) in y.iter_mut().zip(&x[p * c..][..c]) {
                                *v = v.max(s);
                            }
                        }
                    }
                    PoolKind::Average => {
                        y.fill(0.0);
                        let mut count = 0;
                        for p in window(geo, o) {
                            count += 1;
                            for (v, &s) in y.iter_mut().zip(&x[p * c..][..c]) {
                                *v += s;
                            }
                        }
                        let count = count as f32;
                        y.iter_mut().for_each(|v| *v /= count);
                    }
                }
            }
        });
}

/// dx of `pool2d`: each window's dy to the first maximum of its channel (`x` given), or
/// shared evenly by its inside positions.
pub fn pool2d_grad(
    kind: PoolKind,
    geo: &Conv2dGeometry,
    dy: &[f32],
    x: Option<&[f32]>,
    dx: &mut [f32],
    c: usize,
) {
    let (ins, outs) = (geo.in_positions(), geo.out_positions());
    dx.fill(0.0);
    dx.par_chunks_mut(ins * c).enumerate().for_each(|(b, dx)| {
        let dy = &dy[b * outs * c..][..outs * c];
        for (o, dy) in dy.chunks_exact(c).enumerate() {
            match (kind, x) {
                (PoolKind::Max, Some(x)) => {
                    let x = &x[b * ins * c..][..ins * c];
                    for (ch, &g) in dy.iter().enumerate() {
                        let mut best: Option<(f32, usize)> = None;
                        for p in window(geo, o) {
                            let v = x[p * c + ch];
                            if best.is_none_or(|(b, _)| v > b) {
                                best = Some((v, p));
                            }
                        }
                        if let Some((_, p)) = best {
                            dx[p * c + ch] += g;
                        }
                    }
                }
                _ => {
                    let count = window(geo, o).count() as f32;
                    for p in window(geo, o) {
                        for (d, &g) in dx[p * c..][..c].iter_mut().zip(dy) {
                            *d += g / count;
                        }
                    }
                }
            }
        }
    });
}
