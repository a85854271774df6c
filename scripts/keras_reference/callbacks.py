"""Keras 3's callback rules on the scripted values of tests/callbacks.rs.

Prints, for each case, what Keras does: the learning rate logged per epoch by ReduceLROnPlateau
and the final rate, and the epoch at which EarlyStopping ends training. Run with the peers'
venv: `$PEERS_VENV/bin/python scripts/keras_reference/callbacks.py`.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402


def model(lr):
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    return m


def plateau(val_losses, **kw):
    m = model(0.01)
    cb = keras.callbacks.ReduceLROnPlateau(**kw)
    cb.set_model(m)
    cb.on_train_begin()
    logged = []
    for epoch, v in enumerate(val_losses):
        logs = {"loss": 1.0, "val_loss": v}
        cb.on_epoch_end(epoch, logs)
        logged.append(round(logs["learning_rate"], 9))
    return logged, round(float(m.optimizer.learning_rate.numpy()), 9)


def early(val_losses, **kw):
    m = model(0.01)
    cb = keras.callbacks.EarlyStopping(**kw)
    cb.set_model(m)
    cb.on_train_begin()
    for epoch, v in enumerate(val_losses):
        cb.on_epoch_end(epoch, {"loss": 1.0, "val_loss": v})
        if m.stop_training:
            return epoch
    return None


print("plateau patience 2 cooldown 1 factor 0.5:",
      plateau([1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.8, 0.85, 0.86],
              factor=0.5, patience=2, cooldown=1, min_delta=0.0))
print("plateau patience 1 factor 0.1 min_lr 0.005:",
      plateau([1.0, 1.0, 1.0, 1.0], factor=0.1, patience=1, min_lr=0.005))
print("early stopping patience 2, stops at epoch:",
      early([1.0, 0.8, 0.9, 0.95, 0.7, 0.6], patience=2, restore_best_weights=True))
print("early stopping patience 1 start_from_epoch 2, stops at epoch:",
      early([1.0, 2.0, 3.0, 4.0, 5.0], patience=1, start_from_epoch=2))
