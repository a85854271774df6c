//! Shape rules: one per op. A rule either returns the output shape or says what is wrong.

use crate::error::{shape_err, GraphError};
use crate::op::{AccuracyKind, Op};
use crate::shape::Shape;

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
        Op::Unary(_) | Op::Dropout { .. } => {
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
    }
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
