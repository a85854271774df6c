"""Step-parity reference fixture for the "imdb-fm" model, produced by real Keras 3 (TensorFlow backend).

Run with the peers' venv (bash /work/shared/peers/setup.sh creates it):

    ~/.cache/wgtrain-peers-venv/bin/python scripts/keras_reference/imdb_fm_steps.py

Writes tests/fixtures/imdb_fm_keras.safetensors (initial weights "weight.NN" in model.get_weights()
order as float32, "x" int32 (640, 100), "y" float32 (640,)) and tests/fixtures/imdb_fm_keras.json
(per-step batch loss and accuracy for 20 Adam steps on consecutive batches of 32, the inference loss
on batch 0 after training, and sum(|w|) of every weight after training).

Model (peers' imdb_fm.py build_keras(variant="fm"), vocabulary shrunk to 1000, dropout rates 0):
  Input((100,), int32) -> Embedding(1000, 50) -> Dropout(0) -> Conv1D(250, 3, valid, relu)
  -> GlobalMaxPooling1D -> FM(200, 100) -> Dropout(0) -> Dense(1, sigmoid)
  FM: out = x@w + 0.5*sum((x@v)^2 - (x^2)@(v^2), axis=1, keepdims=True) + b
  Adam(1e-3, beta_1 0.9, beta_2 0.999, epsilon 1e-7), binary_crossentropy, metrics ["accuracy"].

Data: imdb.npz train split, Keras load_data's id transform without its shuffle
([1] + [w + 3 for w in review], then ids >= num_words -> 2), keras.utils.pad_sequences(maxlen=100)
(padding and truncating 'pre', value 0). The npz train split is stored as all 12500 positive
reviews then all 12500 negative ones, so "the first 640 in file order" (--rows head) are all
label 1, which never exercises the (1 - y) half of the loss. The default (--rows interleave) takes
rows 0..319 (positive) and 12500..12819 (negative) alternately: pos0, neg0, pos1, neg1, ... -- still
file order within each half, no RNG, and every batch of 32 is 16/16. The Rust side reads x and y
from the fixture, so it does not depend on this choice; the JSON records the source rows.

What Keras 3.15.1 / TF 2.21 does (read from the installed source, and checked at run time by this
script -- see "checks" in the JSON):

* binary_crossentropy with a sigmoid output takes the LOGITS path. keras/src/backend/tensorflow/nn.py
  sigmoid() stores the pre-activation on the result (`output._keras_logits = logits`; Dense's
  activation keras.activations.sigmoid does the same in a try/except). binary_crossentropy() calls
  _get_logits(), which sees `_keras_logits`, swaps in the logits and sets from_logits=True, so the
  loss is tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z) = max(z,0) - z*y +
  log1p(exp(-|z|)), with NO clipping to [1e-7, 1 - 1e-7]. The per-sample values are then
  averaged over the last axis (size 1) and reduced with "sum_over_batch_size" (mean over 32).
  y (32,) is expanded to (32, 1) by squeeze_or_expand_to_same_rank (y_pred is left alone, so the
  attribute survives). The gradient w.r.t. z is therefore sigmoid(z) - y, divided by 32.
  This holds in the compiled train step and in eager calls (EagerTensor accepts the attribute).

* The Embedding gradient reaches Adam as tf.IndexedSlices and Adam's update is DENSE, with a quirk
  in the second moment. Embedding.call is ops.take -> tf.gather on the (read) table, whose gradient
  is IndexedSlices(values = one (50,) row per looked-up position, i.e. 32*100 = 3200 rows,
  indices = the ids, duplicates NOT combined). Adam.update_step (keras/src/optimizers/adam.py):
      m += (g - m) * (1 - beta_1)          ops.subtract(IndexedSlices, dense m): the slices are
                                           densified (duplicates summed) -> m is the usual dense
                                           update with the summed gradient, for every row.
      v += (g^2 - v) * (1 - beta_2)        ops.square is sparse.elementwise_unary: it squares EACH
                                           slice row first, then ops.subtract densifies -> for row r,
                                           g^2 is SUM over occurrences of (per-occurrence grad)^2,
                                           NOT (sum of the occurrences)^2.
      var -= alpha * m / (sqrt(v) + epsilon), alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
                                           dense assign_sub (TFOptimizer.assign_sub only
                                           scatters when the value is IndexedSlices; here it is
                                           dense).
  Consequences: every row's m and v decay every step, and every row that has ever received a
  gradient keeps moving (by alpha*m/(sqrt(v)+eps)) on steps where it is not in the batch; rows
  never looked up stay exactly unchanged (m = v = 0 -> update 0). An id that occurs k times in a
  batch gets v fed with sum_k g_k^2 (>= 0, <= (sum g_k)^2 only when signs agree), so the Rust
  side must keep the per-occurrence gradients (or accumulate their squares) for the embedding's v.
  The padding id 0 and OOV id 2 occur many times per batch, so this matters. All other weights
  get dense gradients and plain Keras Adam (epsilon added to sqrt(v), not to the bias-corrected
  sqrt(v_hat); alpha computed in float32).
  Related: GlobalMaxPooling1D is tf.reduce_max, whose gradient is SPLIT EQUALLY among tied maxima
  (TF _MaxGrad: grad * (indicators / count)). Ties happen for windows lying wholly in the 'pre'
  padding (identical (0,0,0) inputs, 72-160 tied positive maxima per step here), so the
  per-occurrence gradient of id 0 -- and through the sum-of-squares above, its v -- depends on
  that split (the summed gradient, and so every other weight's update, does not). Routing each
  tie to the first argmax instead moved the 20 losses by up to 1.4e-4 (measured), so the Rust
  side must split ties equally to reach 1e-5. The JSON records, per step, the tied positive
  maxima and how many of them tie windows with identical ids (all of them, in this fixture).

* train_on_batch returns the RUNNING mean of loss and accuracy since the last metric reset; this
  script calls model.reset_metrics() before every model.train_on_batch(..., return_dict=True), so
  the recorded values are the batch's own loss (forward pass before the update) and accuracy
  (binary_accuracy, threshold 0.5 on the sigmoid output, same forward pass). A second model with
  the same initial weights is trained with a manual tf.GradientTape step (model(x, training=True),
  model.compute_loss, optimizer.apply_gradients, eager) and compared step by step. jit_compile
  resolves to False on a CPU-only machine ("auto"), recorded in the JSON.
"""
import argparse
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_NPZ = os.environ.get("IMDB_NPZ", "/work/shared/datasets/imdb/imdb.npz")

SEED = 1234
NUM_WORDS = 1000
MAXLEN = 100
EMB_DIM = 50
FILTERS, KERNEL = 250, 3
FM_OUT, FM_FACTORS = 200, 100
LR, EPS = 1e-3, 1e-7
BATCH = 32
STEPS = 20
N = BATCH * STEPS  # 640


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--npz", default=DEFAULT_NPZ)
    p.add_argument("--out-dir", default=os.path.join(REPO, "tests", "fixtures"))
    p.add_argument("--rows", choices=["interleave", "head"], default="interleave",
                   help="interleave: train rows 0..319 (pos) and 12500..12819 (neg) alternately; "
                        "head: the first 640 train rows in file order (all label 1)")
    p.add_argument("--threads", type=int, default=1, help="TF intra/inter-op threads")
    return p.parse_args()


def load_data(npz, rows_mode, keras):
    with np.load(npz, allow_pickle=True) as f:
        x_train, y_train = f["x_train"], f["y_train"]
    if rows_mode == "head":
        rows = np.arange(N)
    else:
        half = N // 2
        n_pos = int((y_train == 1).sum())
        assert np.all(y_train[:n_pos] == 1) and np.all(y_train[n_pos:] == 0), "unexpected npz order"
        rows = np.empty(N, np.int64)
        rows[0::2] = np.arange(half)
        rows[1::2] = n_pos + np.arange(half)
    seqs = []
    for r in rows:
        s = [1] + [int(w) + 3 for w in x_train[r]]          # load_data: start_char 1, index_from 3
        seqs.append([w if w < NUM_WORDS else 2 for w in s])  # num_words: oov_char 2
    x = keras.utils.pad_sequences(seqs, maxlen=MAXLEN).astype(np.int32)  # int32, 'pre', 'pre', 0
    y = np.asarray(y_train[rows], np.float32)
    return x, y, rows


def make_fm_class(keras):
    from keras import layers, ops

    class FM(layers.Layer):
        def __init__(self, output_dim, factor_order, **kw):
            super().__init__(**kw)
            self.output_dim, self.factor_order = output_dim, factor_order

        def build(self, input_shape):
            d = input_shape[-1]
            self.w = self.add_weight(shape=(d, self.output_dim), initializer="glorot_uniform", name="w")
            self.v = self.add_weight(shape=(d, self.factor_order), initializer="glorot_uniform", name="v")
            self.b = self.add_weight(shape=(self.output_dim,), initializer="zeros", name="b")

        def call(self, x):
            xv = ops.square(ops.matmul(x, self.v))
            p = 0.5 * ops.sum(xv - ops.matmul(ops.square(x), ops.square(self.v)), axis=1, keepdims=True)
            return ops.matmul(x, self.w) + p + self.b      # p (N,1) broadcasts over outputs

    return FM


def build_model(keras, FM):
    from keras import layers
    inp = keras.Input((MAXLEN,), dtype="int32")
    x = layers.Embedding(NUM_WORDS, EMB_DIM)(inp)
    x = layers.Dropout(0.0)(x)
    x = layers.Conv1D(FILTERS, KERNEL, padding="valid", activation="relu", strides=1)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = FM(FM_OUT, FM_FACTORS)(x)
    x = layers.Dropout(0.0)(x)
    out = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(LR, epsilon=EPS), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def main():
    args = parse_args()
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras
    from keras.src.backend.tensorflow import nn as tf_nn
    from safetensors.numpy import save_file

    # Record (without changing anything) which path binary_crossentropy takes.
    bce_paths = []
    _orig_get_logits = tf_nn._get_logits

    def _recording_get_logits(output, from_logits, op_type, fn_name):
        out, fl = _orig_get_logits(output, from_logits, op_type, fn_name)
        if fn_name == "binary_crossentropy":
            bce_paths.append("logits" if fl else "probabilities")
        return out, fl

    tf_nn._get_logits = _recording_get_logits

    x, y, rows = load_data(args.npz, args.rows, keras)
    assert x.shape == (N, MAXLEN) and x.dtype == np.int32 and y.shape == (N,)

    keras.utils.set_random_seed(SEED)
    FM = make_fm_class(keras)
    model = build_model(keras, FM)
    init = [np.ascontiguousarray(w, dtype=np.float32) for w in model.get_weights()]
    names = [w.path for w in model.weights]
    shapes = [list(w.shape) for w in init]
    expected = [(NUM_WORDS, EMB_DIM), (KERNEL, EMB_DIM, FILTERS), (FILTERS,), (FILTERS, FM_OUT),
                (FILTERS, FM_FACTORS), (FM_OUT,), (FM_OUT, 1), (1,)]
    assert [tuple(s) for s in shapes] == expected, shapes

    # Second model, same initial weights, trained with a manual GradientTape step.
    model_m = build_model(keras, FM)
    model_m.set_weights(init)
    opt_m = model_m.optimizer
    emb_var = model_m.weights[0]
    conv_model = keras.Model(model_m.inputs[0], model_m.layers[3].output)  # Conv1D (+relu) output

    losses, accs, losses_m, accs_m = [], [], [], []
    ties_per_step = []
    emb_check = {"v_err_sum_of_squares": 0.0, "v_err_square_of_sum": 0.0, "var_err_sum_of_squares": 0.0,
                 "var_err_square_of_sum": 0.0, "m_err": 0.0, "grad_is_indexed_slices": [],
                 "rows_not_in_batch_changed": 0, "rows_never_seen_changed": 0}
    seen = np.zeros(NUM_WORDS, bool)
    b1, b2 = 0.9, 0.999

    for i in range(STEPS):
        xb, yb = x[BATCH * i: BATCH * (i + 1)], y[BATCH * i: BATCH * (i + 1)]
        # (a) train_on_batch with the metrics reset first -> the batch's own values.
        model.reset_metrics()
        logs = model.train_on_batch(xb, yb, return_dict=True)
        losses.append(float(logs["loss"]))
        accs.append(float(logs["accuracy"]))

        # (b) manual step, eager.
        conv = conv_model(xb, training=False).numpy()             # (32, 98, 250) before the update
        mx = conv.max(axis=1, keepdims=True)
        tied = ((conv == mx).sum(axis=1) > 1) & (mx[:, 0, :] > 0)          # (32, 250)
        wins = np.stack([xb[:, k: k + conv.shape[1]] for k in range(KERNEL)], -1)   # (32, 98, 3)
        n_ident = 0
        for s_, c_ in zip(*np.nonzero(tied)):
            w_ = wins[s_][conv[s_, :, c_] == mx[s_, 0, c_]]
            n_ident += int(np.all(w_ == w_[0]))
        ties_per_step.append([int(tied.sum()), n_ident])
        var_prev = emb_var.numpy().astype(np.float64)
        if opt_m.built:
            idx = opt_m._get_variable_index(emb_var)
            m_prev = opt_m._momentums[idx].numpy().astype(np.float64)
            v_prev = opt_m._velocities[idx].numpy().astype(np.float64)
        else:
            m_prev = np.zeros_like(var_prev)
            v_prev = np.zeros_like(var_prev)
        with tf.GradientTape() as tape:
            y_pred = model_m(xb, training=True)
            loss = model_m.compute_loss(x=xb, y=yb, y_pred=y_pred, training=True)
        grads = tape.gradient(loss, model_m.trainable_weights)
        opt_m.apply_gradients(zip(grads, model_m.trainable_weights))
        losses_m.append(float(loss))
        accs_m.append(float(np.mean((y_pred.numpy()[:, 0] > 0.5) == (yb > 0.5))))

        # Replay Adam on the embedding in float64 under both readings of g^2.
        g = grads[0]
        emb_check["grad_is_indexed_slices"].append(isinstance(g, tf.IndexedSlices))
        gi, gv = g.indices.numpy(), g.values.numpy().astype(np.float64)
        g_sum = np.zeros_like(var_prev)
        np.add.at(g_sum, gi, gv)
        g_sq = np.zeros_like(var_prev)
        np.add.at(g_sq, gi, gv * gv)
        t = i + 1
        alpha = LR * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m_new = m_prev + (g_sum - m_prev) * (1 - b1)
        idx = opt_m._get_variable_index(emb_var)
        m_act = opt_m._momentums[idx].numpy().astype(np.float64)
        v_act = opt_m._velocities[idx].numpy().astype(np.float64)
        var_act = emb_var.numpy().astype(np.float64)
        emb_check["m_err"] = max(emb_check["m_err"], float(np.abs(m_new - m_act).max()))
        for key, gg in (("sum_of_squares", g_sq), ("square_of_sum", g_sum * g_sum)):
            v_new = v_prev + (gg - v_prev) * (1 - b2)
            var_new = var_prev - alpha * m_new / (np.sqrt(v_new) + EPS)
            emb_check["v_err_" + key] = max(emb_check["v_err_" + key], float(np.abs(v_new - v_act).max()))
            emb_check["var_err_" + key] = max(emb_check["var_err_" + key],
                                              float(np.abs(var_new - var_act).max()))
        in_batch = np.zeros(NUM_WORDS, bool)
        in_batch[np.unique(gi)] = True
        changed = np.any(var_act != var_prev, axis=1)
        emb_check["rows_not_in_batch_changed"] += int((changed & ~in_batch).sum())
        seen |= in_batch
        emb_check["rows_never_seen_changed"] += int((changed & ~seen).sum())
    emb_check["rows_never_seen_after_20_steps"] = int((~seen).sum())

    # Inference-mode loss on batch 0 after training, two ways.
    x0, y0 = x[:BATCH], y[:BATCH]
    ev = model.evaluate(x0, y0, batch_size=BATCH, verbose=0, return_dict=True)
    p0 = model(x0, training=False)
    inf_manual = float(keras.ops.mean(keras.losses.binary_crossentropy(y0[:, None], p0)))
    after = model.get_weights()
    after_m = model_m.get_weights()
    abs_sums = [float(np.abs(w.astype(np.float64)).sum()) for w in after]
    abs_sums_m = [float(np.abs(w.astype(np.float64)).sum()) for w in after_m]

    # Fixture files.
    os.makedirs(args.out_dir, exist_ok=True)
    st_path = os.path.join(args.out_dir, "imdb_fm_keras.safetensors")
    json_path = os.path.join(args.out_dir, "imdb_fm_keras.json")
    tensors = {f"weight.{k:02d}": w for k, w in enumerate(init)}
    tensors["x"] = np.ascontiguousarray(x, dtype=np.int32)
    tensors["y"] = np.ascontiguousarray(y, dtype=np.float32)
    # One metadata key only: safetensors writes the metadata map in hash order, so several keys
    # would make the file differ byte-wise between runs. Versions are in the JSON.
    save_file(tensors, st_path, metadata={"generator": "scripts/keras_reference/imdb_fm_steps.py"})

    step_diff = max(abs(a - b) for a, b in zip(losses, losses_m))
    acc_diff = max(abs(a - b) for a, b in zip(accs, accs_m))
    w_diff = max(float(np.abs(a - b).max()) for a, b in zip(after, after_m))
    rec = {
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "backend": keras.backend.backend(),
        "jit_compile": bool(model.jit_compile),
        "threads": args.threads,
        "onednn_opts_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: TF default, on)"),
        "seed": SEED,
        "num_words": NUM_WORDS,
        "maxlen": MAXLEN,
        "batch_size": BATCH,
        "steps": STEPS,
        "optimizer": {"name": "adam", "learning_rate": LR, "beta_1": b1, "beta_2": b2, "epsilon": EPS},
        "rows": args.rows,
        "source_rows": [int(r) for r in rows],
        "weight_names": names,
        "weight_shapes": shapes,
        "losses": losses,
        "accuracies": accs,
        "inference_loss_batch0": float(ev["loss"]),
        "inference_loss_batch0_manual": inf_manual,
        "weight_abs_sums_after": abs_sums,
        "checks": {
            "manual_tape_losses": losses_m,
            "manual_tape_accuracies": accs_m,
            "max_abs_loss_diff_train_on_batch_vs_tape": step_diff,
            "max_abs_acc_diff_train_on_batch_vs_tape": acc_diff,
            "max_abs_weight_diff_after_train_on_batch_vs_tape": w_diff,
            "manual_tape_weight_abs_sums_after": abs_sums_m,
            "bce_paths_seen": sorted(set(bce_paths)),
            "embedding_adam": emb_check,
            "tied_positive_maxpool_maxima_per_step": [t[0] for t in ties_per_step],
            "tied_maxima_with_identical_id_windows_per_step": [t[1] for t in ties_per_step],
        },
    }
    with open(json_path, "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")

    print(f"wrote {st_path} ({os.path.getsize(st_path)} bytes), {json_path} ({os.path.getsize(json_path)} bytes)")
    print("labels per batch (positives):", [int(y[BATCH * i: BATCH * (i + 1)].sum()) for i in range(STEPS)])
    for i in range(STEPS):
        print(f"step {i:2d} loss {losses[i]!r:<22} tape {losses_m[i]!r:<22} acc {accs[i]:.5f} tape {accs_m[i]:.5f}")
    print("max |loss diff| train_on_batch vs tape:", step_diff, " max |weight diff| after:", w_diff)
    print("inference loss batch0:", repr(float(ev["loss"])), "manual:", repr(inf_manual))
    print("bce paths seen:", sorted(set(bce_paths)))
    print("embedding adam check:", json.dumps({k: v for k, v in emb_check.items() if k != "grad_is_indexed_slices"}),
          "indexed slices every step:", all(emb_check["grad_is_indexed_slices"]))
    print("tied positive maxpool maxima per step [all, with identical id windows]:", ties_per_step)
    print("weight abs sums after:", abs_sums)
    return 0


if __name__ == "__main__":
    sys.exit(main())
