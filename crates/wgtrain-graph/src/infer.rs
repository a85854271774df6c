//! Shape rules: one per op. A rule either returns the output shape or says what is wrong.

use crate::conv::{Conv1dGeometry, Conv2dGeometry, PoolKind};
use crate::dtype::DType;
use crate::error::{shape_err, GraphError};
use crate::op::{AccuracyKind, GatedMix, Op};
use crate::shape::Shape;

/// The type rule: `Cast` picks its type, `Gather` and `ScatterAddRows` take int32 ids as their
/// second input, and every other op computes on float32 tensors.
pub fn infer_dtype(op: &Op, inputs: &[DType]) -> Result<DType, GraphError> {
    let name = op.name();
    let want = |k: usize, t: DType| -> Result<(), GraphError> {
        match inputs.get(k) {
            Some(&d) if d != t => Err(shape_err(&name, format!("input {k} must be {t}, got {d}"))),
            _ => Ok(()),
        }
    };
    match op {
        Op::Cast { to } => Ok(*to),
        Op::Gather | Op::ScatterAddRows { .. } => {
            want(0, DType::F32)?;
            want(1, DType::I32)?;
            Ok(DType::F32)
        }
        _ => {
            for (k, d) in inputs.iter().enumerate() {
                if *d != DType::F32 {
                    return Err(shape_err(
                        &name,
                        format!(
                            "input {k} is {d} but this op computes on float32 tensors \
                             (integer ids feed an Embedding; other integer values need a cast)"
                        ),
                    ));
                }
            }
            Ok(DType::F32)
        }
    }
}

pub fn infer_shape(op: &Op, inputs: &[&Shape]) -> Result<Shape, GraphError> {
    let name = op.name();
    let arity = |n: usize| -> Result<(), GraphError> {
        if inputs.len() != n {
            return Err(shape_err(
                &name,
                format!("takes {n} inputs, got {}", inputs.len()),
            ));
        }
        Ok(())
    };
    let axis_ok = |s: &Shape, axis: usize| -> Result<(), GraphError> {
        if axis >= s.rank() {
            return Err(shape_err(
                &name,
                format!("axis {axis} is out of range for shape {s}"),
            ));
        }
        Ok(())
    };
    match op {
        Op::Input { .. } | Op::Param { .. } | Op::Const { .. } => Err(shape_err(
            &name,
            "leaves are created with input(), param() or scalar()",
        )),
        Op::Unary(_) | Op::Dropout { .. } | Op::Cast { .. } => {
            arity(1)?;
            Ok(inputs[0].clone())
        }
        Op::Binary(_) => {
            arity(2)?;
            Shape::broadcast(inputs[0], inputs[1]).ok_or_else(|| {
                shape_err(
                    &name,
                    format!(
                        "shapes {} and {} cannot be broadcast together",
                        inputs[0], inputs[1]
                    ),
                )
            })
        }
        Op::MatMul { ta, tb } => {
            arity(2)?;
            matmul_shape(&name, inputs[0], inputs[1], *ta, *tb)
        }
        Op::Reduce { axis, keepdims, .. } => {
            arity(1)?;
            axis_ok(inputs[0], *axis)?;
            let mut d = inputs[0].0.clone();
            if *keepdims {
                d[*axis] = 1;
            } else {
                d.remove(*axis);
            }
            Ok(Shape(d))
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            arity(1)?;
            axis_ok(inputs[0], *axis)?;
            Ok(inputs[0].clone())
        }
        Op::Concat { axis } => {
            if inputs.is_empty() {
                return Err(shape_err(&name, "needs at least one input"));
            }
            let first = inputs[0];
            axis_ok(first, *axis)?;
            let mut total = 0;
            for s in inputs {
                let same_rest = s.rank() == first.rank()
                    && (0..s.rank()).all(|i| i == *axis || s.0[i] == first.0[i]);
                if !same_rest {
                    return Err(shape_err(
                        &name,
                        format!(
                            "shapes {first} and {s} differ outside the concatenation axis {axis}"
                        ),
                    ));
                }
                total += s.0[*axis];
            }
            Ok(first.with_dim(*axis, total))
        }
        Op::Slice { axis, start, end } => {
            arity(1)?;
            axis_ok(inputs[0], *axis)?;
            let len = inputs[0].0[*axis];
            if start >= end || *end > len {
                return Err(shape_err(
                    &name,
                    format!(
                        "range {start}..{end} is not a non-empty range inside axis {axis} of shape {}",
                        inputs[0]
                    ),
                ));
            }
            Ok(inputs[0].with_dim(*axis, end - start))
        }
        Op::Pad {
            axis,
            before,
            after,
        } => {
            arity(1)?;
            axis_ok(inputs[0], *axis)?;
            Ok(inputs[0].with_dim(*axis, inputs[0].0[*axis] + before + after))
        }
        Op::Reshape { shape } => {
            arity(1)?;
            if shape.numel() != inputs[0].numel() {
                return Err(shape_err(
                    &name,
                    format!(
                        "cannot reshape {} ({} elements) to {} ({} elements)",
                        inputs[0],
                        inputs[0].numel(),
                        shape,
                        shape.numel()
                    ),
                ));
            }
            Ok(shape.clone())
        }
        Op::BroadcastTo { shape } => {
            arity(1)?;
            match Shape::broadcast(inputs[0], shape) {
                Some(s) if &s == shape => Ok(s),
                _ => Err(shape_err(
                    &name,
                    format!("cannot broadcast {} to {shape}", inputs[0]),
                )),
            }
        }
        Op::SumTo { shape } => {
            arity(1)?;
            match Shape::broadcast(inputs[0], shape) {
                Some(s) if &s == inputs[0] => Ok(shape.clone()),
                _ => Err(shape_err(
                    &name,
                    format!("cannot sum {} down to {shape}", inputs[0]),
                )),
            }
        }
        Op::Gather => {
            arity(2)?;
            if inputs[0].rank() < 1 {
                return Err(shape_err(&name, "the table needs a row axis"));
            }
            let mut d = inputs[1].0.clone();
            d.extend(&inputs[0].0[1..]);
            Ok(Shape(d))
        }
        Op::ScatterAddRows { rows } => {
            arity(2)?;
            let (v, ids) = (inputs[0], inputs[1]);
            if v.rank() < ids.rank() || v.0[..ids.rank()] != ids.0[..] {
                return Err(shape_err(
                    &name,
                    format!("values of shape {v} do not start with the ids' shape {ids}"),
                ));
            }
            let mut d = vec![*rows];
            d.extend(&v.0[ids.rank()..]);
            Ok(Shape(d))
        }
        Op::Conv1d(geo) => {
            arity(2)?;
            let (x, w) = (inputs[0], inputs[1]);
            conv_input(&name, geo, x)?;
            conv_kernel(&name, geo, w, x.0[2])?;
            Ok(Shape(vec![x.0[0], geo.out_len, w.0[2]]))
        }
        Op::Conv1dBackwardData(geo) => {
            arity(2)?;
            let (dy, w) = (inputs[0], inputs[1]);
            if w.rank() != 3 {
                return Err(shape_err(&name, format!("the kernel must be 3-D, got {w}")));
            }
            conv_kernel(&name, geo, w, w.0[1])?;
            conv_output(&name, geo, dy, w.0[2])?;
            Ok(Shape(vec![dy.0[0], geo.in_len, w.0[1]]))
        }
        Op::Conv1dBackwardFilter(geo) => {
            arity(2)?;
            let (x, dy) = (inputs[0], inputs[1]);
            conv_input(&name, geo, x)?;
            if dy.rank() != 3 || dy.0[0] != x.0[0] {
                return Err(shape_err(
                    &name,
                    format!("the output gradient {dy} does not match the input {x}"),
                ));
            }
            conv_output(&name, geo, dy, dy.0[2])?;
            Ok(Shape(vec![geo.kernel, x.0[2], dy.0[2]]))
        }
        Op::Conv2d(geo) => {
            arity(2)?;
            let (x, w) = (inputs[0], inputs[1]);
            image(
                &name,
                "an input",
                [geo.rows.in_len, geo.cols.in_len],
                x,
                None,
            )?;
            conv2d_kernel(&name, geo, w, x.0[3])?;
            Ok(Shape(vec![
                x.0[0],
                geo.rows.out_len,
                geo.cols.out_len,
                w.0[3],
            ]))
        }
        Op::Conv2dBackwardData(geo) => {
            arity(2)?;
            let (dy, w) = (inputs[0], inputs[1]);
            if w.rank() != 4 {
                return Err(shape_err(&name, format!("the kernel must be 4-D, got {w}")));
            }
            conv2d_kernel(&name, geo, w, w.0[2])?;
            let out = [geo.rows.out_len, geo.cols.out_len];
            image(&name, "an output gradient", out, dy, Some(w.0[3]))?;
            Ok(Shape(vec![
                dy.0[0],
                geo.rows.in_len,
                geo.cols.in_len,
                w.0[2],
            ]))
        }
        Op::Conv2dBackwardFilter(geo) => {
            arity(2)?;
            let (x, dy) = (inputs[0], inputs[1]);
            image(
                &name,
                "an input",
                [geo.rows.in_len, geo.cols.in_len],
                x,
                None,
            )?;
            let out = [geo.rows.out_len, geo.cols.out_len];
            image(&name, "an output gradient", out, dy, None)?;
            if dy.0[0] != x.0[0] {
                return Err(shape_err(
                    &name,
                    format!("the output gradient {dy} does not match the input {x}"),
                ));
            }
            Ok(Shape(vec![
                geo.rows.kernel,
                geo.cols.kernel,
                x.0[3],
                dy.0[3],
            ]))
        }
        Op::Pool2d { geo, .. } => {
            arity(1)?;
            let x = inputs[0];
            image(
                &name,
                "an input",
                [geo.rows.in_len, geo.cols.in_len],
                x,
                None,
            )?;
            Ok(Shape(vec![
                x.0[0],
                geo.rows.out_len,
                geo.cols.out_len,
                x.0[3],
            ]))
        }
        Op::Pool2dGrad { kind, geo } => {
            arity(if *kind == PoolKind::Max { 2 } else { 1 })?;
            let dy = inputs[0];
            let out = [geo.rows.out_len, geo.cols.out_len];
            image(&name, "an output gradient", out, dy, None)?;
            let dx = Shape(vec![dy.0[0], geo.rows.in_len, geo.cols.in_len, dy.0[3]]);
            if let Some(x) = inputs.get(1).filter(|x| ***x != dx) {
                return Err(shape_err(
                    &name,
                    format!("the input {x} does not match the output gradient {dy}"),
                ));
            }
            Ok(dx)
        }
        Op::OneHot { depth } => {
            arity(1)?;
            let mut d = inputs[0].0.clone();
            if d.last() == Some(&1) {
                d.pop();
            }
            d.push(*depth);
            Ok(Shape(d))
        }
        Op::SoftmaxCrossEntropy | Op::SigmoidBinaryCrossEntropy => {
            arity(2)?;
            same_shape(&name, inputs[0], inputs[1])?;
            Ok(Shape::scalar())
        }
        Op::SoftmaxCrossEntropyGrad | Op::SigmoidBinaryCrossEntropyGrad => {
            arity(3)?;
            same_shape(&name, inputs[0], inputs[1])?;
            if inputs[2].numel() != 1 {
                return Err(shape_err(&name, "the upstream gradient must be a scalar"));
            }
            Ok(inputs[0].clone())
        }
        Op::Accuracy { kind } => {
            arity(2)?;
            same_shape(&name, inputs[0], inputs[1])?;
            if *kind == AccuracyKind::Categorical && inputs[0].rank() == 0 {
                return Err(shape_err(&name, "categorical accuracy needs a class axis"));
            }
            Ok(Shape::scalar())
        }
        Op::GatedMix(mix) => {
            gated_mix_inputs(&name, mix, inputs)?;
            Ok(inputs[1].clone())
        }
        Op::Recurrent(spec) => crate::recurrent::forward_shape(spec, inputs),
        Op::RecurrentGrad {
            spec,
            upstream,
            steps,
        } => crate::recurrent::backward_shape(spec, upstream, *steps, inputs),
        Op::Part { offset, shape } => {
            arity(1)?;
            if inputs[0].rank() != 1 || offset + shape.numel() > inputs[0].numel() {
                return Err(shape_err(
                    &name,
                    format!(
                        "a part of {} elements at {offset} does not lie inside a packed tensor \
                         of shape {}",
                        shape.numel(),
                        inputs[0]
                    ),
                ));
            }
            Ok(shape.clone())
        }
        Op::Moments => {
            arity(1)?;
            if inputs[0].rank() != 2 {
                return Err(shape_err(
                    &name,
                    format!("needs rows x channels, got {}", inputs[0]),
                ));
            }
            Ok(Shape(vec![2, inputs[0].last()]))
        }
        Op::BatchNorm { .. } => {
            arity(4)?;
            batch_norm_inputs(&name, inputs)?;
            Ok(inputs[0].clone())
        }
        Op::BatchNormGrad { wrt, .. } => {
            arity(4)?;
            same_shape(&name, inputs[0], inputs[1])?;
            batch_norm_inputs(&name, &inputs[1..])?;
            match wrt {
                0 => Ok(inputs[1].clone()),
                2 => Ok(inputs[3].clone()),
                _ => Err(shape_err(
                    &name,
                    format!("has no gradient {wrt} (x is 0, gamma 2)"),
                )),
            }
        }
        Op::GatedMixGrad { mix, wrt } => {
            let (dy, operands) = inputs
                .split_first()
                .ok_or_else(|| shape_err(&name, "takes the output gradient first"))?;
            gated_mix_inputs(&name, mix, operands)?;
            same_shape(&name, dy, operands[1])?;
            operands
                .get(*wrt)
                .map(|s| (*s).clone())
                .ok_or_else(|| shape_err(&name, format!("has no input {wrt}")))
        }
    }
}

/// x [rows, c], moments [2, c], gamma [c], and beta [c] when given.
fn batch_norm_inputs(name: &str, inputs: &[&Shape]) -> Result<(), GraphError> {
    let x = inputs[0];
    if x.rank() != 2 {
        return Err(shape_err(
            name,
            format!("needs x as rows x channels, got {x}"),
        ));
    }
    let c = x.last();
    if inputs[1].0 != [2, c] {
        return Err(shape_err(
            name,
            format!("needs moments [2, {c}] for x {x}, got {}", inputs[1]),
        ));
    }
    for (what, s) in ["gamma", "beta"].iter().zip(&inputs[2..]) {
        if s.0 != [c] {
            return Err(shape_err(
                name,
                format!("needs {what} [{c}] for x {x}, got {s}"),
            ));
        }
    }
    Ok(())
}

/// h [..., 2w] split into a gate and a value half, s [..., w], a bias [2w] when the mix is
/// biased, and an optional mask [..., 1].
fn gated_mix_inputs(name: &str, mix: &GatedMix, inputs: &[&Shape]) -> Result<(), GraphError> {
    let fixed = 2 + mix.biased as usize;
    if inputs.len() != fixed && inputs.len() != fixed + 1 {
        return Err(shape_err(
            name,
            format!(
                "takes h, s{} and an optional mask, got {} inputs",
                if mix.biased { ", bias" } else { "" },
                inputs.len()
            ),
        ));
    }
    let (h, s, mask) = (inputs[0], inputs[1], inputs.get(fixed).copied());
    if mix.biased && inputs[2].0 != [2 * s.last()] {
        return Err(shape_err(
            name,
            format!(
                "the bias {} must have h's {} columns",
                inputs[2],
                2 * s.last()
            ),
        ));
    }
    let w = s.last();
    let rows_match = |t: &Shape| t.rank() == s.rank() && t.0[..t.rank() - 1] == s.0[..s.rank() - 1];
    let halves = (mix.gate == 0 && mix.value == w) || (mix.gate == w && mix.value == 0);
    if s.rank() == 0 || !rows_match(h) || h.last() != 2 * w || !halves {
        return Err(shape_err(
            name,
            format!(
                "h {h} must be s {s} with twice the columns, split into a gate and a value \
                 half (got the gate at column {} and the value at column {})",
                mix.gate, mix.value
            ),
        ));
    }
    if let Some(m) = mask {
        if !rows_match(m) || m.last() != 1 {
            return Err(shape_err(
                name,
                format!("the mask {m} must be s's shape {s} with a last axis of 1"),
            ));
        }
    }
    Ok(())
}

fn conv_input(name: &str, geo: &Conv1dGeometry, x: &Shape) -> Result<(), GraphError> {
    if x.rank() != 3 || x.0[1] != geo.in_len {
        return Err(shape_err(
            name,
            format!(
                "expects an input of shape (batch, {}, channels), got {x}",
                geo.in_len
            ),
        ));
    }
    Ok(())
}

fn conv_kernel(name: &str, geo: &Conv1dGeometry, w: &Shape, cin: usize) -> Result<(), GraphError> {
    if w.rank() != 3 || w.0[0] != geo.kernel || w.0[1] != cin {
        return Err(shape_err(
            name,
            format!(
                "expects a kernel of shape ({}, {cin}, filters), got {w}",
                geo.kernel
            ),
        ));
    }
    Ok(())
}

fn conv_output(
    name: &str,
    geo: &Conv1dGeometry,
    dy: &Shape,
    cout: usize,
) -> Result<(), GraphError> {
    if dy.rank() != 3 || dy.0[1] != geo.out_len || dy.0[2] != cout {
        return Err(shape_err(
            name,
            format!(
                "expects an output gradient of shape (batch, {}, {cout}), got {dy}",
                geo.out_len
            ),
        ));
    }
    Ok(())
}

/// `t` is (batch, size[0], size[1], channels), with `channels` when given.
fn image(
    name: &str,
    what: &str,
    size: [usize; 2],
    t: &Shape,
    channels: Option<usize>,
) -> Result<(), GraphError> {
    let fits = t.rank() == 4 && t.0[1..3] == size && channels.is_none_or(|c| t.0[3] == c);
    if !fits {
        let c = channels.map_or("channels".to_string(), |c| c.to_string());
        return Err(shape_err(
            name,
            format!(
                "expects {what} of shape (batch, {}, {}, {c}), got {t}",
                size[0], size[1]
            ),
        ));
    }
    Ok(())
}

fn conv2d_kernel(
    name: &str,
    geo: &Conv2dGeometry,
    w: &Shape,
    cin: usize,
) -> Result<(), GraphError> {
    let (kh, kw) = (geo.rows.kernel, geo.cols.kernel);
    if w.rank() != 4 || w.0[..3] != [kh, kw, cin] {
        return Err(shape_err(
            name,
            format!("expects a kernel of shape ({kh}, {kw}, {cin}, filters), got {w}"),
        ));
    }
    Ok(())
}

fn same_shape(name: &str, a: &Shape, b: &Shape) -> Result<(), GraphError> {
    if a != b {
        return Err(shape_err(
            name,
            format!("predictions have shape {a} but targets have shape {b}"),
        ));
    }
    Ok(())
}

fn matmul_shape(name: &str, a: &Shape, b: &Shape, ta: bool, tb: bool) -> Result<Shape, GraphError> {
    if a.rank() < 2 || b.rank() < 2 {
        return Err(shape_err(
            name,
            format!("needs tensors of rank >= 2, got {a} and {b}"),
        ));
    }
    let (ra, rb) = (a.rank(), b.rank());
    let (m, ka) = if ta {
        (a.0[ra - 1], a.0[ra - 2])
    } else {
        (a.0[ra - 2], a.0[ra - 1])
    };
    let (kb, n) = if tb {
        (b.0[rb - 1], b.0[rb - 2])
    } else {
        (b.0[rb - 2], b.0[rb - 1])
    };
    if ka != kb {
        return Err(shape_err(
            name,
            format!("inner dimensions differ: {a} @ {b} (contracting {ka} with {kb})"),
        ));
    }
    let batch_ok = rb == 2 || a.0[..ra - 2] == b.0[..rb - 2];
    if !batch_ok {
        return Err(shape_err(
            name,
            format!("batch dimensions differ: {a} @ {b}"),
        ));
    }
    if rb == 2 && ra > 2 && ta {
        return Err(shape_err(
            name,
            "a shared 2-D right operand needs an untransposed left operand",
        ));
    }
    let mut d = a.0[..ra - 2].to_vec();
    d.push(m);
    d.push(n);
    Ok(Shape(d))
}
