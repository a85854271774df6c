//! Resumable runs: `BackupAndRestore` keeps, in one file of its folder, everything `fit` needs
//! to continue where a killed or interrupted run stopped — weights, optimizer slots and clock,
//! learning rate, epoch and step, the epoch's running sums, every callback's state and the
//! History so far. The shuffle order and dropout masks are functions of (seed, epoch) and
//! (seed, step), so restoring the position restores them. The file is replaced atomically
//! (written beside, synced, renamed), so the previous backup stands until the new one is whole.

use crate::array::Array;
use crate::callback::{Callback, CallbackState};
use crate::history::History;
use crate::model::Model;
use crate::output_path::{check_folder_writable, write_atomically};
use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wgtrain_graph::optim::OptimizerClock;
use wgtrain_graph::ParamId;

/// Metadata keys of the run state and of the checksum over it and every tensor.
const STATE_KEY: &str = "wgtrain.run_state";
const CHECKSUM_KEY: &str = "wgtrain.checksum";
pub(crate) const FORMAT: u32 = 1;
const FILE_NAME: &str = "backup.safetensors";

/// Like Keras' `BackupAndRestore(backup_dir)`, but exact: a run resumed from a backup on the
/// CPU ends with the same bits as one never stopped. Backs up at every epoch's end and, with
/// `every_steps`, every that many training steps; the backup is deleted when `fit` finishes
/// (unless `keep_after_finish`), so the next run starts afresh.
pub struct BackupAndRestore {
    dir: PathBuf,
    every_steps: Option<usize>,
    keep_after_finish: bool,
}

/// The settings a backup belongs to: resuming with others would not continue the same run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunKey {
    pub seed: u64,
    pub batch_size: usize,
    pub samples: usize,
    pub shuffle: bool,
}

/// Where a run stands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RunState {
    pub format: u32,
    pub key: RunKey,
    /// The epoch in progress (counted from 0) and its training steps done.
    pub epoch: usize,
    pub steps_done: usize,
    pub global_step: usize,
    pub clock_step: u64,
    pub nadam_u_product_bits: u32,
    pub learning_rate_bits: u32,
    /// The epoch's weighted sums of the loss and metrics, and the samples they cover.
    pub sums: Vec<f64>,
    pub seen: usize,
    pub epoch_seconds: f64,
    pub stopped: bool,
    pub history: History,
    pub callbacks: Vec<serde_json::Value>,
    /// Tensors each callback keeps, by callback.
    pub callback_tensors: Vec<usize>,
}

impl RunState {
    pub fn clock(&self) -> OptimizerClock {
        OptimizerClock::resume(self.clock_step, f32::from_bits(self.nadam_u_product_bits))
    }
}

impl BackupAndRestore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            every_steps: None,
            keep_after_finish: false,
        }
    }

    /// Also back up every `steps` training steps (counted across epochs).
    pub fn every_steps(mut self, steps: usize) -> Self {
        self.every_steps = (steps > 0).then_some(steps);
        self
    }

    /// Keep the last backup when `fit` finishes.
    pub fn keep_after_finish(mut self) -> Self {
        self.keep_after_finish = true;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The backup file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Creates the folder if needed and fails unless a file can be written there.
    pub fn check_writable(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir).with_context(|| {
            format!(
                "cannot create the backup folder {}; pick a writable --backup-dir",
                self.dir.display()
            )
        })?;
        check_folder_writable(&self.dir, "the backup folder")
    }

    pub(crate) fn due(&self, global_step: usize) -> bool {
        self.every_steps
            .is_some_and(|n| global_step > 0 && global_step.is_multiple_of(n))
    }

    pub(crate) fn finish(&self) -> Result<()> {
        if self.keep_after_finish {
            return Ok(());
        }
        match std::fs::remove_file(self.path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| {
                format!(
                    "cannot remove the finished run's backup {}",
                    self.path().display()
                )
            }),
            _ => Ok(()),
        }
    }

    /// Writes the run's state, the model's weights and optimizer slots and the callbacks'
    /// tensors.
    pub(crate) fn save(
        &self,
        model: &mut Model,
        mut state: RunState,
        callbacks: Vec<CallbackState>,
    ) -> Result<()> {
        let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
        let shapes: Vec<Vec<usize>> = model
            .weights
            .iter()
            .map(|(_, w)| w.shape.0.clone())
            .collect();
        for (i, (values, shape)) in model.weight_values()?.into_iter().zip(&shapes).enumerate() {
            let rt = model.runtime_mut()?;
            for k in 0..2 {
                let mut slot = vec![0.0; values.len()];
                if rt.backend.read_optimizer_slot(ParamId(i), k, &mut slot)? {
                    tensors.push((format!("slot{k}/{i}"), shape.clone(), slot));
                }
            }
            tensors.push((format!("weight/{i}"), shape.clone(), values));
        }
        state.callbacks.clear();
        state.callback_tensors.clear();
        for (j, cb) in callbacks.into_iter().enumerate() {
            state.callbacks.push(cb.values);
            state.callback_tensors.push(cb.tensors.len());
            for (t, a) in cb.tensors.iter().enumerate() {
                tensors.push((
                    format!("callback{j}/{t}"),
                    a.shape.0.clone(),
                    a.f32s()?.to_vec(),
                ));
            }
        }
        let raw: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views = tensors
            .iter()
            .zip(&raw)
            .map(|((name, shape, _), bytes)| {
                Ok((
                    name.clone(),
                    TensorView::new(Dtype::F32, shape.clone(), bytes)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let state_text = serde_json::to_string(&state)?;
        let mut named: Vec<(&str, &[u8])> = tensors
            .iter()
            .zip(&raw)
            .map(|((name, _, _), bytes)| (name.as_str(), bytes.as_slice()))
            .collect();
        named.sort_by_key(|(name, _)| *name);
        let metadata = HashMap::from([
            (CHECKSUM_KEY.to_string(), checksum(&state_text, &named)),
            (STATE_KEY.to_string(), state_text),
        ]);
        let data = safetensors::serialize(views, Some(metadata))?;
        write_atomically(&self.path(), &data, "the backup")
    }

    /// Reads a backup made for `key`, if the folder holds one, and puts its weights and
    /// optimizer slots into `model` (whose training plan is compiled).
    pub(crate) fn restore(
        &self,
        model: &mut Model,
        key: &RunKey,
    ) -> Result<Option<(RunState, Vec<CallbackState>)>> {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            other => other.with_context(|| format!("cannot read the backup {}", path.display()))?,
        };
        let unreadable = || {
            format!(
                "the backup {} cannot be read; delete it to start the run afresh",
                path.display()
            )
        };
        let st = SafeTensors::deserialize(&bytes).with_context(unreadable)?;
        let (_, meta) = SafeTensors::read_metadata(&bytes).with_context(unreadable)?;
        let entry = |key: &str| meta.metadata().as_ref().and_then(|m| m.get(key).cloned());
        let text = entry(STATE_KEY).with_context(unreadable)?;
        let mut named: Vec<(String, TensorView)> = st.tensors();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let named: Vec<(&str, &[u8])> = named.iter().map(|(n, t)| (n.as_str(), t.data())).collect();
        if entry(CHECKSUM_KEY) != Some(checksum(&text, &named)) {
            bail!(
                "the backup {} is damaged (its checksum does not match its contents); delete it \
                 to start the run afresh",
                path.display()
            );
        }
        let text = text.as_str();
        let state: RunState = serde_json::from_str(text).with_context(unreadable)?;
        if state.format != FORMAT {
            bail!(
                "{}: backup format {} is not {FORMAT}",
                unreadable(),
                state.format
            );
        }
        if &state.key != key {
            bail!(
                "the backup {} belongs to a run with {:?}, not this one's {:?}; run with the same \
                 settings to resume it, or delete it to start afresh",
                path.display(),
                state.key,
                key
            );
        }
        let read = |name: &str, shape: &[usize]| -> Result<Option<Vec<f32>>> {
            let Ok(t) = st.tensor(name) else {
                return Ok(None);
            };
            if t.dtype() != Dtype::F32 || t.shape() != shape {
                bail!(
                    "{}: '{name}' is {:?} {:?}, the model needs F32 {shape:?}",
                    unreadable(),
                    t.dtype(),
                    t.shape()
                );
            }
            Ok(Some(
                t.data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ))
        };
        let shapes: Vec<Vec<usize>> = model
            .weights
            .iter()
            .map(|(_, w)| w.shape.0.clone())
            .collect();
        let mut weights = Vec::with_capacity(shapes.len());
        for (i, shape) in shapes.iter().enumerate() {
            let w = read(&format!("weight/{i}"), shape)?
                .with_context(|| format!("{}: weight {i} is missing", unreadable()))?;
            weights.push(w);
        }
        model.set_weight_values(weights)?;
        for (i, shape) in shapes.iter().enumerate() {
            for k in 0..2 {
                if let Some(slot) = read(&format!("slot{k}/{i}"), shape)? {
                    let rt = model.runtime_mut()?;
                    rt.backend.write_optimizer_slot(ParamId(i), k, &slot)?;
                }
            }
        }
        let mut callbacks = Vec::with_capacity(state.callbacks.len());
        for (j, (values, &count)) in state
            .callbacks
            .iter()
            .zip(&state.callback_tensors)
            .enumerate()
        {
            let mut tensors = Vec::with_capacity(count);
            for t in 0..count {
                let name = format!("callback{j}/{t}");
                let view = st
                    .tensor(&name)
                    .with_context(|| format!("{}: {name} is missing", unreadable()))?;
                let shape = view.shape().to_vec();
                let data = read(&name, &shape)?.expect("the tensor was just found");
                tensors.push(Array::new(shape, data)?);
            }
            callbacks.push(CallbackState {
                values: values.clone(),
                tensors,
            });
        }
        Ok(Some((state, callbacks)))
    }
}

/// FNV-1a (64-bit) over the state text and each tensor's name and bytes, in name order.
fn checksum(state: &str, tensors: &[(&str, &[u8])]) -> String {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash = (hash ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(state.as_bytes());
    for (name, data) in tensors {
        eat(name.as_bytes());
        eat(data);
    }
    format!("{hash:016x}")
}

impl Callback for BackupAndRestore {
    fn backup(&mut self) -> Option<&mut BackupAndRestore> {
        Some(self)
    }
}
