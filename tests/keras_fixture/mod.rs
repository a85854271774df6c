//! Step-parity references made by Keras (`scripts/keras_reference/`): initial weights in
//! `get_weights()` order, the batches, and per-step results in a JSON file beside them.

#![allow(dead_code)]

use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use wgtrain::nn::Array;

pub struct Reference {
    pub weights: Vec<Array>,
    /// The int32 tensor "x" and the float32 tensor "y", where the fixture has them (empty if not).
    pub x: Vec<i32>,
    pub y: Vec<f32>,
    /// Every tensor other than the weights, by name, with its shape (samples first).
    pub arrays: HashMap<String, Array>,
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
        let mut arrays = HashMap::new();
        for name in st.names() {
            if name.starts_with("weight.") {
                continue;
            }
            let (shape, w) = words(name);
            let array = match st.tensor(name).unwrap().dtype() {
                Dtype::I32 => {
                    Array::from_i32(shape, w.into_iter().map(i32::from_le_bytes).collect())
                }
                Dtype::F32 => Array::new(shape, w.into_iter().map(f32::from_le_bytes).collect()),
                other => panic!("fixture tensor {name}: unexpected dtype {other:?}"),
            };
            arrays.insert(name.to_string(), array.unwrap());
        }
        let x = arrays.get("x").map(|a| a.i32s().unwrap().to_vec());
        let y = arrays.get("y").map(|a| a.f32s().unwrap().to_vec());
        Self {
            weights,
            x: x.unwrap_or_default(),
            y: y.unwrap_or_default(),
            arrays,
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
    /// Batch `i` (rows `i * batch_size..(i + 1) * batch_size`) of the tensor `name`.
    pub fn rows(&self, name: &str, i: usize) -> Array {
        let b = self.n("batch_size");
        let a = self
            .arrays
            .get(name)
            .unwrap_or_else(|| panic!("the fixture has no tensor {name}"));
        a.slice_rows(i * b, (i + 1) * b).unwrap()
    }
}
