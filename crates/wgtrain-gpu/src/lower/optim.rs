//! Optimizer updates: one fused kernel per parameter.

use super::*;

/// The optimizer kernel for `spec` and the state tensors it binds.
pub fn lower_update(spec: &OptimizerSpec, plan: &Plan, u: &Update, n: usize) -> R<Dispatch> {
    let p = Buf::Param(u.param);
    let g = buf_of(plan, u.grad);
    let slot = |k| Buf::OptimizerSlot(u.param, k);
    let base = Builder::new().u(n);
    let (entry, bindings, b) = match *spec {
        OptimizerSpec::Sgd {
            momentum, nesterov, ..
        } => {
            if momentum == 0.0 {
                ("sgd", vec![(1, p), (2, g), (5, Buf::Step)], base)
            } else {
                (
                    "sgd_momentum",
                    vec![(1, p), (2, g), (3, slot(0)), (5, Buf::Step)],
                    base.f(momentum).u(usize::from(nesterov)),
                )
            }
        }
        OptimizerSpec::RmsProp {
            rho,
            momentum,
            epsilon,
            ..
        } => (
            "rmsprop",
            vec![(1, p), (2, g), (3, slot(0)), (4, slot(1)), (5, Buf::Step)],
            base.f(rho).f(momentum).f(epsilon),
        ),
        OptimizerSpec::Adam {
            beta_1,
            beta_2,
            epsilon,
            ..
        } => (
            "adam",
            vec![(1, p), (2, g), (3, slot(0)), (4, slot(1)), (5, Buf::Step)],
            base.f(beta_1).f(beta_2).f(epsilon).f(0.0),
        ),
        OptimizerSpec::AdamW {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            ..
        } => (
            "adam",
            vec![(1, p), (2, g), (3, slot(0)), (4, slot(1)), (5, Buf::Step)],
            base.f(beta_1).f(beta_2).f(epsilon).f(weight_decay),
        ),
        OptimizerSpec::Nadam {
            beta_1,
            beta_2,
            epsilon,
            ..
        } => (
            "nadam",
            vec![(1, p), (2, g), (3, slot(0)), (4, slot(1)), (5, Buf::Step)],
            base.f(beta_1).f(beta_2).f(epsilon),
        ),
    };
    let mut bindings = bindings;
    let squared = match u.grad_sq {
        Some(q) => {
            bindings.push((crate::kernels::binding::optim::GRAD_SQ, buf_of(plan, q)));
            "gsq[i]"
        }
        None => "g[i] * g[i]",
    };
    Ok(dispatch(
        Kernel::new(Family::Optim, entry).with("SQUARED_GRAD", squared),
        bindings,
        b,
        per_element(n, 256)?,
    ))
}
