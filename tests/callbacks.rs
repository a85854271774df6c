//! The training callbacks through `fit`, each against Keras 3's rules. A scripted callback placed
//! first writes the monitored value, so every rule is exercised on known inputs; the expected
//! rates and stopping epochs are what `scripts/keras_reference/callbacks.py` prints from Keras
//! 3.15 on the same values.

use anyhow::Result;
use std::cell::RefCell;
use std::rc::Rc;
use wgtrain::cpu::CpuBackend;
use wgtrain::nn::callbacks::Mode;
use wgtrain::nn::fit::Verbosity;
use wgtrain::nn::layers::ActivationKind;
use wgtrain::nn::{
    Array, Callback, CompileConfig, Control, CsvLogger, Dense, EarlyStopping, FitConfig,
    LearningRateScheduler, Logs, Loss, Model, ModelCheckpoint, Optimizer, ReduceLROnPlateau,
    Sequential, TerminateOnNaN, Validation,
};

fn model() -> Model {
    wgtrain::nn::set_random_seed(5);
    let mut s = Sequential::new([3]);
    s.add(Dense::new(4).activation(ActivationKind::Relu))
        .unwrap();
    s.add(Dense::new(1).activation(ActivationKind::Sigmoid))
        .unwrap();
    let mut m = s.build().unwrap();
    m.compile_on(
        CompileConfig::new(Optimizer::sgd(), Loss::BinaryCrossentropy),
        Box::new(CpuBackend::new()),
    )
    .unwrap();
    m
}

fn data(n: usize, poison: bool) -> (Array, Array) {
    let x: Vec<f32> = (0..n * 3)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.1)
        .collect();
    let mut y: Vec<f32> = x.chunks(3).map(|r| f32::from(r[0] + r[1] > 0.0)).collect();
    if poison {
        // A NaN target makes the loss NaN (a NaN input would vanish in relu).
        y[1] = f32::NAN;
    }
    (
        Array::new([n, 3], x).unwrap(),
        Array::new([n, 1], y).unwrap(),
    )
}

/// An empty folder of this test's own.
fn scratch_dir(tag: u32) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wgtrain-callbacks-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(epochs: usize) -> FitConfig<'static> {
    FitConfig {
        epochs,
        batch_size: 8,
        verbose: Verbosity::Silent,
        ..Default::default()
    }
}

/// Writes `val_loss` from a script, one value per epoch; records what it sees of the run.
#[derive(Default)]
struct Script {
    val_loss: Vec<f32>,
    lr_at_epoch_begin: Vec<f32>,
    lr_at_end: Option<f32>,
    weights_at_epoch_end: Vec<Vec<f32>>,
    batches: usize,
}

/// A shared handle on a `Script`, so the test reads what the callback saw.
#[derive(Clone)]
struct Probe(Rc<RefCell<Script>>);

impl Probe {
    fn get(&self) -> std::cell::Ref<'_, Script> {
        self.0.borrow()
    }
}

impl Callback for Probe {
    fn on_epoch_begin(&mut self, _: usize, ctl: &mut Control) -> Result<()> {
        let lr = ctl.learning_rate()?;
        self.0.borrow_mut().lr_at_epoch_begin.push(lr);
        Ok(())
    }
    fn on_train_batch_end(&mut self, _: usize, _: &Logs, _: &mut Control) -> Result<()> {
        self.0.borrow_mut().batches += 1;
        Ok(())
    }
    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, ctl: &mut Control) -> Result<()> {
        let weights = ctl.model().get_weights()?;
        let mut s = self.0.borrow_mut();
        if let Some(&v) = s.val_loss.get(epoch) {
            logs.push(("val_loss".into(), v));
        }
        s.weights_at_epoch_end.push(
            weights
                .iter()
                .flat_map(|w| w.f32s().unwrap().to_vec())
                .collect(),
        );
        Ok(())
    }
    fn on_train_end(&mut self, _: &Logs, ctl: &mut Control) -> Result<()> {
        self.0.borrow_mut().lr_at_end = Some(ctl.learning_rate()?);
        Ok(())
    }
}

fn script(val_loss: &[f32]) -> Probe {
    Probe(Rc::new(RefCell::new(Script {
        val_loss: val_loss.to_vec(),
        ..Default::default()
    })))
}

fn close(got: &[f32], want: &[f32]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| (g - w).abs() <= 1e-7 * w.abs())
}

#[test]
fn reduce_lr_on_plateau_follows_patience_and_cooldown() {
    let (x, y) = data(32, false);
    let mut m = model();
    let s = script(&[1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.8, 0.85, 0.86]);
    let mut reduce = ReduceLROnPlateau::new()
        .monitor("val_loss", Mode::Auto, 0.0)
        .factor(0.5)
        .unwrap()
        .patience(2)
        .cooldown(1);
    let h = m
        .fit_with_callbacks(&[&x], &[&y], &config(9), &mut [&mut s.clone(), &mut reduce])
        .unwrap();
    // Worked by Keras' rule: reductions at the ends of epochs 3, 5 and 8 (from 0); the cooldown
    // epoch after each resets the wait, and the logged rate is the one the epoch used.
    let used = [0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025, 0.0025];
    let logged = &h.history["learning_rate"];
    assert!(close(logged, &used), "History learning_rate {logged:?}");
    let seen = s.get().lr_at_epoch_begin.clone();
    assert!(close(&seen, &used), "rates in use {seen:?}");
    assert!(close(&[s.get().lr_at_end.unwrap()], &[0.00125]));
}

#[test]
fn reduce_lr_on_plateau_stops_at_min_lr_and_rejects_a_factor_of_one() {
    let (x, y) = data(16, false);
    let mut m = model();
    let s = script(&[1.0, 1.0, 1.0, 1.0]);
    let mut reduce = ReduceLROnPlateau::new()
        .factor(0.1)
        .unwrap()
        .patience(1)
        .min_lr(0.005);
    let h = m
        .fit_with_callbacks(&[&x], &[&y], &config(4), &mut [&mut s.clone(), &mut reduce])
        .unwrap();
    assert!(close(
        &h.history["learning_rate"],
        &[0.01, 0.01, 0.005, 0.005]
    ));
    assert!(ReduceLROnPlateau::new().factor(1.0).is_err());
}

#[test]
fn early_stopping_stops_after_patience_and_restores_the_best_weights() {
    let (x, y) = data(32, false);
    let mut m = model();
    let s = script(&[1.0, 0.8, 0.9, 0.95, 0.7, 0.6]);
    let mut stop = EarlyStopping::new().patience(2).restore_best_weights(true);
    let h = m
        .fit_with_callbacks(&[&x], &[&y], &config(6), &mut [&mut s.clone(), &mut stop])
        .unwrap();
    // Best at epoch 1; epochs 2 and 3 do not improve, so training stops at the end of epoch 3.
    assert_eq!(h.history["loss"].len(), 4);
    assert_eq!(stop.stopped_epoch(), 3);
    let now: Vec<f32> = m
        .get_weights()
        .unwrap()
        .iter()
        .flat_map(|w| w.f32s().unwrap().to_vec())
        .collect();
    let seen = &s.get().weights_at_epoch_end;
    assert_eq!(now, seen[1], "the weights of the best epoch are back");
    assert_ne!(now, seen[3]);
}

#[test]
fn early_stopping_waits_for_start_from_epoch() {
    let (x, y) = data(16, false);
    let mut m = model();
    let s = script(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    let mut stop = EarlyStopping::new().patience(1).start_from_epoch(2);
    let h = m
        .fit_with_callbacks(&[&x], &[&y], &config(5), &mut [&mut s.clone(), &mut stop])
        .unwrap();
    // Epochs 0 and 1 are not watched; epoch 2 sets the best, epoch 3 stops.
    assert_eq!(h.history["loss"].len(), 4);
}

#[test]
fn a_monitored_metric_that_does_not_exist_only_warns() {
    let (x, y) = data(16, false);
    let mut m = model();
    let mut reduce = ReduceLROnPlateau::new()
        .monitor("val_acc", Mode::Auto, 0.0)
        .patience(0);
    let mut stop = EarlyStopping::new().monitor("val_acc", Mode::Auto, 0.0);
    let h = m
        .fit_with_callbacks(&[&x], &[&y], &config(3), &mut [&mut reduce, &mut stop])
        .unwrap();
    assert_eq!(h.history["loss"].len(), 3);
    assert!(close(&h.history["learning_rate"], &[0.01; 3]));
    let mut unknown = EarlyStopping::new().monitor("val_weirdness", Mode::Auto, 0.0);
    let e = m
        .fit_with_callbacks(&[&x], &[&y], &config(1), &mut [&mut unknown])
        .unwrap_err()
        .to_string();
    assert!(e.contains("val_weirdness") && e.contains("mode"), "{e}");
}

#[test]
fn model_checkpoint_saves_improvements_under_a_filled_template() {
    let dir = scratch_dir(line!());
    let template = format!(
        "{}/ckpt/w.{{epoch:02d}}-{{val_loss:.2f}}.safetensors",
        dir.as_path().display()
    );
    let (x, y) = data(16, false);
    let mut m = model();
    let s = script(&[1.0, 1.2, 0.5]);
    let mut ckpt = ModelCheckpoint::new(&template)
        .unwrap()
        .save_best_only(true);
    m.fit_with_callbacks(&[&x], &[&y], &config(3), &mut [&mut s.clone(), &mut ckpt])
        .unwrap();
    let mut files: Vec<String> = std::fs::read_dir(dir.as_path().join("ckpt"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["w.01-1.00.safetensors", "w.03-0.50.safetensors"]);
    // The last file holds the weights at the end of epoch 3 (index 2).
    let mut other = model();
    other
        .load_weights(&dir.as_path().join("ckpt/w.03-0.50.safetensors"))
        .unwrap();
    let loaded: Vec<f32> = other
        .get_weights()
        .unwrap()
        .iter()
        .flat_map(|w| w.f32s().unwrap().to_vec())
        .collect();
    assert_eq!(loaded, s.get().weights_at_epoch_end[2]);
}

#[test]
fn a_checkpoint_that_cannot_be_written_fails_before_the_first_step() {
    let dir = scratch_dir(line!());
    let blocker = dir.as_path().join("a-file");
    std::fs::write(&blocker, b"x").unwrap();
    let template = format!("{}/sub/w.{{epoch}}.safetensors", blocker.display());
    let (x, y) = data(16, false);
    let mut m = model();
    let s = script(&[]);
    let mut ckpt = ModelCheckpoint::new(&template).unwrap();
    let e = m
        .fit_with_callbacks(&[&x], &[&y], &config(2), &mut [&mut ckpt, &mut s.clone()])
        .unwrap_err();
    assert!(format!("{e:#}").contains("checkpoint"), "{e:#}");
    assert_eq!(s.get().batches, 0, "no step ran");
    assert!(ModelCheckpoint::new("w.h5").is_err());
}

#[test]
fn csv_logger_writes_sorted_columns_per_epoch() {
    let dir = scratch_dir(line!());
    let path = dir.as_path().join("log.csv");
    let (x, y) = data(32, false);
    let (vx, vy) = data(8, false);
    let mut m = model();
    let mut csv = CsvLogger::new(&path);
    let mut sched = LearningRateScheduler::new(|epoch, lr| if epoch == 0 { lr } else { lr * 0.5 });
    let cfg = FitConfig {
        validation: Validation::Data(&[&vx], &[&vy]),
        ..config(3)
    };
    let h = m
        .fit_with_callbacks(&[&x], &[&y], &cfg, &mut [&mut sched, &mut csv])
        .unwrap();
    assert!(close(&h.history["learning_rate"], &[0.01, 0.005, 0.0025]));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss"
    );
    assert_eq!(lines.len(), 4);
    for (epoch, line) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], epoch.to_string());
        let loss: f32 = cells[3].parse().unwrap();
        assert_eq!(loss, h.history["loss"][epoch], "{line}");
        let val_loss: f32 = cells[5].parse().unwrap();
        assert_eq!(val_loss, h.history["val_loss"][epoch], "{line}");
    }
    assert_eq!(lines[2].split(',').nth(2), Some("0.004999999888241291"));
}

#[test]
fn terminate_on_nan_stops_where_fit_would_fail() {
    let (x, y) = data(64, true);
    let mut m = model();
    let e = m.fit(&[&x], &[&y], &config(2)).unwrap_err().to_string();
    assert!(e.contains("NaN"), "{e}");
    let mut m = model();
    let s = script(&[]);
    let mut nan = TerminateOnNaN::new();
    let h = m
        .fit_with_callbacks(&[&x], &[&y], &config(2), &mut [&mut nan, &mut s.clone()])
        .unwrap();
    // A step's loss arrives with the next step (losses come back a step late), so training
    // stops one step after the batch holding the NaN target, inside the first epoch (8 batches).
    let ran = s.get().batches;
    assert!((2..8).contains(&ran), "{ran} batches ran");
    assert_eq!(h.step_loss.len(), ran);
    assert!(h.step_loss[ran - 2].is_nan(), "{:?}", h.step_loss);
    assert!(h.step_loss[..ran - 2].iter().all(|l| l.is_finite()));
    assert_eq!(h.history["loss"].len(), 1);
    assert!(h.history["loss"][0].is_nan());
}
