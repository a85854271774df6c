//! Loading the IMDB movie-review sentiment dataset from Keras' `imdb.npz`,
//! producing the same arrays, in the same order, as Keras 3's
//! `keras.datasets.imdb.load_data`.
//!
//! The archive holds the reviews as word ranks (1 = most frequent word) in
//! file order. Keras then, in this order: shuffles the training split and
//! then the test split with one `np.random.RandomState(seed)`; prepends
//! `start_char` and adds `index_from` to every rank; drops sequences that are
//! not shorter than `maxlen`; and replaces ids outside `[skip_top, num_words)`
//! with `oov_char` (or removes them when `oov_char` is `None`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::npz::Npz;
use crate::numpy_random::RandomState;

/// The file name of Keras' preprocessed IMDB archive.
pub const IMDB_NPZ_FILE: &str = "imdb.npz";
/// The file name of Keras' IMDB word index (word → frequency rank).
pub const IMDB_WORD_INDEX_FILE: &str = "imdb_word_index.json";
/// The sub-directory of a data or cache directory that may hold the IMDB files.
pub const IMDB_SUBDIR: &str = "imdb";

/// The arguments of `keras.datasets.imdb.load_data`, with its defaults.
///
/// As in Keras, `num_words: Some(0)` means the same as `None` and
/// `maxlen: Some(0)` the same as `None` (Python treats 0 as false there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImdbOptions {
    /// Keep ids below this; `None`: the largest id in the data (which then
    /// itself becomes out-of-vocabulary, exactly as in Keras).
    pub num_words: Option<usize>,
    /// Ids below this become `oov_char` (this includes `start_char` when it is
    /// smaller, as in Keras).
    pub skip_top: usize,
    /// Drop reviews whose length (with `start_char`) is `maxlen` or more.
    pub maxlen: Option<usize>,
    /// Seed of the `RandomState` that shuffles both splits; 0 to 2^32 - 1.
    pub seed: u64,
    /// Prepended to every review when set.
    pub start_char: Option<i32>,
    /// Replaces ids cut by `num_words`/`skip_top`; `None` removes them instead.
    pub oov_char: Option<i32>,
    /// Added to every word rank, reserving the ids below it.
    pub index_from: i32,
}

impl Default for ImdbOptions {
    fn default() -> Self {
        Self {
            num_words: None,
            skip_top: 0,
            maxlen: None,
            seed: 113,
            start_char: Some(1),
            oov_char: Some(2),
            index_from: 3,
        }
    }
}

/// IMDB as `load_data` returns it: one id sequence per review, and labels
/// (1 = positive, 0 = negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imdb {
    pub x_train: Vec<Vec<i32>>,
    pub y_train: Vec<i32>,
    pub x_test: Vec<Vec<i32>>,
    pub y_test: Vec<i32>,
}

impl Imdb {
    pub fn n_train(&self) -> usize {
        self.y_train.len()
    }

    pub fn n_test(&self) -> usize {
        self.y_test.len()
    }

    /// Training labels as `0.0`/`1.0`, for a sigmoid output.
    pub fn y_train_f32(&self) -> Vec<f32> {
        self.y_train.iter().map(|&y| y as f32).collect()
    }

    /// Test labels as `0.0`/`1.0`, for a sigmoid output.
    pub fn y_test_f32(&self) -> Vec<f32> {
        self.y_test.iter().map(|&y| y as f32).collect()
    }
}

/// The arrays of `imdb.npz` as stored: word ranks without offsets, unshuffled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImdbRaw {
    pub x_train: Vec<Vec<i64>>,
    pub y_train: Vec<i64>,
    pub x_test: Vec<Vec<i64>>,
    pub y_test: Vec<i64>,
}

/// Loads IMDB like `keras.datasets.imdb.load_data(**options)`. `path` is the
/// `imdb.npz` file, or a directory holding it directly or in an `imdb/`
/// sub-directory.
pub fn load_imdb(path: &Path, options: &ImdbOptions) -> Result<Imdb> {
    let npz = find_imdb_file(path, IMDB_NPZ_FILE)?;
    let raw = read_imdb_npz(&npz)?;
    prepare_imdb(&raw, options)
        .with_context(|| format!("cannot prepare IMDB from {}", npz.display()))
}

/// `path` itself if it is a file, else `<path>/<name>` or `<path>/imdb/<name>`.
pub fn find_imdb_file(path: &Path, name: &str) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if !path.is_dir() {
        bail!(
            "IMDB path {} does not exist; pass the {name} file or a directory holding it",
            path.display()
        );
    }
    imdb_file_in(path, name).ok_or_else(|| {
        anyhow::anyhow!(
            "IMDB directory {} holds neither {name} nor {IMDB_SUBDIR}/{name}",
            path.display()
        )
    })
}

/// `<dir>/<name>` or `<dir>/imdb/<name>`, whichever exists first.
pub fn imdb_file_in(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(IMDB_SUBDIR).join(name)]
        .into_iter()
        .find(|path| path.is_file())
}

/// Reads the four arrays of an `imdb.npz` as stored, checking their shapes.
pub fn read_imdb_npz(path: &Path) -> Result<ImdbRaw> {
    let mut npz = Npz::open(path)?;
    let shown = path.display();
    let mut lists = |key: &str| -> Result<Vec<Vec<i64>>> {
        npz.array(key)?
            .into_int_lists()
            .with_context(|| format!("{shown}: array {key:?} should hold one id list per review"))
    };
    let x_train = lists("x_train")?;
    let x_test = lists("x_test")?;
    let mut labels = |key: &str, expected: usize| -> Result<Vec<i64>> {
        let array = npz.array(key)?;
        let labels = array
            .to_i64_vec()
            .with_context(|| format!("{shown}: array {key:?} should hold integer labels"))?;
        if array.shape.len() != 1 || labels.len() != expected {
            bail!(
                "{shown}: array {key:?} has shape {:?}, but there are {expected} reviews",
                array.shape
            );
        }
        Ok(labels)
    };
    let y_train = labels("y_train", x_train.len())?;
    let y_test = labels("y_test", x_test.len())?;
    Ok(ImdbRaw {
        x_train,
        y_train,
        x_test,
        y_test,
    })
}

/// Applies Keras' `load_data` steps to the stored arrays.
pub fn prepare_imdb(raw: &ImdbRaw, options: &ImdbOptions) -> Result<Imdb> {
    for (split, reviews, labels) in [
        ("train", raw.x_train.len(), raw.y_train.len()),
        ("test", raw.x_test.len(), raw.y_test.len()),
    ] {
        if reviews != labels {
            bail!("the IMDB {split} split has {reviews} reviews but {labels} labels");
        }
    }
    let mut rng = RandomState::new(options.seed)?;
    let train_order = rng.shuffled_indices(raw.x_train.len());
    let test_order = rng.shuffled_indices(raw.x_test.len());
    let index_from = i64::from(options.index_from);
    let start = options.start_char.map(i64::from);
    let length = |seq: &Vec<i64>| seq.len() + usize::from(start.is_some());

    // Keras drops sequences of length >= maxlen (`if len(x) < maxlen: keep`).
    let keep = |seq: &Vec<i64>| options.maxlen.is_none_or(|m| m == 0 || length(seq) < m);
    let train: Vec<usize> = train_order
        .into_iter()
        .filter(|&i| keep(&raw.x_train[i]))
        .collect();
    let test: Vec<usize> = test_order
        .into_iter()
        .filter(|&i| keep(&raw.x_test[i]))
        .collect();
    if let Some(maxlen) = options.maxlen.filter(|&m| m > 0) {
        if train.is_empty() || test.is_empty() {
            bail!(
                "after filtering for sequences shorter than maxlen={maxlen}, no sequence was \
                 kept; increase maxlen"
            );
        }
    }

    let shifted = |rank: i64| -> Result<i64> {
        rank.checked_add(index_from)
            .with_context(|| format!("word rank {rank} + index_from {index_from} overflows"))
    };
    let num_words = match options.num_words.filter(|&n| n > 0) {
        Some(n) => i64::try_from(n).unwrap_or(i64::MAX),
        None => {
            let ranks = train
                .iter()
                .map(|&i| &raw.x_train[i])
                .chain(test.iter().map(|&i| &raw.x_test[i]))
                .flat_map(|seq| seq.iter().copied());
            let mut max = start;
            for rank in ranks {
                let id = shifted(rank)?;
                max = Some(max.map_or(id, |m| m.max(id)));
            }
            max.unwrap_or(0)
        }
    };
    let skip_top = i64::try_from(options.skip_top).unwrap_or(i64::MAX);
    let oov = options.oov_char.map(i64::from);

    let encode = |seq: &Vec<i64>| -> Result<Vec<i32>> {
        let mut out = Vec::with_capacity(length(seq));
        let ids = start
            .into_iter()
            .map(Ok)
            .chain(seq.iter().map(|&rank| shifted(rank)));
        for id in ids {
            let id = id?;
            let kept = if (skip_top..num_words).contains(&id) {
                Some(id)
            } else {
                oov
            };
            if let Some(id) = kept {
                out.push(
                    i32::try_from(id)
                        .with_context(|| format!("word id {id} does not fit in i32"))?,
                );
            }
        }
        Ok(out)
    };
    let label = |y: i64| i32::try_from(y).with_context(|| format!("label {y} does not fit in i32"));
    Ok(Imdb {
        x_train: train
            .iter()
            .map(|&i| encode(&raw.x_train[i]))
            .collect::<Result<_>>()?,
        y_train: train
            .iter()
            .map(|&i| label(raw.y_train[i]))
            .collect::<Result<_>>()?,
        x_test: test
            .iter()
            .map(|&i| encode(&raw.x_test[i]))
            .collect::<Result<_>>()?,
        y_test: test
            .iter()
            .map(|&i| label(raw.y_test[i]))
            .collect::<Result<_>>()?,
    })
}
