//! Elementwise kernels: generated fused groups, rows x cols broadcasting, strided fallbacks.

use super::*;

/// Strides that read `s` broadcast up to `o` (0 along broadcast axes).
pub(super) fn broadcast_strides(s: &Shape, o: &Shape) -> Vec<usize> {
    let r = o.rank();
    let mut out = vec![0; r];
    let lead = r - s.rank();
    for (k, (&d, stride)) in s.0.iter().zip(row_major_strides(&s.0)).enumerate() {
        if d != 1 {
            out[lead + k] = stride;
        }
    }
    out
}

/// The grid of a rows x cols kernel with 64 x 4 workgroups; rows past the grid loop.
pub(super) fn rows_grid(rows: usize, cols: usize) -> R<[u32; 3]> {
    let x = cols.div_ceil(64).max(1);
    if x > MAX_GROUPS {
        return Err(format!("rows of {cols} values exceed one dispatch"));
    }
    Ok([x as u32, rows.div_ceil(4).clamp(1, MAX_GROUPS) as u32, 1])
}

pub(super) fn rows_cols(o: &Shape) -> (usize, usize) {
    let cols = if o.rank() == 0 { 1 } else { o.last() };
    (o.numel() / cols.max(1), cols)
}

pub(super) fn unary_wgsl(op: UnaryOp, x: &str) -> String {
    match op {
        UnaryOp::Neg => format!("-{x}"),
        UnaryOp::Relu => format!("max({x}, 0.0)"),
        UnaryOp::Sigmoid => format!("1.0 / (1.0 + exp(-{x}))"),
        UnaryOp::Tanh => format!("tanh({x})"),
        UnaryOp::Exp => format!("exp({x})"),
        UnaryOp::Log => format!("log({x})"),
        UnaryOp::Sqrt => format!("sqrt({x})"),
        UnaryOp::Square => format!("{x} * {x}"),
        UnaryOp::Step => format!("select(0.0, 1.0, {x} > 0.0)"),
    }
}

pub(super) fn binary_wgsl(op: BinaryOp, x: &str, y: &str) -> String {
    match op {
        BinaryOp::Add => format!("{x} + {y}"),
        BinaryOp::Sub => format!("{x} - {y}"),
        BinaryOp::Mul => format!("{x} * {y}"),
        BinaryOp::Div => format!("{x} / {y}"),
        BinaryOp::Equal => format!("select(0.0, 1.0, {x} == {y})"),
        BinaryOp::GreaterEqual => format!("select(0.0, 1.0, {x} >= {y})"),
        BinaryOp::Maximum => format!("max({x}, {y})"),
        BinaryOp::Minimum => format!("min({x}, {y})"),
    }
}

/// One kernel for a fused group: loads of its leaves, then one `let` per member.
pub(super) fn lower_group(plan: &Plan, group: &Group, out: Buf) -> R<Vec<Dispatch>> {
    let graph = &plan.graph;
    let root = *group.members.last().expect("a group has a root");
    // Values are named by position (leaf k is v{k}, member k is t{k}), never by node id, so
    // identical chains render identical text and share one pipeline.
    let name = |x: NodeId| match group.leaves.iter().position(|l| *l == group.operand(x)) {
        Some(k) => format!("v{k}"),
        None => {
            let k = group.members.iter().position(|m| *m == x).unwrap_or(0);
            format!("t{k}")
        }
    };
    let mut body = String::new();
    for (k, &m) in group.members.iter().enumerate() {
        let node = graph.node(m);
        let expr = match node.op {
            Op::Unary(op) => unary_wgsl(op, &name(node.inputs[0])),
            Op::Binary(op) => binary_wgsl(op, &name(node.inputs[0]), &name(node.inputs[1])),
            _ => return Err(format!("{} is not elementwise", node.op.name())),
        };
        body += &format!("let t{k} = {expr};\n");
    }
    body += &format!("let r = t{};", group.members.len() - 1);
    fused_kernel(plan, graph.shape(root), &group.leaves, body, out)
}

/// A generated kernel that reads `leaves` as v0, v1, ... at each element of an output of shape
/// `so` and stores the `r` that `body` computes: flat when every leaf has the output's size or
/// is a scalar, else over rows x cols.
pub(super) fn fused_kernel(
    plan: &Plan,
    so: &Shape,
    leaves: &[NodeId],
    body: String,
    out: Buf,
) -> R<Vec<Dispatch>> {
    let graph = &plan.graph;
    let n = so.numel();
    let flat = leaves.iter().all(|l| {
        let m = graph.shape(*l).numel();
        m == n || m == 1
    });
    let (rows, cols) = rows_cols(so);
    let mut loads = String::new();
    let mut b = if flat {
        Builder::new().u(n)
    } else {
        Builder::new().u(rows).u(cols)
    };
    for (k, leaf) in leaves.iter().enumerate() {
        if flat {
            let at = if graph.shape(*leaf).numel() == n {
                "i"
            } else {
                "0u"
            };
            loads += &format!("let v{k} = in{k}[{at}];\n");
        } else {
            let (rs, cs) = rows_view(graph.shape(*leaf), so).ok_or_else(|| {
                format!("{} does not broadcast to {so} by rows", graph.shape(*leaf))
            })?;
            loads += &format!(
                "let v{k} = in{k}[row * P({}u) + col * P({}u)];\n",
                2 + 2 * k,
                3 + 2 * k
            );
            b = b.u(rs).u(cs);
        }
    }
    let mut bindings: Vec<(u32, Buf)> = leaves
        .iter()
        .enumerate()
        .map(|(k, l)| (1 + k as u32, buf_of(plan, *l)))
        .collect();
    bindings.push((7, out));
    let (entry, placeholders, groups) = if flat {
        (
            "fused_flat",
            ["FLAT_LOADS", "FLAT_BODY"],
            per_element(n, 256)?,
        )
    } else {
        (
            "fused_rows",
            ["ROWS_LOADS", "ROWS_BODY"],
            rows_grid(rows, cols)?,
        )
    };
    Ok(vec![dispatch(
        Kernel::new(Family::Fused, entry)
            .with(placeholders[0], loads)
            .with(placeholders[1], body),
        bindings,
        b,
        groups,
    )])
}

/// A binary op whose operands broadcast other than by rows x cols.
pub(super) fn lower_strided_binary(plan: &Plan, id: NodeId, out: Buf) -> R<Vec<Dispatch>> {
    let node = plan.graph.node(id);
    let Op::Binary(op) = node.op else {
        return Err(format!("{} is not a binary op", node.op.name()));
    };
    let so = &node.shape;
    let (sa, sb) = (
        plan.graph.shape(node.inputs[0]),
        plan.graph.shape(node.inputs[1]),
    );
    check_rank("a broadcasting operand", so)?;
    Ok(vec![dispatch(
        Kernel::new(Family::Elementwise, "binary_strided")
            .with("BINARY_EXPR", binary_wgsl(op, "x", "y")),
        vec![
            (1, buf_of(plan, node.inputs[0])),
            (2, buf_of(plan, node.inputs[1])),
            (3, out),
        ],
        Builder::new()
            .u(so.numel())
            .u(so.rank())
            .dims(&so.0)
            .dims(&broadcast_strides(sa, so))
            .dims(&broadcast_strides(sb, so)),
        per_element(so.numel(), 256)?,
    )])
}
