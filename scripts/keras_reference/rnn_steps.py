"""Step-parity reference fixtures for the recurrent layers, produced by real Keras 3 (TensorFlow backend).

Run with the peers' venv (bash /work/shared/peers/setup.sh creates it):

    ~/.cache/wgtrain-peers-venv/bin/python scripts/keras_reference/rnn_steps.py [--cases lstm,gru_masked]

For each case writes tests/fixtures/rnn_<case>_keras.safetensors (initial weights "weight.NN" in
model.get_weights() order as float32, "x" int32 (320, 30), "y" float32 (320,)) and
tests/fixtures/rnn_<case>_keras.json (per-step batch loss and accuracy for 20 RMSprop steps on
consecutive batches of 16, the inference loss on batch 0 after training, sum(|w|) of every weight
after training, the weight names and shapes, count_params, and the checks below).

Cases (default Keras initializers; Keras makes the initial weights after set_random_seed(1234)):
  Input((30,), int32) -> Embedding(500, 16, mask_zero=<masked>) -> L1 -> L2 -> Dense(1, sigmoid)
  simplernn[_masked]:  L1 = SimpleRNN(8, return_sequences=True), L2 = SimpleRNN(8)       (tanh)
  lstm[_masked]:       L1 = LSTM(8, return_sequences=True),      L2 = LSTM(8)   (unit_forget_bias)
  gru[_masked]:        L1 = GRU(8, return_sequences=True),       L2 = GRU(8)  (reset_after, bias (2,24))
  bilstm_masked:       L1 = Bidirectional(LSTM(8, return_sequences=True))       (merge_mode concat)
                       L2 = Bidirectional(GRU(8), merge_mode="sum")
  RMSprop() defaults (lr 1e-3, rho 0.9, momentum 0, epsilon 1e-7, not centered),
  binary_crossentropy, metrics ["accuracy"].

Data (identical x, y for every case): imdb.npz train split with Keras load_data's id transform and
no shuffle ([1] + [w + 3 for w in review], then ids >= 500 -> 2). Rows 0..159 (positive) and
12500..12659 (negative) alternately (pos0, neg0, pos1, ...: every batch of 16 is 8/8). Each row gets
a length L drawn with np.random.RandomState(1234).randint(3, 31, 320) (so L in [3, 30]) and keeps
the review's first L ids (start char 1 included). Even row index: pre-padded (zeros first, as
pad_sequences padding='pre'); odd row index: post-padded (zeros at the end). Rows 5 (batch 0) and
170 (batch 10) are then set entirely to 0 (length 0: a sequence with no valid step). Reviews never
contain id 0, so in the masked cases the mask is exactly x != 0. The unmasked cases see the same x;
there id 0 is an ordinary token. NOTE: with this interleave, even rows are exactly the positive
ones, so in the UNMASKED cases the padding side (leading vs trailing zeros) predicts the label
perfectly, and those models learn it fast (simplernn: loss 0.72 -> 0.34, batch accuracy ~1.0 in 20
steps). In the masked cases the padding is invisible (carried outputs), so the loss barely moves.
For step parity this is harmless (it only makes the unmasked losses move a lot); the layout is
kept as it is and recorded in the JSON ("data").

What Keras 3.15.1 / TF 2.21 does here (read from the installed source; checked at run time, see
"checks" in the JSON):

* No cuDNN. LSTM/GRU.inner_loop first try backend.lstm / backend.gru (cuDNN); the TF backend raises
  NotImplementedError when tf.config.list_logical_devices("GPU") is empty, and the layer falls back
  to the generic RNN.inner_loop -> keras.src.backend.tensorflow.rnn.rnn (tf.while_loop over time,
  unroll=False) calling the cell once per step. Bidirectional's fused cuDNN paths are only tried when
  mask is None (the only Bidirectional case here is masked). The JSON records every attempt.
  Cells (generic path, implementation=2): SimpleRNN h = tanh(x@K + b + h@R); LSTM gates i,f,c,o:
  z = x@K + h@R + b, c = sig(f)*c + sig(i)*tanh(c~), h = sig(o)*tanh(c); GRU gates z,r,h with
  reset_after: mx = x@K + b[0], mh = h@R + b[1], z = sig(mx_z+mh_z), r = sig(mx_r+mh_r),
  hh = tanh(mx_h + r*mh_h), h = z*h + (1-z)*hh.

* Masked steps (mask from Embedding(mask_zero=True) is x != 0, propagated to L1; L1 passes it on
  since it returns sequences; L2's output carries no mask, so the loss is unmasked). In the
  while_loop, at a masked step the cell still runs but tf.where keeps the previous states
  (h and c) and emits, for zero_output_for_mask=False (the plain layers' default), the previous
  step's EMITTED output (zeros before the first valid step; initial state is zeros). So a
  pre-padded row's leading masked steps output 0 and a post-padded row's trailing steps repeat the
  last valid output; an all-padding row outputs 0 everywhere, L2 gives 0 and the prediction is
  sigmoid(dense bias). Bidirectional FORCES zero_output_for_mask = return_sequences on both its
  inner layers, so Bidirectional(LSTM(return_sequences=True)) emits exact ZEROS at masked steps
  (both directions), not the carried value. Its backward layer is go_backwards=True: the backend
  reverses the whole time axis (tf.reverse, not reverse_sequence) and the mask with it, and
  Bidirectional flips the backward sequence output back (return_sequences) before concat; for
  return_sequences=False the backward output is its state after the reversed pass. Since masked
  steps leave the state untouched, the backward pass over a padded row equals a backward pass over
  the valid ids only, for pre- and post-padding alike. The gradient through a masked step's cell
  output is 0 (tf.where), so in the masked cases Embedding row 0 gets exactly zero gradient.

* RMSprop on the Embedding's IndexedSlices gradient (keras/src/optimizers/rmsprop.py update_step):
      v   = rho*v + (1-rho)*square(g)     ops.square(IndexedSlices) squares EACH occurrence's row,
                                          then ops.add(dense, slices) densifies (duplicates summed)
                                          -> v_row gets sum_k g_k^2, not (sum_k g_k)^2 (the same
                                          quirk as Adam's second moment in imdb_fm_steps.py); rows
                                          not in the batch still decay by rho.
      var -= lr*g / sqrt(v + eps)         slices / dense gathers v at each occurrence's row; the
                                          result stays IndexedSlices -> scatter_sub, i.e. the row
                                          moves by lr*(sum_k g_k)/sqrt(v_row + eps). Rows not in the
                                          batch do not move (no momentum). eps is INSIDE the sqrt.
  All other weights get dense gradients and the same formulas densely.

* train_on_batch returns the running mean since the last metric reset; model.reset_metrics() is
  called before every train_on_batch / test_on_batch, so the recorded values are the batch's own
  loss (forward pass before the update) and accuracy. binary_crossentropy on the sigmoid output
  takes the logits path (no clipping), as described in imdb_fm_steps.py; recorded in the JSON.
  A second model with the same initial weights is trained with a manual tf.GradientTape step
  (model(x, training=True), model.compute_loss, optimizer.apply_gradients, eager) and compared.
  A float64 numpy re-implementation of the forward pass (cells, masking, go_backwards, merge) is
  compared with the Keras prediction on batch 0 at the initial weights.
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
LENGTH_SEED = 1234
NUM_WORDS = 500
MAXLEN = 30
MIN_LEN = 3
EMB_DIM = 16
UNITS = 8
LR, RHO, EPS = 1e-3, 0.9, 1e-7
BATCH = 16
STEPS = 20
N = BATCH * STEPS  # 320
EMPTY_ROWS = (5, 170)
CASES = ["simplernn", "simplernn_masked", "lstm", "lstm_masked", "gru", "gru_masked", "bilstm_masked"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--npz", default=DEFAULT_NPZ)
    p.add_argument("--out-dir", default=os.path.join(REPO, "tests", "fixtures"))
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of " + ",".join(CASES))
    p.add_argument("--threads", type=int, default=1, help="TF intra/inter-op threads")
    return p.parse_args()


def load_data(npz):
    with np.load(npz, allow_pickle=True) as f:
        x_train, y_train = f["x_train"], f["y_train"]
    half = N // 2
    n_pos = int((y_train == 1).sum())
    assert np.all(y_train[:n_pos] == 1) and np.all(y_train[n_pos:] == 0), "unexpected npz order"
    rows = np.empty(N, np.int64)
    rows[0::2] = np.arange(half)
    rows[1::2] = n_pos + np.arange(half)
    lengths = np.random.RandomState(LENGTH_SEED).randint(MIN_LEN, MAXLEN + 1, size=N)
    for r in EMPTY_ROWS:
        lengths[r] = 0
    x = np.zeros((N, MAXLEN), np.int32)
    for i, r in enumerate(rows):
        s = [1] + [int(w) + 3 for w in x_train[r]]          # load_data: start_char 1, index_from 3
        s = [w if w < NUM_WORDS else 2 for w in s]           # num_words: oov_char 2
        L = int(lengths[i])
        assert len(s) >= L, (i, r, len(s), L)
        if L == 0:
            continue
        if i % 2 == 0:
            x[i, MAXLEN - L:] = s[:L]                        # pre-padded
        else:
            x[i, :L] = s[:L]                                 # post-padded
    assert np.array_equal((x != 0).sum(axis=1), lengths)
    y = np.asarray(y_train[rows], np.float32)
    return x, y, rows, lengths


def build_model(keras, case):
    from keras import layers
    masked = case.endswith("_masked")
    kind = case[: -len("_masked")] if masked else case
    inp = keras.Input((MAXLEN,), dtype="int32", name="ids")
    h = layers.Embedding(NUM_WORDS, EMB_DIM, mask_zero=masked, name="embedding")(inp)
    if kind == "bilstm":
        h = layers.Bidirectional(layers.LSTM(UNITS, return_sequences=True), name="rnn1")(h)
        h = layers.Bidirectional(layers.GRU(UNITS), merge_mode="sum", name="rnn2")(h)
    else:
        cell = {"simplernn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind]
        h = cell(UNITS, return_sequences=True, name="rnn1")(h)
        h = cell(UNITS, name="rnn2")(h)
    out = layers.Dense(1, activation="sigmoid", name="dense")(h)
    model = keras.Model(inp, out, name=case)
    model.compile(optimizer=keras.optimizers.RMSprop(), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def expected_shapes(case):
    kind = case.replace("_masked", "")
    E, U = EMB_DIM, UNITS
    rnn = {
        "simplernn": lambda d: [(d, U), (U, U), (U,)],
        "lstm": lambda d: [(d, 4 * U), (U, 4 * U), (4 * U,)],
        "gru": lambda d: [(d, 3 * U), (U, 3 * U), (2, 3 * U)],
    }
    s = [(NUM_WORDS, E)]
    if kind == "bilstm":
        s += rnn["lstm"](E) + rnn["lstm"](E) + rnn["gru"](2 * U) + rnn["gru"](2 * U)
    else:
        s += rnn[kind](E) + rnn[kind](U)
    return s + [(U, 1), (1,)]


# ---------------------------------------------------------------------------------------------
# float64 numpy forward pass (documents the semantics; compared with Keras on batch 0)

def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_rnn(kind, w, xs, mask, go_backwards, return_sequences, zero_output_for_mask):
    K, R, b = (np.asarray(a, np.float64) for a in w)
    B, T, _ = xs.shape
    U = R.shape[0]
    if mask is None:
        mask = np.ones((B, T), bool)
    if go_backwards:
        xs, mask = xs[:, ::-1], mask[:, ::-1]
    h = np.zeros((B, U))
    c = np.zeros((B, U))
    prev = np.zeros((B, U))
    outs = []
    for t in range(T):
        x = xs[:, t]
        if kind == "simplernn":
            hn = np.tanh(x @ K + b + h @ R)
            cn = c
        elif kind == "lstm":
            z = x @ K + h @ R + b
            zi, zf, zc, zo = np.split(z, 4, axis=1)
            cn = _sig(zf) * c + _sig(zi) * np.tanh(zc)
            hn = _sig(zo) * np.tanh(cn)
        else:  # gru, reset_after
            mx = x @ K + b[0]
            mh = h @ R + b[1]
            z = _sig(mx[:, :U] + mh[:, :U])
            r = _sig(mx[:, U:2 * U] + mh[:, U:2 * U])
            hh = np.tanh(mx[:, 2 * U:] + r * mh[:, 2 * U:])
            hn = z * h + (1 - z) * hh
            cn = c
        m = mask[:, t, None]
        out = np.where(m, hn, 0.0 if zero_output_for_mask else prev)
        h = np.where(m, hn, h)
        c = np.where(m, cn, c)
        prev = out
        outs.append(out)
    seq = np.stack(outs, axis=1)      # in processing order (reversed when go_backwards)
    return seq if return_sequences else outs[-1]


def np_forward(case, weights, x):
    w = [np.asarray(a, np.float64) for a in weights]
    masked = case.endswith("_masked")
    kind = case.replace("_masked", "")
    mask = (x != 0) if masked else None
    e = w[0][x]
    if kind == "bilstm":
        f = np_rnn("lstm", w[1:4], e, mask, False, True, True)
        bw = np_rnn("lstm", w[4:7], e, mask, True, True, True)[:, ::-1]
        h1 = np.concatenate([f, bw], axis=-1)
        h2 = np_rnn("gru", w[7:10], h1, mask, False, False, False) + \
            np_rnn("gru", w[10:13], h1, mask, True, False, False)
        wd, bd = w[13], w[14]
    else:
        h1 = np_rnn(kind, w[1:4], e, mask, False, True, False)
        h2 = np_rnn(kind, w[4:7], h1, mask, False, False, False)
        wd, bd = w[7], w[8]
    return _sig(h2 @ wd + bd)[:, 0], h1


def l1_mask_check(l1_out, xb, zero_output):
    """Masked steps of L1's sequence output: the previous step's output (zeros at t = 0), or zeros."""
    mask = xb != 0
    err, n_masked = 0.0, 0
    B, T, _ = l1_out.shape
    for b in range(B):
        for t in range(T):
            if mask[b, t]:
                continue
            n_masked += 1
            if zero_output or t == 0:
                ref = np.zeros_like(l1_out[b, t])
            else:
                ref = l1_out[b, t - 1]
            err = max(err, float(np.abs(l1_out[b, t] - ref).max()))
    # Valid steps must not trivially repeat the previous output.
    n_valid_changed = int(sum(
        1 for b in range(B) for t in range(T)
        if mask[b, t] and not np.array_equal(l1_out[b, t], l1_out[b, t - 1] if t else np.zeros_like(l1_out[b, t]))))
    return {"max_abs_err": err, "masked_steps": n_masked, "valid_steps": int(mask.sum()),
            "valid_steps_differing_from_previous": n_valid_changed,
            "rule": "zeros" if zero_output else "previous step's output (zeros before the first valid step)"}


def run_case(case, args, keras, tf, x, y, rows, lengths, paths, bce_paths, save_file):
    masked = case.endswith("_masked")
    keras.utils.set_random_seed(SEED)
    model = build_model(keras, case)
    init = [np.ascontiguousarray(w, dtype=np.float32) for w in model.get_weights()]
    names = [w.path for w in model.weights]
    shapes = [list(w.shape) for w in init]
    assert [tuple(s) for s in shapes] == expected_shapes(case), (case, shapes)
    assert len(model.trainable_weights) == len(init)

    model_m = build_model(keras, case)
    model_m.set_weights(init)
    opt_m = model_m.optimizer
    emb_var = model_m.weights[0]
    l1_layer = model_m.get_layer("rnn1")
    l1_model = keras.Model(model_m.inputs[0], l1_layer.output)

    x0, y0 = x[:BATCH], y[:BATCH]
    checks = {}

    # Forward checks at the initial weights (model_m, before its first step).
    p0 = model_m(x0, training=False).numpy()[:, 0].astype(np.float64)
    p0_np, h1_np = np_forward(case, init, x0)
    l1_0 = l1_model(x0, training=False).numpy()
    checks["numpy_forward_batch0_initial"] = {
        "max_abs_pred_diff": float(np.abs(p0 - p0_np).max()),
        "max_abs_l1_output_diff": float(np.abs(l1_0 - h1_np).max()),
    }
    is_bi = case.startswith("bilstm")
    if masked:
        checks["l1_masked_steps_initial_batch0"] = l1_mask_check(l1_0, x0, zero_output=is_bi)
        empty0 = [r for r in EMPTY_ROWS if r < BATCH]
        b_d = float(init[-1][0])
        checks["empty_rows_batch0_pred_minus_sigmoid_dense_bias"] = [
            float(p0[r] - 1.0 / (1.0 + np.exp(-b_d))) for r in empty0]
        checks["empty_rows_batch0_l1_output_abs_max"] = [float(np.abs(l1_0[r]).max()) for r in empty0]
    if is_bi:
        checks["zero_output_for_mask"] = {
            ln + "." + d: bool(getattr(getattr(model_m.get_layer(ln), d + "_layer"), "zero_output_for_mask"))
            for ln in ("rnn1", "rnn2") for d in ("forward", "backward")}

    losses, accs, losses_m, accs_m = [], [], [], []
    emb = {"v_err_sum_of_squares": 0.0, "v_err_square_of_sum": 0.0, "var_err_sum_of_squares": 0.0,
           "var_err_square_of_sum": 0.0, "grad_is_indexed_slices": [], "rows_not_in_batch_changed": 0,
           "row0_grad_abs_max": 0.0, "row0_occurrences": 0}
    for i in range(STEPS):
        xb, yb = x[BATCH * i: BATCH * (i + 1)], y[BATCH * i: BATCH * (i + 1)]
        model.reset_metrics()
        logs = model.train_on_batch(xb, yb, return_dict=True)
        losses.append(float(logs["loss"]))
        accs.append(float(logs["accuracy"]))

        var_prev = emb_var.numpy().astype(np.float64)
        if opt_m.built:
            v_prev = opt_m._velocities[opt_m._get_variable_index(emb_var)].numpy().astype(np.float64)
        else:
            v_prev = np.zeros_like(var_prev)
        with tf.GradientTape() as tape:
            y_pred = model_m(xb, training=True)
            loss = model_m.compute_loss(x=xb, y=yb, y_pred=y_pred, training=True)
        grads = tape.gradient(loss, model_m.trainable_weights)
        opt_m.apply_gradients(zip(grads, model_m.trainable_weights))
        losses_m.append(float(loss))
        accs_m.append(float(np.mean((y_pred.numpy()[:, 0] > 0.5) == (yb > 0.5))))

        # Replay RMSprop on the embedding in float64 under both readings of g^2.
        g = grads[0]
        emb["grad_is_indexed_slices"].append(isinstance(g, tf.IndexedSlices))
        if isinstance(g, tf.IndexedSlices):
            gi, gv = g.indices.numpy(), g.values.numpy().astype(np.float64)
        else:  # dense fallback: one "occurrence" per row
            gv = g.numpy().astype(np.float64)
            gi = np.arange(gv.shape[0])
        g_sum = np.zeros_like(var_prev)
        np.add.at(g_sum, gi, gv)
        g_sq = np.zeros_like(var_prev)
        np.add.at(g_sq, gi, gv * gv)
        v_act = opt_m._velocities[opt_m._get_variable_index(emb_var)].numpy().astype(np.float64)
        var_act = emb_var.numpy().astype(np.float64)
        for key, gg in (("sum_of_squares", g_sq), ("square_of_sum", g_sum * g_sum)):
            v_new = RHO * v_prev + (1 - RHO) * gg
            var_new = var_prev - LR * g_sum / np.sqrt(v_new + EPS)
            emb["v_err_" + key] = max(emb["v_err_" + key], float(np.abs(v_new - v_act).max()))
            emb["var_err_" + key] = max(emb["var_err_" + key], float(np.abs(var_new - var_act).max()))
        in_batch = np.zeros(NUM_WORDS, bool)
        in_batch[np.unique(gi)] = True
        changed = np.any(var_act != var_prev, axis=1)
        emb["rows_not_in_batch_changed"] += int((changed & ~in_batch).sum())
        emb["row0_grad_abs_max"] = max(emb["row0_grad_abs_max"], float(np.abs(gv[gi == 0]).max()) if np.any(gi == 0) else 0.0)
        emb["row0_occurrences"] += int((gi == 0).sum())
    emb["grad_is_indexed_slices_every_step"] = all(emb.pop("grad_is_indexed_slices"))

    model.reset_metrics()
    ev = model.test_on_batch(x0, y0, return_dict=True)
    p_after = model(x0, training=False)
    inf_manual = float(keras.ops.mean(keras.losses.binary_crossentropy(y0[:, None], p_after)))
    after = model.get_weights()
    after_m = model_m.get_weights()
    abs_sums = [float(np.abs(w.astype(np.float64)).sum()) for w in after]
    abs_sums_m = [float(np.abs(w.astype(np.float64)).sum()) for w in after_m]
    emb["row0_unchanged_after_training"] = bool(np.array_equal(after[0][0], init[0][0]))
    if masked:
        l1_trained = keras.Model(model.inputs[0], model.get_layer("rnn1").output)(x0, training=False).numpy()
        checks["l1_masked_steps_trained_batch0"] = l1_mask_check(l1_trained, x0, zero_output=is_bi)

    step_diff = max(abs(a - b) for a, b in zip(losses, losses_m))
    acc_diff = max(abs(a - b) for a, b in zip(accs, accs_m))
    w_diff = max(float(np.abs(a - b).max()) for a, b in zip(after, after_m))
    checks.update({
        "manual_tape_losses": losses_m,
        "manual_tape_accuracies": accs_m,
        "max_abs_loss_diff_train_on_batch_vs_tape": step_diff,
        "max_abs_acc_diff_train_on_batch_vs_tape": acc_diff,
        "max_abs_weight_diff_after_train_on_batch_vs_tape": w_diff,
        "manual_tape_weight_abs_sums_after": abs_sums_m,
        "embedding_rmsprop": emb,
    })

    # Fixture files.
    os.makedirs(args.out_dir, exist_ok=True)
    st_path = os.path.join(args.out_dir, f"rnn_{case}_keras.safetensors")
    json_path = os.path.join(args.out_dir, f"rnn_{case}_keras.json")
    tensors = {f"weight.{k:02d}": w for k, w in enumerate(init)}
    tensors["x"] = np.ascontiguousarray(x, dtype=np.int32)
    tensors["y"] = np.ascontiguousarray(y, dtype=np.float32)
    save_file(tensors, st_path, metadata={"generator": "scripts/keras_reference/rnn_steps.py"})
    os.chmod(st_path, 0o644)  # safetensors creates the file 0600

    rec = {
        "case": case,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "backend": keras.backend.backend(),
        "jit_compile": bool(model.jit_compile),
        "gpus_visible": [d.name for d in tf.config.list_logical_devices("GPU")],
        "rnn_paths_seen": sorted(set(paths)),
        "bce_paths_seen": sorted(set(bce_paths)),
        "threads": args.threads,
        "onednn_opts_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: TF default, on)"),
        "seed": SEED,
        "model": {
            "masked": case.endswith("_masked"),
            "layers": [{"name": l.name, "class": type(l).__name__,
                        **({"inner": type(l.forward_layer).__name__, "merge_mode": l.merge_mode}
                           if hasattr(l, "forward_layer") else {}),
                        **({"return_sequences": l.return_sequences} if hasattr(l, "return_sequences") else {})}
                       for l in model.layers],
            "count_params": int(model.count_params()),
        },
        "count_params": int(model.count_params()),
        "num_words": NUM_WORDS,
        "maxlen": MAXLEN,
        "embedding_dim": EMB_DIM,
        "units": UNITS,
        "batch_size": BATCH,
        "steps": STEPS,
        "optimizer": {"name": "rmsprop", "learning_rate": LR, "rho": RHO, "momentum": 0.0,
                      "epsilon": EPS, "centered": False},
        "data": {
            "source": "imdb.npz train split, Keras load_data id transform without shuffle: [1] + [w + 3], "
                      "ids >= 500 -> 2",
            "rows": "interleave: train rows 0..159 (label 1) and 12500..12659 (label 0) alternately",
            "lengths": "np.random.RandomState(1234).randint(3, 31, 320); keep the first L ids of each row "
                       "(start char included); rows 5 and 170 then set to length 0 (all padding)",
            "padding": "even row index: pre-padded (zeros first); odd row index: post-padded (zeros last)",
            "empty_rows": list(EMPTY_ROWS),
            "note": "even rows are the positive ones AND the pre-padded ones, so in the unmasked cases "
                    "the padding side alone predicts the label",
        },
        "source_rows": [int(r) for r in rows],
        "lengths": [int(v) for v in lengths],
        "weight_names": names,
        "weight_shapes": shapes,
        "losses": losses,
        "accuracies": accs,
        "inference_loss_batch0": float(ev["loss"]),
        "inference_accuracy_batch0": float(ev["accuracy"]),
        "inference_loss_batch0_manual": inf_manual,
        "weight_abs_sums_after": abs_sums,
        "checks": checks,
    }
    with open(json_path, "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")

    print(f"== {case}: wrote {st_path} ({os.path.getsize(st_path)} bytes), {json_path} "
          f"({os.path.getsize(json_path)} bytes)")
    print(f"   params {model.count_params()}  loss[0] {losses[0]!r}  loss[19] {losses[-1]!r}  "
          f"inference batch0 {float(ev['loss'])!r}")
    print(f"   tape max|dloss| {step_diff:.3g}  max|dw| {w_diff:.3g}  numpy fwd {checks['numpy_forward_batch0_initial']}")
    if masked:
        print("   L1 masked-step check (initial):", checks["l1_masked_steps_initial_batch0"])
    print("   embedding rmsprop:", json.dumps(emb))
    return rec


def main():
    args = parse_args()
    cases = [c for c in args.cases.split(",") if c]
    for c in cases:
        assert c in CASES, c
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras
    from keras.src import backend as kbackend
    from keras.src.backend.tensorflow import nn as tf_nn
    from safetensors.numpy import save_file

    # Record (without changing anything) which paths Keras takes.
    bce_paths = []
    _orig_get_logits = tf_nn._get_logits

    def _recording_get_logits(output, from_logits, op_type, fn_name):
        out, fl = _orig_get_logits(output, from_logits, op_type, fn_name)
        if fn_name == "binary_crossentropy":
            bce_paths.append("logits" if fl else "probabilities")
        return out, fl

    tf_nn._get_logits = _recording_get_logits

    paths = []

    def _wrap(name):
        orig = getattr(kbackend, name)

        def wrapped(*a, **kw):
            try:
                out = orig(*a, **kw)
            except NotImplementedError:
                paths.append(f"{name}: cuDNN raised NotImplementedError -> generic while_loop")
                raise
            paths.append(f"{name}: cuDNN used")
            return out

        setattr(kbackend, name, wrapped)

    for nm in ("lstm", "gru", "bidirectional_lstm", "bidirectional_gru"):
        _wrap(nm)

    x, y, rows, lengths = load_data(args.npz)
    assert x.shape == (N, MAXLEN) and x.dtype == np.int32 and y.shape == (N,)
    print("positives per batch:", [int(y[BATCH * i: BATCH * (i + 1)].sum()) for i in range(STEPS)])

    summary = []
    for case in cases:
        del paths[:], bce_paths[:]
        rec = run_case(case, args, keras, tf, x, y, rows, lengths, paths, bce_paths, save_file)
        summary.append((case, rec["count_params"], rec["losses"][0], rec["losses"][-1],
                        rec["checks"]["max_abs_loss_diff_train_on_batch_vs_tape"], rec["rnn_paths_seen"]))
    print()
    for s in summary:
        print(f"{s[0]:<17} params {s[1]:>5}  loss0 {s[2]:.7f}  loss19 {s[3]:.7f}  tape diff {s[4]:.2g}  {s[5]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
