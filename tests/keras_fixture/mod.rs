//! Step-parity references made by Keras (`scripts/keras_reference/`): initial weights in
//! `get_weights()` order, the batches, and per-step results in a JSON file beside them.

#![allow(dead_code)]

use safetensors::SafeTensors;
use wgtrain::nn::Array;

pub struct Reference {
    pub weights: Vec<Array>,
    pub x: Vec<i32>,
    pub y: Vec<f32>,
    pub meta: serde_json::Value,
}

impl Reference {
    /// `tests/fixtures/NAME.safetensors` and `NAME.json`.
    pub fn load(name: &str) -> Self {
        let fixture = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{fixture}.json")).unwrap())
                .unwrap();
        let bytes = std::fs::read(format!("{fixture}.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let words = |name: &str| -> (Vec<usize>, Vec<[u8; 4]>) {
            let t = st.tensor(name).unwrap();
            let w = t
                .data()
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect();
            (t.shape().to_vec(), w)
        };
        let n_weights = meta["weight_names"].as_array().unwrap().len();
        let weights = (0..n_weights)
            .map(|i| {
                let (shape, w) = words(&format!("weight.{i:02}"));
                Array::new(shape, w.into_iter().map(f32::from_le_bytes).collect()).unwrap()
            })
            .collect();
        Self {
            weights,
            x: words("x").1.into_iter().map(i32::from_le_bytes).collect(),
            y: words("y").1.into_iter().map(f32::from_le_bytes).collect(),
            meta,
        }
    }
    pub fn n(&self, key: &str) -> usize {
        self.meta[key].as_u64().unwrap() as usize
    }
    pub fn f(&self, key: &str) -> f32 {
        self.meta[key].as_f64().unwrap() as f32
    }
    pub fn list(&self, key: &str) -> Vec<f32> {
        let v = self.meta[key].as_array().unwrap();
        v.iter().map(|x| x.as_f64().unwrap() as f32).collect()
    }
    pub fn batch(&self, i: usize) -> (Array, Array) {
        let (b, l) = (self.n("batch_size"), self.n("maxlen"));
        let x = Array::from_i32([b, l], self.x[i * b * l..(i + 1) * b * l].to_vec()).unwrap();
        let y = Array::new([b, 1], self.y[i * b..(i + 1) * b].to_vec()).unwrap();
        (x, y)
    }
}
