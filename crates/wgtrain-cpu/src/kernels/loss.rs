use wgtrain_graph::AccuracyKind;

/// Mean over rows of -sum(labels * log_softmax(logits)); rows are `width` wide.
pub fn softmax_cross_entropy(logits: &[f32], labels: &[f32], width: usize) -> f32 {
    let rows = logits.len() / width;
    let mut total = 0.0f64;
    for (z, y) in logits.chunks(width).zip(labels.chunks(width)) {
        let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let log_sum = z.iter().map(|&v| (v - max).exp()).sum::<f32>().ln() + max;
        let row: f32 = z.iter().zip(y).map(|(&zi, &yi)| yi * (log_sum - zi)).sum();
        total += row as f64;
    }
    (total / rows as f64) as f32
}

pub fn softmax_cross_entropy_grad(
    logits: &[f32],
    labels: &[f32],
    width: usize,
    up: f32,
    out: &mut [f32],
) {
    let rows = logits.len() / width;
    let scale = up / rows as f32;
    for ((z, y), o) in logits
        .chunks(width)
        .zip(labels.chunks(width))
        .zip(out.chunks_mut(width))
    {
        let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0;
        for (oi, &zi) in o.iter_mut().zip(z) {
            *oi = (zi - max).exp();
            sum += *oi;
        }
        let label_sum: f32 = y.iter().sum();
        for (oi, &yi) in o.iter_mut().zip(y) {
            *oi = (*oi / sum * label_sum - yi) * scale;
        }
    }
}

/// Mean over elements of max(z, 0) - z * t + log(1 + exp(-|z|)).
pub fn sigmoid_bce(logits: &[f32], targets: &[f32]) -> f32 {
    let total: f64 = logits
        .iter()
        .zip(targets)
        .map(|(&z, &t)| (z.max(0.0) - z * t + (-z.abs()).exp().ln_1p()) as f64)
        .sum();
    (total / logits.len() as f64) as f32
}

pub fn sigmoid_bce_grad(logits: &[f32], targets: &[f32], up: f32, out: &mut [f32]) {
    let scale = up / logits.len() as f32;
    for ((o, &z), &t) in out.iter_mut().zip(logits).zip(targets) {
        *o = (1.0 / (1.0 + (-z).exp()) - t) * scale;
    }
}

pub fn one_hot(indices: &[f32], depth: usize, out: &mut [f32]) {
    out.fill(0.0);
    for (row, &c) in out.chunks_mut(depth).zip(indices) {
        let c = c as usize;
        if c < depth {
            row[c] = 1.0;
        }
    }
}

pub fn accuracy(kind: AccuracyKind, pred: &[f32], labels: &[f32], width: usize) -> f32 {
    let (correct, total) = match kind {
        AccuracyKind::Categorical => {
            let correct = pred
                .chunks(width)
                .zip(labels.chunks(width))
                .filter(|(p, y)| argmax(p) == argmax(y))
                .count();
            (correct, pred.len() / width)
        }
        AccuracyKind::Binary => {
            let correct = pred
                .iter()
                .zip(labels)
                .filter(|(&p, &y)| (p > 0.5) == (y > 0.5))
                .count();
            (correct, pred.len())
        }
    };
    correct as f32 / total.max(1) as f32
}

/// First index of the largest value, as Keras' argmax picks it.
fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for i in 1..v.len() {
        if v[i] > v[best] {
            best = i;
        }
    }
    best
}
