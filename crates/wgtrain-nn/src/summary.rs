//! `Model::summary`: the Keras-style table of layers, output shapes and parameter counts.

use crate::model::Model;
use crate::tensor::Source;

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(n: usize) -> String {
    let b = n as f64 * 4.0;
    if b >= 1024.0 * 1024.0 {
        format!("{:.2} MB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.2} KB", b / 1024.0)
    } else {
        format!("{b:.2} B")
    }
}

impl Model {
    /// The summary table as text.
    pub fn summary_text(&self) -> String {
        let mut rows: Vec<(String, String, usize)> = Vec::new();
        if self.name != "sequential" {
            for t in &self.inputs {
                if let Source::Input { name } = &t.source {
                    rows.push((format!("{name} (InputLayer)"), t.shape_text(), 0));
                }
            }
        }
        let mut shown = Vec::new();
        for call in &self.calls {
            if shown
                .iter()
                .any(|l: &crate::layer::LayerHandle| l.same(&call.layer))
            {
                continue;
            }
            shown.push(call.layer.clone());
            let slot = call.layer.inner.borrow();
            let params: usize = slot.weights.iter().map(|w| w.shape.numel()).sum();
            let out = self
                .output_shape_of(call.id)
                .unwrap_or_else(|| "?".to_string());
            rows.push((
                format!("{} ({})", slot.name, slot.layer.class_name()),
                out,
                params,
            ));
        }
        let widest = rows
            .iter()
            .map(|r| r.0.chars().count() + 2)
            .max()
            .unwrap_or(0);
        let w = [widest.max(33), 24, 15];
        let line = |l: &str, m: &str, r: &str, f: &str| {
            format!(
                "{l}{}{m}{}{m}{}{r}\n",
                f.repeat(w[0]),
                f.repeat(w[1]),
                f.repeat(w[2])
            )
        };
        let mut s = format!("Model: \"{}\"\n", self.name);
        s += &line("┏", "┳", "┓", "━");
        s += &format!(
            "┃ {:<a$} ┃ {:<b$} ┃ {:>c$} ┃\n",
            "Layer (type)",
            "Output Shape",
            "Param #",
            a = w[0] - 2,
            b = w[1] - 2,
            c = w[2] - 2
        );
        s += &line("┡", "╇", "┩", "━");
        for (i, (name, shape, params)) in rows.iter().enumerate() {
            s += &format!(
                "│ {:<a$} │ {:<b$} │ {:>c$} │\n",
                name,
                shape,
                thousands(*params),
                a = w[0] - 2,
                b = w[1] - 2,
                c = w[2] - 2
            );
            if i + 1 < rows.len() {
                s += &line("├", "┼", "┤", "─");
            }
        }
        s += &line("└", "┴", "┘", "─");
        let total = self.count_params();
        s += &format!(" Total params: {} ({})\n", thousands(total), bytes(total));
        let trainable = self.count_trainable_params();
        s += &format!(
            " Trainable params: {} ({})\n",
            thousands(trainable),
            bytes(trainable)
        );
        s += &format!(
            " Non-trainable params: {} ({})\n",
            thousands(total - trainable),
            bytes(total - trainable)
        );
        s
    }

    pub fn summary(&self) {
        print!("{}", self.summary_text());
    }

    /// Output shape text of a layer call, found among the tensors the model knows.
    fn output_shape_of(&self, call_id: usize) -> Option<String> {
        let mut stack: Vec<&crate::tensor::Tensor> = self.outputs.iter().collect();
        for c in &self.calls {
            stack.extend(c.inputs.iter());
        }
        stack.into_iter().find_map(|t| match &t.source {
            Source::Call { call, index: 0 } if call.id == call_id => Some(t.shape_text()),
            _ => None,
        })
    }
}
