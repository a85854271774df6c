//! Reverse-mode autodiff as a graph transformation: every op's gradient rule, in one place.
//! The backward nodes are appended to the same graph, so any backend runs them.

use crate::conv::PoolKind;
use crate::error::GraphError;
use crate::graph::{Graph, NodeId};
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use crate::recurrent::{RecurrentSpec, UPSTREAM};

/// Appends the nodes computing d`loss`/d`wrt` for each `wrt`; `loss` must be a scalar.
/// A `wrt` node the loss does not depend on gets `None`.
pub fn gradients(
    g: &mut Graph,
    loss: NodeId,
    wrt: &[NodeId],
) -> Result<Vec<Option<NodeId>>, GraphError> {
    if g.shape(loss).numel() != 1 {
        return Err(GraphError::Invalid(format!(
            "gradients need a scalar loss, got shape {}",
            g.shape(loss)
        )));
    }
    let needed = on_path(g, loss, wrt);
    let mut grads: Vec<Option<NodeId>> = vec![None; loss.0 + 1];
    grads[loss.0] = Some(g.scalar(1.0));
    let parts = parts_of(g, loss);
    for i in (0..=loss.0).rev() {
        if !needed[i] || g.nodes[i].op.is_leaf() {
            continue;
        }
        let node = NodeId(i);
        let input_grads = match g.nodes[i].op {
            // A packed tensor takes its parts' gradients all at once.
            Op::Part { .. } => continue,
            Op::Recurrent(spec) => {
                let upstream = recurrent_upstream(g, node, spec, &parts, &grads)?;
                if upstream.iter().all(Option::is_none) {
                    continue;
                }
                crate::recurrent::recurrent_gradients(g, node, spec, upstream)?
            }
            Op::RecurrentGrad { .. } if parts[i].iter().any(|p| grads[p.0].is_some()) => {
                return Err(GraphError::NoGradient {
                    op: "recurrentgrad".into(),
                    message: "second-order gradients are not supported".into(),
                });
            }
            _ => {
                let Some(up) = grads[i] else { continue };
                input_gradients(g, node, up)?
            }
        };
        let inputs = g.nodes[i].inputs.clone();
        for (x, dx) in inputs.iter().zip(input_grads) {
            let Some(dx) = dx else { continue };
            if !needed[x.0] {
                continue;
            }
            grads[x.0] = Some(match grads[x.0] {
                None => dx,
                Some(acc) => accumulate(g, acc, dx)?,
            });
        }
    }
    Ok(wrt
        .iter()
        .map(|w| grads.get(w.0).copied().flatten())
        .collect())
}

/// The `Part` views of every packed tensor up to `last`, by the packed tensor's index.
fn parts_of(g: &Graph, last: NodeId) -> Vec<Vec<NodeId>> {
    let mut parts = vec![Vec::new(); last.0 + 1];
    for (i, node) in g.nodes[..=last.0].iter().enumerate() {
        if let Op::Part { .. } = node.op {
            parts[node.inputs[0].0].push(NodeId(i));
        }
    }
    parts
}

/// The gradients of a recurrent op's outputs (sequence, last output, final states), each the
/// sum over the views of that part.
fn recurrent_upstream(
    g: &mut Graph,
    packed: NodeId,
    spec: RecurrentSpec,
    parts: &[Vec<NodeId>],
    grads: &[Option<NodeId>],
) -> Result<[Option<NodeId>; 4], GraphError> {
    let shape = g.shape(g.node(packed).inputs[0]).clone();
    let packing = spec.forward_packing(shape.0[0], shape.0[1]);
    let mut upstream = [None; 4];
    for &view in &parts[packed.0] {
        let Some(d) = grads[view.0] else { continue };
        let Op::Part { offset, .. } = g.node(view).op else {
            unreachable!("parts_of lists Part views")
        };
        let Some(k) = UPSTREAM
            .iter()
            .position(|p| packing.find(*p).is_some_and(|(at, _)| at == offset))
        else {
            return Err(GraphError::NoGradient {
                op: "recurrent".into(),
                message: "only its outputs and final states can be differentiated".into(),
            });
        };
        upstream[k] = Some(match upstream[k] {
            None => d,
            Some(acc) => g.add(acc, d)?,
        });
    }
    Ok(upstream)
}

/// `acc + dx`. Where both are zero-padded pieces of one axis that meet (the gradients of
/// adjacent slices, as when a layer splits a tensor in two or a loop reads it step by step),
/// the sum is their concatenation, padded only where neither reaches: no adds of zeros, no
/// full-size padded copies.
fn accumulate(g: &mut Graph, acc: NodeId, dx: NodeId) -> Result<NodeId, GraphError> {
    let piece = |g: &Graph, n: NodeId| match g.node(n).op {
        Op::Pad {
            axis,
            before,
            after,
        } => Some((axis, before, g.shape(n).0[axis] - after, n)),
        _ => None,
    };
    if let (Some(a), Some(b)) = (piece(g, acc), piece(g, dx)) {
        let (first, second) = if a.1 <= b.1 { (a, b) } else { (b, a) };
        if first.0 == second.0 && first.2 == second.1 {
            let (axis, start, end) = (first.0, first.1, second.2);
            let len = g.shape(acc).0[axis];
            // A piece that is already a concatenation along the axis lends its parts, so the
            // gradient of a tensor cut into many slices is one concatenation, not a chain of
            // ever longer ones.
            let parts = |n: NodeId, g: &Graph| {
                let inner = g.node(n).inputs[0];
                match g.node(inner).op {
                    Op::Concat { axis: a } if a == axis => g.node(inner).inputs.clone(),
                    _ => vec![inner],
                }
            };
            let all = [parts(first.3, g), parts(second.3, g)].concat();
            let joined = g.concat(&all, axis as isize)?;
            return if start == 0 && end == len {
                Ok(joined)
            } else {
                g.pad(joined, axis, start, len - end)
            };
        }
    }
    g.add(acc, dx)
}

/// Marks the nodes that lie on some path from a `wrt` node to `loss`.
fn on_path(g: &Graph, loss: NodeId, wrt: &[NodeId]) -> Vec<bool> {
    let n = loss.0 + 1;
    let mut from_wrt = vec![false; n];
    for w in wrt {
        if w.0 < n {
            from_wrt[w.0] = true;
        }
    }
    for i in 0..n {
        if g.nodes[i].inputs.iter().any(|x| from_wrt[x.0]) {
            from_wrt[i] = true;
        }
    }
    let mut to_loss = vec![false; n];
    to_loss[loss.0] = true;
    for i in (0..n).rev() {
        if to_loss[i] {
            for x in &g.nodes[i].inputs {
                to_loss[x.0] = true;
            }
        }
    }
    (0..n).map(|i| from_wrt[i] && to_loss[i]).collect()
}

type Grads = Result<Vec<Option<NodeId>>, GraphError>;

/// The gradient rule of each op: given the node and the gradient of its output, the gradients
/// of its inputs (`None` where an input gets no gradient).
fn input_gradients(g: &mut Graph, y: NodeId, gy: NodeId) -> Grads {
    let node = g.node(y).clone();
    let x = &node.inputs;
    let xs = |i: usize, g: &Graph| g.shape(x[i]).clone();
    let one = |v: NodeId| Ok(vec![Some(v)]);
    match node.op {
        Op::Input { .. } | Op::Param { .. } | Op::Const { .. } => Ok(vec![]),
        Op::Recurrent(_) | Op::Part { .. } => {
            unreachable!("gradients() differentiates packed tensors through their parts")
        }
        Op::Unary(u) => match u {
            UnaryOp::Neg => one(g.neg(gy)?),
            UnaryOp::Relu => {
                let mask = g.step(x[0])?;
                one(g.mul(gy, mask)?)
            }
            UnaryOp::Sigmoid => {
                let c1 = g.scalar(1.0);
                let one_minus = g.sub(c1, y)?;
                let d = g.mul(y, one_minus)?;
                one(g.mul(gy, d)?)
            }
            UnaryOp::Tanh => {
                let c1 = g.scalar(1.0);
                let y2 = g.square(y)?;
                let d = g.sub(c1, y2)?;
                one(g.mul(gy, d)?)
            }
            UnaryOp::Exp => one(g.mul(gy, y)?),
            UnaryOp::Log => one(g.div(gy, x[0])?),
            UnaryOp::Sqrt => {
                let two_y = g.mul_scalar(y, 2.0)?;
                one(g.div(gy, two_y)?)
            }
            UnaryOp::Square => {
                let two_x = g.mul_scalar(x[0], 2.0)?;
                one(g.mul(gy, two_x)?)
            }
            UnaryOp::Step => Ok(vec![None]),
        },
        Op::Binary(b) => {
            let (sa, sb) = (xs(0, g), xs(1, g));
            let (da, db) = match b {
                BinaryOp::Add => (gy, gy),
                BinaryOp::Sub => (gy, g.neg(gy)?),
                BinaryOp::Mul => (g.mul(gy, x[1])?, g.mul(gy, x[0])?),
                BinaryOp::Div => {
                    let da = g.div(gy, x[1])?;
                    let gy_y = g.mul(da, y)?;
                    (da, g.neg(gy_y)?)
                }
                BinaryOp::Equal | BinaryOp::GreaterEqual => return Ok(vec![None, None]),
                // Ties send the gradient to `a`, as TensorFlow does.
                BinaryOp::Maximum | BinaryOp::Minimum => {
                    let a_wins = if b == BinaryOp::Maximum {
                        g.greater_equal(x[0], x[1])?
                    } else {
                        g.greater_equal(x[1], x[0])?
                    };
                    let da = g.mul(gy, a_wins)?;
                    (da, g.sub(gy, da)?)
                }
            };
            Ok(vec![Some(g.sum_to(da, &sa)?), Some(g.sum_to(db, &sb)?)])
        }
        Op::MatMul { ta, tb } => matmul_grads(g, x[0], x[1], gy, ta, tb),
        Op::Reduce { op, axis, keepdims } => {
            let sx = xs(0, g);
            let kept = sx.with_dim(axis, 1);
            let gk = if keepdims {
                gy
            } else {
                g.reshape(gy, kept.clone())?
            };
            match op {
                ReduceOp::Sum => one(g.broadcast_to(gk, sx)?),
                ReduceOp::Mean => {
                    let gb = g.broadcast_to(gk, sx.clone())?;
                    one(g.mul_scalar(gb, 1.0 / sx.0[axis] as f32)?)
                }
                ReduceOp::Max => {
                    let yk = if keepdims { y } else { g.reshape(y, kept)? };
                    // Tied maxima share the gradient equally, as in TensorFlow.
                    let mask = g.equal(x[0], yk)?;
                    let ties = g.sum(mask, axis as isize, true)?;
                    let share = g.div(gk, ties)?;
                    one(g.mul(mask, share)?)
                }
            }
        }
        Op::Softmax { axis } => {
            let gyy = g.mul(gy, y)?;
            let s = g.sum(gyy, axis as isize, true)?;
            let centered = g.sub(gy, s)?;
            one(g.mul(y, centered)?)
        }
        Op::LogSoftmax { axis } => {
            let p = g.exp(y)?;
            let s = g.sum(gy, axis as isize, true)?;
            let ps = g.mul(p, s)?;
            one(g.sub(gy, ps)?)
        }
        Op::Concat { axis } => {
            let mut out = Vec::with_capacity(x.len());
            let mut start = 0;
            for xi in x {
                let len = g.shape(*xi).0[axis];
                out.push(Some(g.slice(gy, axis as isize, start, start + len)?));
                start += len;
            }
            Ok(out)
        }
        Op::Slice { axis, start, end } => {
            let len = xs(0, g).0[axis];
            one(g.pad(gy, axis, start, len - end)?)
        }
        Op::Pad { axis, before, .. } => {
            let len = xs(0, g).0[axis];
            one(g.slice(gy, axis as isize, before, before + len)?)
        }
        Op::Reshape { .. } => {
            let sx = xs(0, g);
            one(g.reshape(gy, sx)?)
        }
        Op::BroadcastTo { .. } => {
            let sx = xs(0, g);
            one(g.sum_to(gy, &sx)?)
        }
        Op::SumTo { .. } => {
            let sx = xs(0, g);
            one(g.broadcast_to(gy, sx)?)
        }
        Op::Dropout { rate, key } => one(g.dropout(gy, rate, key)?),
        Op::SoftmaxCrossEntropy => Ok(vec![
            Some(g.push(Op::SoftmaxCrossEntropyGrad, &[x[0], x[1], gy])?),
            None,
        ]),
        Op::SigmoidBinaryCrossEntropy => Ok(vec![
            Some(g.push(Op::SigmoidBinaryCrossEntropyGrad, &[x[0], x[1], gy])?),
            None,
        ]),
        Op::OneHot { .. } | Op::Accuracy { .. } | Op::Cast { .. } => Ok(vec![None; x.len()]),
        Op::Gather => {
            let rows = xs(0, g).0[0];
            Ok(vec![Some(g.scatter_add_rows(gy, x[1], rows)?), None])
        }
        Op::ScatterAddRows { .. } => Ok(vec![Some(g.gather(gy, x[1])?), None]),
        // The three convolution ops are bilinear: each one's gradients are the other two.
        Op::Conv1d(geo) => Ok(vec![
            Some(g.push(Op::Conv1dBackwardData(geo), &[gy, x[1]])?),
            Some(g.push(Op::Conv1dBackwardFilter(geo), &[x[0], gy])?),
        ]),
        Op::Conv1dBackwardData(geo) => Ok(vec![
            Some(g.conv1d(gy, x[1], geo)?),
            Some(g.push(Op::Conv1dBackwardFilter(geo), &[gy, x[0]])?),
        ]),
        Op::Conv1dBackwardFilter(geo) => Ok(vec![
            Some(g.push(Op::Conv1dBackwardData(geo), &[x[1], gy])?),
            Some(g.conv1d(x[0], gy, geo)?),
        ]),
        Op::Conv2d(geo) => Ok(vec![
            Some(g.push(Op::Conv2dBackwardData(geo), &[gy, x[1]])?),
            Some(g.push(Op::Conv2dBackwardFilter(geo), &[x[0], gy])?),
        ]),
        Op::Conv2dBackwardData(geo) => Ok(vec![
            Some(g.conv2d(gy, x[1], geo)?),
            Some(g.push(Op::Conv2dBackwardFilter(geo), &[gy, x[0]])?),
        ]),
        Op::Conv2dBackwardFilter(geo) => Ok(vec![
            Some(g.push(Op::Conv2dBackwardData(geo), &[x[1], gy])?),
            Some(g.conv2d(x[0], gy, geo)?),
        ]),
        Op::Pool2d { kind, geo } => {
            let inputs: &[NodeId] = match kind {
                PoolKind::Max => &[gy, x[0]],
                PoolKind::Average => &[gy],
            };
            one(g.push(Op::Pool2dGrad { kind, geo }, inputs)?)
        }
        // Spreading each window's gradient evenly is linear; its adjoint is the mean again.
        Op::Pool2dGrad {
            kind: PoolKind::Average,
            geo,
        } => one(g.pool2d(gy, PoolKind::Average, geo)?),
        Op::GatedMix(mix) => crate::gate::gated_mix_gradients(g, mix, x, gy),
        Op::Moments => crate::batch_norm::moments_gradient(g, y, gy),
        Op::BatchNorm { epsilon } => crate::batch_norm::batch_norm_gradients(g, y, epsilon, gy),
        Op::SoftmaxCrossEntropyGrad
        | Op::SigmoidBinaryCrossEntropyGrad
        | Op::GatedMixGrad { .. }
        | Op::BatchNormGrad { .. }
        | Op::Pool2dGrad { .. }
        | Op::RecurrentGrad { .. } => Err(GraphError::NoGradient {
            op: node.op.name(),
            message: "second-order gradients are not supported".into(),
        }),
    }
}

/// C = op(A) op(B): dA and dB as matmuls with the transposes folded in (no transpose copies).
fn matmul_grads(g: &mut Graph, a: NodeId, b: NodeId, gy: NodeId, ta: bool, tb: bool) -> Grads {
    let da = if ta {
        g.matmul_t(b, gy, tb, true)?
    } else {
        g.matmul_t(gy, b, false, !tb)?
    };
    let (sa, sb) = (g.shape(a).clone(), g.shape(b).clone());
    let db = if sb.rank() == 2 && sa.rank() > 2 {
        // A shared 2-D right operand: flatten the batch axes of A and the gradient into rows.
        let k = sa.last();
        let n = g.shape(gy).last();
        let rows = sa.numel() / k;
        let a2 = g.reshape(a, [rows, k])?;
        let g2 = g.reshape(gy, [rows, n])?;
        if tb {
            g.matmul_t(g2, a2, true, false)?
        } else {
            g.matmul_t(a2, g2, true, false)?
        }
    } else if tb {
        g.matmul_t(gy, a, true, ta)?
    } else {
        g.matmul_t(a, gy, !ta, false)?
    };
    Ok(vec![Some(da), Some(db)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::ParamId;

    /// The gradient of a tensor split into adjacent slices is one concat of the slices'
    /// gradients (padded only where no slice reaches), not a sum of padded copies.
    #[test]
    fn adjacent_slice_gradients_meet_in_a_concat() {
        for (cuts, padded) in [([0, 2, 5], false), ([1, 3, 5], true)] {
            let mut g = Graph::new();
            let x = g.param(ParamId(0), [3, 5, 4]);
            let a = g.slice(x, 1, cuts[0], cuts[1]).unwrap();
            let b = g.slice(x, 1, cuts[1], cuts[2]).unwrap();
            let sa = g.sum(a, 1, false).unwrap();
            let sb = g.sum(b, 1, false).unwrap();
            let s = g.mul(sa, sb).unwrap();
            let s = g.sum(s, 1, false).unwrap();
            let loss = g.sum(s, 0, false).unwrap();
            let dx = gradients(&mut g, loss, &[x]).unwrap()[0].unwrap();
            let node = g.node(dx);
            let concat = if padded {
                assert_eq!(
                    node.op,
                    Op::Pad {
                        axis: 1,
                        before: 1,
                        after: 0
                    }
                );
                g.node(node.inputs[0])
            } else {
                node
            };
            assert_eq!(concat.op, Op::Concat { axis: 1 }, "cuts {cuts:?}");
            assert_eq!(g.shape(dx).0, vec![3, 5, 4]);
        }
    }

    /// A tensor read step by step (as an unrolled recurrence reads its input) gets one
    /// concatenation of all the steps' gradients, not a chain of growing ones.
    #[test]
    fn a_tensor_read_step_by_step_gets_one_concat() {
        let steps = 40;
        let mut g = Graph::new();
        let x = g.param(ParamId(0), [2, steps, 3]);
        let mut total: Option<NodeId> = None;
        for t in 0..steps {
            let s = g.slice(x, 1, t, t + 1).unwrap();
            let s = g.square(s).unwrap();
            total = Some(match total {
                Some(acc) => g.add(acc, s).unwrap(),
                None => s,
            });
        }
        let s = g.sum(total.unwrap(), 2, false).unwrap();
        let s = g.sum(s, 1, false).unwrap();
        let loss = g.sum(s, 0, false).unwrap();
        let dx = gradients(&mut g, loss, &[x]).unwrap()[0].unwrap();
        assert_eq!(g.node(dx).op, Op::Concat { axis: 1 });
        assert_eq!(g.node(dx).inputs.len(), steps);
    }
}
