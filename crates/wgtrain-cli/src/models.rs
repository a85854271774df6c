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
// The by-name compile settings are the guide's form; the CLI gives the same by position.
#[allow(dead_code)]
#[path = "../../../examples/models/multi_output.rs"]
pub mod multi_output;
#[path = "../../../examples/models/siamese_lstm.rs"]
pub mod siamese_lstm;
#[path = "../../../examples/models/vision_blocks.rs"]
pub mod vision_blocks;

use anyhow::{bail, Result};
use std::path::Path;
use wgtrain::data::{resolve_imdb_dir, resolve_mnist_dir};
use wgtrain::nn::{Array, Callback, CompileConfig, Loss, Model, Optimizer};

fn no_callbacks() -> Result<Vec<Box<dyn Callback>>> {
    Ok(Vec::new())
}

/// Training and validation arrays of a reference workload: one array per model input and one
/// per output.
pub struct Dataset {
    pub x_train: Vec<Array>,
    pub y_train: Vec<Array>,
    pub x_test: Vec<Array>,
    pub y_test: Vec<Array>,
}

pub struct Known {
    pub name: &'static str,
    pub about: &'static str,
    build: fn() -> Result<Model>,
    pub optimizer: fn() -> Optimizer,
    /// One loss per output.
    pub losses: &'static [Loss],
    /// The outputs' weights in the total loss (empty: all 1).
    pub loss_weights: &'static [f32],
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
    /// The length of the workload's sequences on the axes its model leaves to the data (what
    /// `bench` feeds there).
    pub free_length: usize,
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
        self.compile_with((self.optimizer)())
    }
    /// The workload's losses and loss weights with the given optimizer.
    pub fn compile_with(&self, optimizer: Optimizer) -> CompileConfig {
        CompileConfig::new(optimizer, self.losses[0])
            .losses(self.losses)
            .loss_weights(self.loss_weights)
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
        y_train: vec![d.y_train],
        x_test: vec![d.x_test],
        y_test: vec![d.y_test],
    })
}

fn imdb_top_20000(data_dir: Option<&Path>) -> Result<Dataset> {
    let d = imdb_fm::load_data(&resolve_imdb_dir(data_dir)?, imdb_fm::NUM_WORDS)?;
    Ok(Dataset {
        x_train: vec![d.x_train],
        y_train: vec![d.y_train],
        x_test: vec![d.x_test],
        y_test: vec![d.y_test],
    })
}

fn imdb_post_300(data_dir: Option<&Path>) -> Result<Dataset> {
    let d = imdb_dgcnn::load_data(&resolve_imdb_dir(data_dir)?, imdb_dgcnn::MAXLEN)?;
    Ok(Dataset {
        x_train: vec![d.x_train],
        y_train: vec![d.y_train],
        x_test: vec![d.x_test],
        y_test: vec![d.y_test],
    })
}

fn imdb_pre_500(data_dir: Option<&Path>) -> Result<Dataset> {
    let d = imdb_simplernn::load_data(&resolve_imdb_dir(data_dir)?)?;
    Ok(Dataset {
        x_train: vec![d.x_train],
        y_train: vec![d.y_train],
        x_test: vec![d.x_test],
        y_test: vec![d.y_test],
    })
}

fn qa_random(_data_dir: Option<&Path>) -> Result<Dataset> {
    use functional_qa::{random_data, SAMPLES};
    Ok(generated(
        random_data(SAMPLES, 0)?,
        random_data(SAMPLES, 1)?,
    ))
}

fn posts_random(_data_dir: Option<&Path>) -> Result<Dataset> {
    use multi_output::{random_data, MAXLEN, VOCABULARY};
    let (x_train, y_train) = random_data(multi_output::SAMPLES, VOCABULARY, MAXLEN, 0)?;
    let (x_test, y_test) = random_data(multi_output::SAMPLES / 4, VOCABULARY, MAXLEN, 1)?;
    Ok(Dataset {
        x_train: vec![x_train],
        y_train: y_train.to_vec(),
        x_test: vec![x_test],
        y_test: y_test.to_vec(),
    })
}

fn images_random(_data_dir: Option<&Path>) -> Result<Dataset> {
    use vision_blocks::{random_images, SAMPLES};
    let one = |(x, y): (Array, Array)| (vec![x], y);
    Ok(generated(
        one(random_images(SAMPLES, 0)?),
        one(random_images(SAMPLES / 4, 1)?),
    ))
}

/// A generated dataset of several inputs and one target.
fn generated(train: (Vec<Array>, Array), test: (Vec<Array>, Array)) -> Dataset {
    Dataset {
        x_train: train.0,
        y_train: vec![train.1],
        x_test: test.0,
        y_test: vec![test.1],
    }
}

fn sequence_pairs_random(_data_dir: Option<&Path>) -> Result<Dataset> {
    use siamese_lstm::{random_pairs, SAMPLES, TEST_STEPS, TRAIN_STEPS};
    Ok(generated(
        random_pairs(SAMPLES, TRAIN_STEPS, 0)?,
        random_pairs(SAMPLES / 4, TEST_STEPS, 1)?,
    ))
}

fn image_pairs_random(_data_dir: Option<&Path>) -> Result<Dataset> {
    use vision_blocks::{random_pairs, SAMPLES};
    Ok(generated(
        random_pairs(SAMPLES, 0)?,
        random_pairs(SAMPLES / 4, 1)?,
    ))
}

pub const KNOWN: &[Known] = &[
    Known {
        name: "mnist-antirectifier",
        about: "Antirectifier MLP on MNIST (reference workload 5)",
        build: antirectifier::build_model,
        optimizer: Optimizer::rmsprop,
        losses: &[Loss::CategoricalCrossentropy],
        loss_weights: &[],
        epochs: 40,
        batch_size: 128,
        load: mnist,
        pre_padded: false,
        seed_callbacks: no_callbacks,
        validation: Validates::TestSplit,
        free_length: 0,
    },
    Known {
        name: "imdb-fm",
        about: "CNN + Factorization Machine on IMDB reviews (reference workload 4)",
        build: imdb_fm::build_fm_model,
        optimizer: Optimizer::adam,
        losses: &[Loss::BinaryCrossentropy],
        loss_weights: &[],
        epochs: 2,
        batch_size: 32,
        load: imdb_top_20000,
        pre_padded: true,
        seed_callbacks: no_callbacks,
        validation: Validates::TestSplit,
        free_length: 0,
    },
    Known {
        name: "imdb-cnn",
        about: "CNN + Dense(250) on IMDB reviews (workload 4's baseline)",
        build: imdb_fm::build_cnn_model,
        optimizer: Optimizer::adam,
        losses: &[Loss::BinaryCrossentropy],
        loss_weights: &[],
        epochs: 2,
        batch_size: 32,
        load: imdb_top_20000,
        pre_padded: true,
        seed_callbacks: no_callbacks,
        validation: Validates::TestSplit,
        free_length: 0,
    },
    Known {
        name: "imdb-dgcnn",
        about: "Dilated gated CNN on IMDB reviews (reference workload 1)",
        build: imdb_dgcnn::build_model,
        optimizer: Optimizer::nadam,
        losses: &[Loss::BinaryCrossentropy],
        loss_weights: &[],
        epochs: 10,
        batch_size: 128,
        load: imdb_post_300,
        pre_padded: false,
        seed_callbacks: imdb_dgcnn::seed_callbacks,
        validation: Validates::TestSplit,
        free_length: 0,
    },
    Known {
        name: "imdb-simplernn",
        about: "Two stacked SimpleRNN(32) on IMDB reviews (reference workload 2)",
        build: imdb_simplernn::build_model,
        optimizer: Optimizer::rmsprop,
        losses: &[Loss::BinaryCrossentropy],
        loss_weights: &[],
        epochs: 10,
        batch_size: 128,
        load: imdb_pre_500,
        pre_padded: true,
        seed_callbacks: no_callbacks,
        validation: Validates::Split(0.2),
        free_length: 0,
    },
    Known {
        name: "functional-qa",
        about: "Two-input LSTM question answering on random data (reference workload 3)",
        build: functional_qa::build_model,
        optimizer: Optimizer::rmsprop,
        losses: &[Loss::CategoricalCrossentropy],
        loss_weights: &[],
        epochs: 10,
        batch_size: 128,
        load: qa_random,
        pre_padded: true,
        seed_callbacks: no_callbacks,
        validation: Validates::Nothing,
        free_length: functional_qa::MAXLEN,
    },
    Known {
        name: "multi-output",
        about:
            "Posts -> Conv1D stack -> age, income and gender heads, loss weights 0.25 / 1 / 10, \
                on random data (reference workload 3)",
        build: multi_output::build_model,
        optimizer: Optimizer::rmsprop,
        losses: &[
            Loss::MeanSquaredError,
            Loss::CategoricalCrossentropy,
            Loss::BinaryCrossentropy,
        ],
        loss_weights: &[0.25, 1.0, 10.0],
        epochs: 2,
        batch_size: 32,
        load: posts_random,
        pre_padded: true,
        seed_callbacks: no_callbacks,
        validation: Validates::TestSplit,
        free_length: multi_output::MAXLEN,
    },
    Known {
        name: "inception-block",
        about: "Inception module (four Conv2D / AveragePooling2D branches, stride 2) on random \
                32x32x64 images (reference workload 3)",
        build: vision_blocks::inception_block,
        optimizer: Optimizer::rmsprop,
        losses: &[Loss::CategoricalCrossentropy],
        loss_weights: &[],
        epochs: 2,
        batch_size: 32,
        load: images_random,
        pre_padded: false,
        seed_callbacks: no_callbacks,
        validation: Validates::TestSplit,
        free_length: 0,
    },
    Known {
        name: "residual-block",
        about: "Projection and identity residual blocks of Conv2D(128) on random 32x32x64 \
                images (reference workload 3)",
        build: vision_blocks::residual_block,
        optimizer: Optimizer::rmsprop,
        losses: &[Loss::CategoricalCrossentropy],
        loss_weights: &[],
        epochs: 2,
        batch_size: 32,
        load: images_random,
        pre_padded: false,
        seed_callbacks: no_callbacks,
        validation: Validates::TestSplit,
        free_length: 0,
    },
    Known {
        name: "siamese-lstm",
        about: "One LSTM(32) shared by two sequences of any length, on generated pairs \
                (reference workload 3)",
        build: siamese_lstm::build_model,
        optimizer: Optimizer::rmsprop,
        losses: &[Loss::BinaryCrossentropy],
        loss_weights: &[],
        epochs: 2,
        batch_size: 32,
        load: sequence_pairs_random,
        pre_padded: false,
        seed_callbacks: no_callbacks,
        validation: Validates::TestSplit,
        free_length: siamese_lstm::TRAIN_STEPS,
    },
    Known {
        name: "shared-vision",
        about: "One convolutional base model applied as a layer to two random 64x64 images \
                (reference workload 3)",
        build: vision_blocks::shared_vision,
        optimizer: Optimizer::rmsprop,
        losses: &[Loss::BinaryCrossentropy],
        loss_weights: &[],
        epochs: 2,
        batch_size: 32,
        load: image_pairs_random,
        pre_padded: false,
        seed_callbacks: no_callbacks,
        validation: Validates::TestSplit,
        free_length: 0,
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
