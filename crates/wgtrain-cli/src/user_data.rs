//! Training data of the user's own instead of a workload's: `.npy` arrays (`--x`, `--y`), an
//! `.npz` archive (`--npz` with `--x-key`, `--y-key`), or a CSV (`--csv`) of numeric features
//! or of texts (`--text-column`, turned into token ids like Keras' `TextVectorization`) with a
//! label column (`--label-column`). Labels given as names become class ids (the names sorted);
//! class ids become one-hot rows where the model's output has several units. The label names
//! and the vocabulary are kept with the saved weights.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::HashMap;
use std::path::PathBuf;
use wgtrain::data::table::{label_ids, Table};
use wgtrain::data::text_vectorization::TextVectorizer;
use wgtrain::data::{read_npy, NpyArray, NpyData, Npz};
use wgtrain::graph::DType;
use wgtrain::nn::{Array, Model};

/// Where samples come from, for training, evaluation and prediction.
#[derive(Args, Default)]
pub struct SourceArgs {
    /// Inputs from a .npy file (any numeric dtype, C or Fortran order) instead of the
    /// workload's dataset
    #[arg(long, conflicts_with_all = ["npz", "csv"])]
    x: Option<PathBuf>,
    /// The targets for --x (.npy): class ids, one-hot rows or values
    #[arg(long, requires = "x")]
    y: Option<PathBuf>,
    /// The arrays --x-key and --y-key of this .npz archive
    #[arg(long, conflicts_with = "csv")]
    npz: Option<PathBuf>,
    #[arg(long, default_value = "x")]
    x_key: String,
    #[arg(long, default_value = "y")]
    y_key: String,
    /// A CSV with a header row (plain or gzipped): numeric feature columns, or a text column
    /// (--text-column), and a label column (--label-column)
    #[arg(long)]
    csv: Option<PathBuf>,
    #[arg(long, requires = "csv")]
    label_column: Option<String>,
    /// The CSV column holding texts, turned into the model's token ids
    #[arg(long, requires = "csv")]
    text_column: Option<String>,
}

#[derive(Args, Default)]
pub struct DataArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Where texts are cut and padded to the model's length: pre (keep their ends, as
    /// pad_sequences and the IMDB workloads 2-4 do) or post (keep their starts, as
    /// TextVectorization and workload 1 do); default: the workload's
    #[arg(long, requires = "text_column", value_parser = ["pre", "post"])]
    text_padding: Option<String>,
    /// Validate on the last fraction of the given data, taken before shuffling (Keras'
    /// validation_split)
    #[arg(long)]
    validation_split: Option<f32>,
    /// Validate on this CSV (same columns as --csv)
    #[arg(long, requires = "csv", conflicts_with = "validation_split")]
    validation_csv: Option<PathBuf>,
}

/// The arrays to train on and what to keep with the weights.
pub struct UserData {
    pub x: Array,
    pub y: Array,
    pub validation: Option<(Array, Array)>,
    pub validation_split: Option<f32>,
    /// (metadata key, JSON): the label names, the vocabulary.
    pub keep: Vec<(String, String)>,
}

impl SourceArgs {
    pub fn given(&self) -> bool {
        self.x.is_some() || self.npz.is_some() || self.csv.is_some()
    }

    /// The inputs, and the targets when the source has them, with the CSV reader (a saved
    /// vocabulary and label names from `meta`, the weights' metadata, when given).
    fn arrays(
        &self,
        model: &Model,
        csv_reader: impl FnOnce(&Table) -> Result<CsvReader>,
    ) -> Result<(Array, Option<Array>, Option<CsvReader>)> {
        if let Some(x) = &self.x {
            let xs = inputs(model, read_npy(x)?, &x.display().to_string())?;
            let ys = match &self.y {
                Some(y) => Some(targets(model, read_npy(y)?, &y.display().to_string())?),
                None => None,
            };
            return Ok((xs, ys, None));
        }
        if let Some(path) = &self.npz {
            let mut npz = Npz::open(path)?;
            let shown = path.display();
            let xs = inputs(
                model,
                npz.array(&self.x_key)?,
                &format!("{shown}:{}", self.x_key),
            )?;
            let ys = match npz.keys().contains(&self.y_key) {
                true => {
                    let ys = npz.array(&self.y_key)?;
                    Some(targets(model, ys, &format!("{shown}:{}", self.y_key))?)
                }
                false => None,
            };
            return Ok((xs, ys, None));
        }
        let path = self.csv.as_ref().context("no data source was given")?;
        let table = Table::read(path)?;
        let reader = csv_reader(&table)?;
        let (x, y) = reader.arrays(model, &table)?;
        Ok((x, y, Some(reader)))
    }

    /// Samples to evaluate or predict with a model trained on them: a text column goes through
    /// the vocabulary saved with the weights (`meta`), labels through the saved names.
    pub fn load_for(
        &self,
        model: &Model,
        meta: &HashMap<String, String>,
    ) -> Result<(Array, Option<Array>, Option<Vec<String>>)> {
        let (x, y, reader) = self.arrays(model, |_| {
            CsvReader::saved(
                meta,
                self.label_column.as_deref(),
                self.text_column.as_deref(),
            )
        })?;
        Ok((x, y, reader.and_then(|r| r.names)))
    }
}

impl DataArgs {
    pub fn given(&self) -> bool {
        self.source.given()
    }

    /// The user's data for `model`, or `None` when none was given. `pre_padded`: whether the
    /// workload pads its sequences at the start.
    pub fn load(&self, model: &Model, pre_padded: bool) -> Result<Option<UserData>> {
        if !self.given() {
            if self.validation_split.is_some() {
                bail!("--validation-split applies to your own data (--x/--y, --npz or --csv)");
            }
            return Ok(None);
        }
        if let Some(f) = self.validation_split {
            if !(0.0..1.0).contains(&f) {
                bail!("--validation-split must be in [0, 1), got {f}");
            }
        }
        let s = &self.source;
        if s.csv.is_some() && s.label_column.is_none() {
            bail!("training on --csv needs --label-column NAME, the column of the labels");
        }
        let at_start = self
            .text_padding
            .as_deref()
            .map_or(pre_padded, |p| p == "pre");
        let (x, y, reader) = s.arrays(model, |table| {
            let label = s.label_column.as_deref().expect("checked above");
            let text = s.text_column.as_deref().map(|c| (c, at_start));
            CsvReader::new(model, table, label, text)
        })?;
        let Some(y) = y else {
            bail!("training needs targets: give --y with --x, or an array --y-key in the .npz");
        };
        let mut keep = Vec::new();
        let mut validation = None;
        if let Some(reader) = &reader {
            if let Some(path) = &self.validation_csv {
                let (vx, vy) = reader.arrays(model, &Table::read(path)?)?;
                validation = Some((vx, vy.expect("a labelled reader gives targets")));
            }
            keep = reader.keep()?;
        }
        Ok(Some(UserData {
            x,
            y,
            validation,
            validation_split: self.validation_split,
            keep,
        }))
    }
}

/// How a CSV's columns become arrays: the features or the vectorized text, and the labels.
struct CsvReader {
    label: Option<String>,
    text: Option<(String, TextVectorizer)>,
    names: Option<Vec<String>>,
}

impl CsvReader {
    /// Learns the vocabulary (for a text column) and the label names from the training CSV.
    fn new(model: &Model, table: &Table, label: &str, text: Option<(&str, bool)>) -> Result<Self> {
        let label_at = table.column(label)?;
        let values: Vec<&str> = table.rows.iter().map(|r| r[label_at].as_str()).collect();
        let (_, names) = label_ids(&values);
        let text = match text {
            None => None,
            Some((column, at_start)) => {
                let at = table.column(column)?;
                let input = &model.inputs()[0];
                let (Some(Some(max_tokens)), DType::I32, 1) = (
                    model.input_id_limits()?.first().copied(),
                    input.dtype(),
                    input.shape().rank(),
                ) else {
                    bail!(
                        "--text-column needs a model whose input is a sequence of token ids read \
                         by an Embedding; this one's input is {} {}",
                        input.dtype(),
                        input.shape()
                    );
                };
                let texts = table.rows.iter().map(|r| r[at].as_str());
                let length = input.shape().0[0];
                let vectorizer =
                    TextVectorizer::adapt(texts, max_tokens, length).at_start(at_start);
                Some((column.to_string(), vectorizer))
            }
        };
        Ok(Self {
            label: Some(label.to_string()),
            text,
            names,
        })
    }

    /// The reader a model was trained with, from its weights' metadata: the vocabulary (with
    /// the text column, unless `text` names another) and the label names.
    fn saved(
        meta: &HashMap<String, String>,
        label: Option<&str>,
        text: Option<&str>,
    ) -> Result<Self> {
        let names = match meta.get("wgtrain.label_names") {
            Some(json) => Some(serde_json::from_str(json)?),
            None => None,
        };
        let text = match meta.get("wgtrain.text_vectorization") {
            Some(json) => {
                let column = text
                    .map(str::to_string)
                    .or_else(|| meta.get("wgtrain.text_column").cloned())
                    .context(
                        "the weights hold a vocabulary but no text column; give --text-column",
                    )?;
                Some((column, serde_json::from_str(json)?))
            }
            None if text.is_some() => bail!(
                "--text-column needs the vocabulary saved with the weights by `wgtrain train \
                 --csv ... --text-column ... --save FILE`; these weights have none"
            ),
            None => None,
        };
        Ok(Self {
            label: label.map(str::to_string),
            text,
            names,
        })
    }

    /// The inputs, and the targets when the reader has a label column.
    fn arrays(&self, model: &Model, table: &Table) -> Result<(Array, Option<Array>)> {
        let label_at = match &self.label {
            Some(label) => Some(table.column(label)?),
            None => None,
        };
        let n = table.rows.len();
        let x = match &self.text {
            Some((column, vectorizer)) => {
                let at = table.column(column)?;
                let ids = vectorizer.transform_all(table.rows.iter().map(|r| r[at].as_str()));
                Array::from_i32([n, vectorizer.output_sequence_length], ids)?
            }
            None => {
                let except: Vec<usize> = label_at.into_iter().collect();
                let (features, width) = table.features(&except)?;
                Array::new([n, width], features)?
            }
        };
        let Some(label_at) = label_at else {
            return Ok((x, None));
        };
        let values: Vec<f32> = table
            .rows
            .iter()
            .map(|r| self.label_value(&r[label_at], &table.source))
            .collect::<Result<_>>()?;
        let y = shape_targets(model, values, vec![n], &table.source)?;
        Ok((x, Some(y)))
    }

    fn label_value(&self, value: &str, source: &str) -> Result<f32> {
        let value = value.trim();
        match &self.names {
            Some(names) => names
                .binary_search(&value.to_string())
                .map(|i| i as f32)
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{source}: label {value:?} is none of the training labels ({})",
                        names.join(", ")
                    )
                }),
            None => value
                .parse()
                .with_context(|| format!("{source}: label {value:?} is not a number")),
        }
    }

    fn keep(&self) -> Result<Vec<(String, String)>> {
        let mut keep = Vec::new();
        if let Some(names) = &self.names {
            keep.push(("wgtrain.label_names".into(), serde_json::to_string(names)?));
        }
        if let Some((column, v)) = &self.text {
            keep.push(("wgtrain.text_column".into(), column.clone()));
            keep.push((
                "wgtrain.text_vectorization".into(),
                serde_json::to_string(v)?,
            ));
        }
        Ok(keep)
    }
}

/// `values` as f64, whatever numeric dtype they were stored in.
fn numbers(data: NpyData, source: &str) -> Result<Vec<f64>> {
    Ok(match data {
        NpyData::Bool(v) => v.into_iter().map(|b| b as u8 as f64).collect(),
        NpyData::I8(v) => v.into_iter().map(f64::from).collect(),
        NpyData::I16(v) => v.into_iter().map(f64::from).collect(),
        NpyData::I32(v) => v.into_iter().map(f64::from).collect(),
        NpyData::I64(v) => v.into_iter().map(|x| x as f64).collect(),
        NpyData::U8(v) => v.into_iter().map(f64::from).collect(),
        NpyData::U16(v) => v.into_iter().map(f64::from).collect(),
        NpyData::U32(v) => v.into_iter().map(f64::from).collect(),
        NpyData::U64(v) => v.into_iter().map(|x| x as f64).collect(),
        NpyData::F32(v) => v.into_iter().map(f64::from).collect(),
        NpyData::F64(v) => v,
        NpyData::IntLists(_) => bail!(
            "{source} holds Python lists (an object array); give a numeric array, e.g. padded \
             with numpy or keras.utils.pad_sequences"
        ),
    })
}

/// The model's input from an array: int32 ids where it reads ids, else float32.
fn inputs(model: &Model, a: NpyArray, source: &str) -> Result<Array> {
    let shape = a.shape.clone();
    if shape.is_empty() {
        bail!("{source} holds a single value; the inputs need one row per sample");
    }
    let values = numbers(a.data, source)?;
    match model.inputs()[0].dtype() {
        DType::I32 => {
            if let Some(v) = values
                .iter()
                .find(|v| v.fract() != 0.0 || v.abs() > i32::MAX as f64)
            {
                bail!("{source} holds {v}, but the model's input is int32 token ids");
            }
            Array::from_i32(shape, values.into_iter().map(|v| v as i32).collect())
        }
        DType::F32 => Array::new(shape, values.into_iter().map(|v| v as f32).collect()),
    }
}

fn targets(model: &Model, a: NpyArray, source: &str) -> Result<Array> {
    let shape = a.shape.clone();
    let values: Vec<f32> = numbers(a.data, source)?
        .into_iter()
        .map(|v| v as f32)
        .collect();
    shape_targets(model, values, shape, source)
}

/// Targets shaped for the model's output: a column of values where it has one unit; one-hot
/// rows from class ids where it has several and the targets are one id per sample.
fn shape_targets(
    model: &Model,
    values: Vec<f32>,
    shape: Vec<usize>,
    source: &str,
) -> Result<Array> {
    let Some(&n) = shape.first() else {
        bail!("{source} holds a single value; the targets need one per sample");
    };
    let units = model.outputs()[0].shape().last();
    let per_sample = values.len() / n.max(1);
    if per_sample == units {
        return Array::new([n, units], values);
    }
    if per_sample == 1 && units > 1 {
        let mut hot = vec![0.0; n * units];
        for (i, &c) in values.iter().enumerate() {
            if c.fract() != 0.0 || c < 0.0 || c as usize >= units {
                bail!(
                    "{source}: sample {i} has class {c}, but the model's output has {units} \
                     classes (0 to {})",
                    units - 1
                );
            }
            hot[i * units + c as usize] = 1.0;
        }
        return Array::new([n, units], hot);
    }
    bail!(
        "{source} has {per_sample} target values per sample, but the model's output has {units} \
         units; give one class id or {units} values per sample"
    )
}
