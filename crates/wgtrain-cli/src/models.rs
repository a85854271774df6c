//! The reference models the CLI knows by name: how each is built, trained and fed.

#[path = "../../../examples/models/antirectifier.rs"]
pub mod antirectifier;
#[path = "../../../examples/models/functional_qa.rs"]
pub mod functional_qa;
#[path = "../../../examples/models/imdb_dgcnn.rs"]
pub mod imdb_dgcnn;
#[path = "../../../examples/models/imdb_fm.rs"]
pub mod imdb_fm;
#[path = "../../../examples/models/imdb_simplernn.rs"]
pub mod imdb_simplernn;

use anyhow::{bail, Result};
use std::path::Path;
use wgtrain::data::{resolve_imdb_dir, resolve_mnist_dir};
use wgtrain::nn::{Array, Callback, CompileConfig, Loss, Model, Optimizer};

fn no_callbacks() -> Result<Vec<Box<dyn Callback>>> {
    Ok(Vec::new())
}

/// Training and validation arrays of a reference workload: one input array per model input.
pub struct Dataset {
    pub x_train: Vec<Array>,
    pub y_train: Array,
    pub x_test: Vec<Array>,
    pub y_test: Array,
}

pub struct Known {
    pub name: &'static str,
    pub about: &'static str,
    build: fn() -> Result<Model>,
    pub optimizer: fn() -> Optimizer,
    pub loss: Loss,
    pub epochs: usize,
    pub batch_size: usize,
    load: fn(Option<&Path>) -> Result<Dataset>,
    /// Whether the workload pads and truncates its sequences at the start (`--text-column`
    /// follows it).
    pub pre_padded: bool,
    /// Callbacks the workload's original trains with (the CLI's flags replace them).
    pub seed_callbacks: fn() -> Result<Vec<Box<dyn Callback>>>,
    /// What the original validates on.
    pub validation: Validates,
}

/// What a reference workload validates on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Validates {
    TestSplit,
    /// The last fraction of the training data (Keras' `validation_split`).
    Split(f32),
    Nothing,
}

impl Known {
    pub fn build(&self) -> Result<Model> {
        (self.build)()
    }
    pub fn compile_config(&self) -> CompileConfig {
        CompileConfig::new((self.optimizer)(), self.loss)
    }
    /// The workload's real data, from `data_dir`, `$WGTRAIN_DATA_DIR` or the download cache.
    pub fn load(&self, data_dir: Option<&Path>) -> Result<Dataset> {
        (self.load)(data_dir)
    }
}

fn mnist(data_dir: Option<&Path>) -> Result<Dataset> {
    let d = antirectifier::load_data(&resolve_mnist_dir(data_dir)?)?;
    Ok(Dataset {
        x_train: vec![d.x_train],
        y_train: d.y_train,
        x_test: vec![d.x_test],
        y_test: d.y_test,
    })
}

fn imdb_top_20000(data_dir: Option<&Path>) -> Result<Dataset> {
    let d = imdb_fm::load_data(&resolve_imdb_dir(data_dir)?, imdb_fm::NUM_WORDS)?;
    Ok(Dataset {
        x_train: vec![d.x_train],
        y_train: d.y_train,
        x_test: vec![d.x_test],
        y_test: d.y_test,
    })
}

fn imdb_post_300(data_dir: Option<&Path>) -> Result<Dataset> {
    let d = imdb_dgcnn::load_data(&resolve_imdb_dir(data_dir)?, imdb_dgcnn::MAXLEN)?;
    Ok(Dataset {
        x_train: vec![d.x_train],
        y_train: d.y_train,
        x_test: vec![d.x_test],
        y_test: d.y_test,
    })
}

fn imdb_pre_500(data_dir: Option<&Path>) -> Result<Dataset> {
    let d = imdb_simplernn::load_data(&resolve_imdb_dir(data_dir)?)?;
    Ok(Dataset {
        x_train: vec![d.x_train],
        y_train: d.y_train,
        x_test: vec![d.x_test],
        y_test: d.y_test,
    })
}

fn qa_random(_data_dir: Option<&Path>) -> Result<Dataset> {
    let (x_train, y_train) = functional_qa::random_data(functional_qa::SAMPLES, 0)?;
    let (x_test, y_test) = functional_qa::random_data(functional_qa::SAMPLES, 1)?;
    Ok(Dataset {
        x_train,
        y_train,
        x_test,
        y_test,
    })
}

pub const KNOWN: &[Known] = &[
    Known {
        name: "mnist-antirectifier",
        about: "Antirectifier MLP on MNIST (reference workload 5)",
        build: antirectifier::build_model,
        optimizer: Optimizer::rmsprop,
        loss: Loss::CategoricalCrossentropy,
        epochs: 40,
        batch_size: 128,
        load: mnist,
        pre_padded: false,
        seed_callbacks: no_callbacks,
        validation: Validates::TestSplit,
    },
    Known {
        name: "imdb-fm",
        about: "CNN + Factorization Machine on IMDB reviews (reference workload 4)",
        build: imdb_fm::build_fm_model,
        optimizer: Optimizer::adam,
        loss: Loss::BinaryCrossentropy,
        epochs: 2,
        batch_size: 32,
        load: imdb_top_20000,
        pre_padded: true,
        seed_callbacks: no_callbacks,
        validation: Validates::TestSplit,
    },
    Known {
        name: "imdb-cnn",
        about: "CNN + Dense(250) on IMDB reviews (workload 4's baseline)",
        build: imdb_fm::build_cnn_model,
        optimizer: Optimizer::adam,
        loss: Loss::BinaryCrossentropy,
        epochs: 2,
        batch_size: 32,
        load: imdb_top_20000,
        pre_padded: true,
        seed_callbacks: no_callbacks,
        validation: Validates::TestSplit,
    },
    Known {
        name: "imdb-dgcnn",
        about: "Dilated gated CNN on IMDB reviews (reference workload 1)",
        build: imdb_dgcnn::build_model,
        optimizer: Optimizer::nadam,
        loss: Loss::BinaryCrossentropy,
        epochs: 10,
        batch_size: 128,
        load: imdb_post_300,
        pre_padded: false,
        seed_callbacks: imdb_dgcnn::seed_callbacks,
        validation: Validates::TestSplit,
    },
    Known {
        name: "imdb-simplernn",
        about: "Two stacked SimpleRNN(32) on IMDB reviews (reference workload 2)",
        build: imdb_simplernn::build_model,
        optimizer: Optimizer::rmsprop,
        loss: Loss::BinaryCrossentropy,
        epochs: 10,
        batch_size: 128,
        load: imdb_pre_500,
        pre_padded: true,
        seed_callbacks: no_callbacks,
        validation: Validates::Split(0.2),
    },
    Known {
        name: "functional-qa",
        about: "Two-input LSTM question answering on random data (reference workload 3)",
        build: functional_qa::build_model,
        optimizer: Optimizer::rmsprop,
        loss: Loss::CategoricalCrossentropy,
        epochs: 10,
        batch_size: 128,
        load: qa_random,
        pre_padded: true,
        seed_callbacks: no_callbacks,
        validation: Validates::Nothing,
    },
];

pub fn lookup(name: &str) -> Result<&'static Known> {
    match KNOWN.iter().find(|k| k.name == name) {
        Some(k) => Ok(k),
        None => {
            let list: Vec<String> = KNOWN
                .iter()
                .map(|k| format!("  {} — {}", k.name, k.about))
                .collect();
            bail!("unknown model '{name}'. Known models:\n{}", list.join("\n"))
        }
    }
}
