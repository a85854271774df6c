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
    /// The summary table as text. A functional model's table has Keras' `Connected to` column:
    /// each call's inputs as `layer[call][output]` (a layer applied twice shows both calls).
    pub fn summary_text(&self) -> String {
        let functional = self.name != "sequential";
        let mut rows: Vec<[String; 4]> = Vec::new();
        if functional {
            for t in &self.inputs {
                if let Source::Input { name } = &t.source {
                    rows.push([
                        format!("{name} (InputLayer)"),
                        t.shape_text(),
                        "0".into(),
                        "-".into(),
                    ]);
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
            let connected: Vec<String> = self
                .calls
                .iter()
                .filter(|c| c.layer.same(&call.layer))
                .flat_map(|c| c.inputs.iter().map(|t| self.tensor_reference(t)))
                .collect();
            rows.push([
                format!("{} ({})", slot.name, slot.layer.class_name()),
                out,
                thousands(params),
                connected.join(", "),
            ]);
        }
        let columns = if functional { 4 } else { 3 };
        let heads = ["Layer (type)", "Output Shape", "Param #", "Connected to"];
        let mins = [33, 24, 15, 20];
        let w: Vec<usize> = (0..columns)
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count() + 2)
                    .chain([mins[c]])
                    .max()
                    .unwrap_or(mins[c])
            })
            .collect();
        let line = |l: &str, m: &str, r: &str, f: &str| {
            let cells: Vec<String> = w.iter().map(|n| f.repeat(*n)).collect();
            format!("{l}{}{r}\n", cells.join(m))
        };
        let cells = |row: [&str; 4], bar: &str| {
            let parts: Vec<String> = (0..columns)
                .map(|c| {
                    // Parameter counts align right, as Keras prints them.
                    if c == 2 {
                        format!(" {:>n$} ", row[c], n = w[c] - 2)
                    } else {
                        format!(" {:<n$} ", row[c], n = w[c] - 2)
                    }
                })
                .collect();
            format!("{bar}{}{bar}\n", parts.join(bar))
        };
        let mut s = format!("Model: \"{}\"\n", self.name);
        s += &line("┏", "┳", "┓", "━");
        s += &cells(heads, "┃");
        s += &line("┡", "╇", "┩", "━");
        for (i, r) in rows.iter().enumerate() {
            s += &cells([&r[0], &r[1], &r[2], &r[3]], "│");
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

    /// How Keras names a tensor in `Connected to`: `layer[call][output]`, the call counted
    /// among that layer's calls.
    fn tensor_reference(&self, t: &crate::tensor::Tensor) -> String {
        match &t.source {
            Source::Input { name } => format!("{name}[0][0]"),
            Source::Call { call, index } => {
                let node = self
                    .calls
                    .iter()
                    .filter(|c| c.layer.same(&call.layer))
                    .position(|c| c.id == call.id)
                    .unwrap_or(0);
                format!("{}[{node}][{index}]", call.layer.name())
            }
        }
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
