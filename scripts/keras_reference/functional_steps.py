"""Step-parity reference fixtures for functional graph models, produced by real Keras 3 (TensorFlow backend).

Run with the peers' venv (bash /work/shared/peers/setup.sh creates it):

    ~/.cache/wgtrain-peers-venv/bin/python scripts/keras_reference/functional_steps.py [--cases conv2d_stack]

Each case writes tests/fixtures/functional_<case>_keras.safetensors (initial weights "weight.NN" in
model.get_weights() order as float32, then the data arrays named below, samples on the first axis)
and tests/fixtures/functional_<case>_keras.json (per-step logs of 10 train_on_batch calls on
consecutive batches of 8, name by name as Keras returns them; test_on_batch on batch 0 after
training; sum(|w|) of every weight after training; the weight names and shapes; count_params;
the layers' output shapes; and the checks below). Keras makes the initial weights after
keras.utils.set_random_seed(1234) (default initializers); the data come from
np.random.RandomState(1234). No dropout, no batch normalization: every step is deterministic.

conv2d_stack  (Adam() defaults: lr 1e-3, beta_1 0.9, beta_2 0.999, epsilon 1e-7;
               categorical_crossentropy; metrics ["accuracy"] -> categorical accuracy)
  images = Input((10, 10, 3))                                              float32, N(0, 1)
  c1 = Conv2D(6, 3, padding="same", relu)(images)                           (10, 10, 6)
  c2 = Conv2D(6, 2, padding="same")(c1)           even kernel, linear      (10, 10, 6)
  branch A:
  a1 = Conv2D(8, 3, strides=2, padding="same")(c2)  stride 2, linear       (5, 5, 8)
  a2 = MaxPooling2D(2, padding="same")(a1)          odd input, strides 2   (3, 3, 8)
  a3 = AveragePooling2D(2, strides=1, padding="same")(a2)                  (3, 3, 8)
  ga = GlobalAveragePooling2D()(a3)                                        (8,)
  branch B:
  b1 = Conv2D(8, (2, 3), dilation_rate=2, padding="same", relu)(c1)       (10, 10, 8)
  b2 = Conv2D(8, 3, strides=2, padding="valid")(b1)  stride 2, linear      (4, 4, 8)
  gb = GlobalMaxPooling2D()(b2)                                            (8,)
  out = Dense(4, softmax)(concatenate([ga, gb]))                           (4,)
  data: "images" float32 (80, 10, 10, 3), "labels" float32 one-hot (80, 4)

multi_output  (RMSprop() defaults: lr 1e-3, rho 0.9, momentum 0, epsilon 1e-7, not centered)
  posts = Input((20,), int32, name "posts") -> Embedding(50, 8) -> Conv1D(8, 3, relu) ->
  MaxPooling1D(2) -> Conv1D(8, 3, relu) -> GlobalMaxPooling1D -> Dense(16, relu) -> three heads
  age    = Dense(1, name "age")                 loss "mse"                       weight 0.25
  income = Dense(4, softmax, name "income")     loss "categorical_crossentropy"  weight 1.0
  gender = Dense(1, sigmoid, name "gender")     loss "binary_crossentropy"       weight 10.0
  compiled with LISTS of losses and loss weights in output order (a dict of loss weights is
  applied by Keras 3.15 in sorted name order, which is not the output order here) and
  metrics {"income": "accuracy", "gender": "accuracy"}.
  data: "posts" int32 (80, 20) ids in [0, 50) (0 is an ordinary id: no mask), "age" float32
  (80, 1) N(0, 1) (a standardized age), "income" float32 one-hot (80, 4), "gender" float32 0/1
  (80, 1).

What Keras 3.15 / TF does here (checked at run time; see "checks" in the JSON):

* 'same' padding is TensorFlow's: output size ceil(n / stride), total padding
  max((out - 1) * stride + (k - 1) * dilation + 1 - n, 0), of which total // 2 goes before and
  the rest after (so the even kernel of c2, the stride-2 a1 on 10 and the pool a2 on 5 pad one
  AFTER only; the dilated (2, 3) kernel of b1 spans (3, 5) and pads (1, 1) and (2, 2)).
  MaxPooling2D never picks a padded position (a1 is linear, so windows hold negative values and
  zero padding would give a different result). AveragePooling2D divides by the number of valid
  positions in the window (tf.nn.avg_pool excludes the padding). A numpy forward pass written
  from these rules is compared with Keras' prediction at the initial weights.
* train_on_batch resets the metrics itself (Keras 3.15), so each recorded log is the batch's own
  forward pass before the update. categorical_crossentropy on a softmax output and
  binary_crossentropy on a sigmoid output take the LOGITS path (the activation stores
  `_keras_logits`; no clipping): the JSON records the paths seen. For multi_output, "loss" is the
  weighted sum and each "<name>_loss" is that head's UNWEIGHTED mean loss: checked against numpy
  losses computed from the model's predictions before each step.
* Max ties: MaxPooling1D and GlobalMaxPooling1D in multi_output follow a relu, so ties at 0 do
  happen; the gradient reaching a relu output of 0 is multiplied by relu'(0) = 0, so where it is
  routed does not matter. In conv2d_stack the max pools read linear convolutions (no ties).
* RMSprop on the Embedding's IndexedSlices gradient feeds v with the sum over occurrences of
  the squared per-occurrence gradient (see rnn_steps.py); the other weights are dense.
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

SEED = 1234
BATCH = 8
STEPS = 10
N = BATCH * STEPS
CASES = ("conv2d_stack", "multi_output")

# multi_output sizes
VOCAB, MAXLEN, EMB_DIM, INCOME_GROUPS = 50, 20, 8, 4
LOSS_WEIGHTS = [0.25, 1.0, 10.0]


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--out-dir", default=os.path.join(REPO, "tests", "fixtures"))
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


# ---------------------------------------------------------------------------------------------
# Models


def build_conv2d_stack(keras):
    L = keras.layers
    images = keras.Input((10, 10, 3), name="images")
    c1 = L.Conv2D(6, 3, padding="same", activation="relu", name="c1")(images)
    c2 = L.Conv2D(6, 2, padding="same", name="c2")(c1)
    a1 = L.Conv2D(8, 3, strides=2, padding="same", name="a1")(c2)
    a2 = L.MaxPooling2D(2, padding="same", name="a2")(a1)
    a3 = L.AveragePooling2D(2, strides=1, padding="same", name="a3")(a2)
    ga = L.GlobalAveragePooling2D(name="ga")(a3)
    b1 = L.Conv2D(8, (2, 3), dilation_rate=2, padding="same", activation="relu", name="b1")(c1)
    b2 = L.Conv2D(8, 3, strides=2, padding="valid", name="b2")(b1)
    gb = L.GlobalMaxPooling2D(name="gb")(b2)
    joined = L.concatenate([ga, gb], axis=-1, name="joined")
    out = L.Dense(4, activation="softmax", name="out")(joined)
    model = keras.Model(images, out)
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def build_multi_output(keras):
    L = keras.layers
    posts = keras.Input((MAXLEN,), dtype="int32", name="posts")
    x = L.Embedding(VOCAB, EMB_DIM, name="embedding")(posts)
    x = L.Conv1D(8, 3, activation="relu", name="conv1")(x)
    x = L.MaxPooling1D(2, name="pool1")(x)
    x = L.Conv1D(8, 3, activation="relu", name="conv2")(x)
    x = L.GlobalMaxPooling1D(name="gmp")(x)
    x = L.Dense(16, activation="relu", name="hidden")(x)
    age = L.Dense(1, name="age")(x)
    income = L.Dense(INCOME_GROUPS, activation="softmax", name="income")(x)
    gender = L.Dense(1, activation="sigmoid", name="gender")(x)
    model = keras.Model(posts, [age, income, gender])
    model.compile(optimizer=keras.optimizers.RMSprop(),
                  loss=["mse", "categorical_crossentropy", "binary_crossentropy"],
                  loss_weights=LOSS_WEIGHTS,
                  metrics={"income": "accuracy", "gender": "accuracy"})
    return model


BUILDERS = {"conv2d_stack": build_conv2d_stack, "multi_output": build_multi_output}


# ---------------------------------------------------------------------------------------------
# Data


def make_data(case):
    rs = np.random.RandomState(SEED)
    if case == "conv2d_stack":
        images = rs.normal(size=(N, 10, 10, 3)).astype(np.float32)
        labels = np.eye(4, dtype=np.float32)[rs.randint(0, 4, N)]
        return {"images": images, "labels": labels}, ["images"], ["labels"]
    posts = rs.randint(0, VOCAB, size=(N, MAXLEN)).astype(np.int32)
    age = rs.normal(size=(N, 1)).astype(np.float32)
    income = np.eye(INCOME_GROUPS, dtype=np.float32)[rs.randint(0, INCOME_GROUPS, N)]
    gender = rs.randint(0, 2, size=(N, 1)).astype(np.float32)
    data = {"posts": posts, "age": age, "income": income, "gender": gender}
    return data, ["posts"], ["age", "income", "gender"]


# ---------------------------------------------------------------------------------------------
# An independent numpy forward pass of conv2d_stack (float64), from the padding rules above.


def same_pads(n, k, s, d):
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return out, total // 2, total - total // 2


def np_conv2d(x, kernel, bias, stride=1, padding="valid", dilation=1):
    b, h, w, cin = x.shape
    kh, kw, _, cout = kernel.shape
    if padding == "same":
        oh, th, bh = same_pads(h, kh, stride, dilation)
        ow, tw, bw = same_pads(w, kw, stride, dilation)
        x = np.pad(x, ((0, 0), (th, bh), (tw, bw), (0, 0)))
    else:
        oh = (h - (kh - 1) * dilation - 1) // stride + 1
        ow = (w - (kw - 1) * dilation - 1) // stride + 1
    out = np.zeros((b, oh, ow, cout))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i * dilation: i * dilation + (oh - 1) * stride + 1: stride,
                      j * dilation: j * dilation + (ow - 1) * stride + 1: stride, :]
            out += patch @ kernel[i, j]
    return out + bias


def np_pool2d(x, pool, stride, padding, kind):
    b, h, w, c = x.shape
    if padding == "same":
        oh, th, _ = same_pads(h, pool, stride, 1)
        ow, tw, _ = same_pads(w, pool, stride, 1)
    else:
        oh, ow, th, tw = (h - pool) // stride + 1, (w - pool) // stride + 1, 0, 0
    out = np.zeros((b, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride - th, j * stride - tw
            win = x[:, max(r0, 0): min(r0 + pool, h), max(c0, 0): min(c0 + pool, w), :]
            out[:, i, j] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return out


def np_forward_conv2d_stack(w, x):
    w = [a.astype(np.float64) for a in w]
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    x = x.astype(np.float64)
    c1 = relu(np_conv2d(x, w[0], w[1], padding="same"))
    c2 = np_conv2d(c1, w[2], w[3], padding="same")
    a1 = np_conv2d(c2, w[4], w[5], stride=2, padding="same")
    a2 = np_pool2d(a1, 2, 2, "same", "max")
    a3 = np_pool2d(a2, 2, 1, "same", "avg")
    ga = a3.mean(axis=(1, 2))
    b1 = relu(np_conv2d(c1, w[6], w[7], padding="same", dilation=2))
    b2 = np_conv2d(b1, w[8], w[9], stride=2, padding="valid")
    gb = b2.max(axis=(1, 2))
    z = np.concatenate([ga, gb], axis=-1) @ w[10] + w[11]
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True), {"a1": a1, "a2": a2}


def positive_ties(h, axis):
    """How many pooling windows (along `axis`) hold a positive maximum more than once."""
    m = h.max(axis=axis, keepdims=True)
    count = (h == m).sum(axis=axis)
    return int(((count > 1) & (np.squeeze(m, axis) > 0)).sum())


def np_head_losses(preds, targets):
    """Unweighted mean losses of the three heads, float64, from probabilities."""
    age_p, inc_p, gen_p = [p.astype(np.float64) for p in preds]
    age_t, inc_t, gen_t = [t.astype(np.float64) for t in targets]
    mse = float(np.mean((age_p - age_t) ** 2))
    cce = float(np.mean(-np.sum(inc_t * np.log(inc_p), axis=-1)))
    bce = float(np.mean(-(gen_t * np.log(gen_p) + (1 - gen_t) * np.log(1 - gen_p))))
    return {"age_loss": mse, "income_loss": cce, "gender_loss": bce}


# ---------------------------------------------------------------------------------------------


def run_case(case, args, keras, tf, save_file, logit_paths):
    del logit_paths[:]
    data, x_names, y_names = make_data(case)
    keras.utils.set_random_seed(SEED)
    model = BUILDERS[case](keras)
    init = [np.ascontiguousarray(w, dtype=np.float32) for w in model.get_weights()]
    names = [w.path for w in model.weights]
    shapes = [list(w.shape) for w in init]
    assert len(model.trainable_weights) == len(init)

    def batch(i):
        sl = slice(BATCH * i, BATCH * (i + 1))
        xs = [data[k][sl] for k in x_names]
        ys = [data[k][sl] for k in y_names]
        return (xs[0] if len(xs) == 1 else xs), (ys[0] if len(ys) == 1 else ys)

    checks = {}
    if case == "conv2d_stack":
        x0, _ = batch(0)
        p_keras = model(x0, training=False).numpy().astype(np.float64)
        p_np, inner = np_forward_conv2d_stack(init, x0)
        a1 = keras.Model(model.inputs[0], model.get_layer("a1").output)(x0).numpy()
        a2 = keras.Model(model.inputs[0], model.get_layer("a2").output)(x0).numpy()
        # What zero padding (instead of never picking a padded position) would have given.
        a1_zero = np.pad(inner["a1"], ((0, 0), (0, 1), (0, 1), (0, 0)))
        a2_zero = np_pool2d(a1_zero, 2, 2, "valid", "max")
        checks["numpy_forward_batch0_initial"] = {
            "max_abs_pred_diff": float(np.abs(p_keras - p_np).max()),
            "max_abs_a1_diff": float(np.abs(a1 - inner["a1"]).max()),
            "max_abs_a2_diff": float(np.abs(a2 - inner["a2"]).max()),
            "a1_negative_fraction": float((a1 < 0).mean()),
            "a2_positions_where_zero_padding_would_differ": int((np.abs(a2_zero - inner["a2"]) > 0).sum()),
        }

    logs_per_step, manual, pos_ties = [], [], []
    if case == "multi_output":
        conv_out = keras.Model(model.inputs[0], [model.get_layer("conv1").output,
                                                 model.get_layer("conv2").output])
    for i in range(STEPS):
        xb, yb = batch(i)
        if case == "multi_output":
            preds = [p.numpy() for p in model(xb, training=True)]
            manual.append(np_head_losses(preds, yb))
            h1, h2 = [h.numpy() for h in conv_out(xb)]
            pos_ties.append(positive_ties(h1[:, :18].reshape(BATCH, 9, 2, -1), 2)
                            + positive_ties(h2, 1))
        logs = model.train_on_batch(xb, yb, return_dict=True)
        logs_per_step.append({k: float(v) for k, v in logs.items()})
    paths = sorted(set(logit_paths))
    log_names = list(logs_per_step[0].keys())

    if case == "multi_output":
        worst_head, worst_total = 0.0, 0.0
        for lg, m in zip(logs_per_step, manual):
            for k, v in m.items():
                worst_head = max(worst_head, abs(lg[k] - v) / abs(v))
            total = sum(wt * m[k] for wt, k in zip(LOSS_WEIGHTS, ("age_loss", "income_loss", "gender_loss")))
            worst_total = max(worst_total, abs(lg["loss"] - total) / abs(total))
        checks["numpy_head_losses_max_rel_diff"] = worst_head
        checks["loss_is_weighted_sum_of_heads_max_rel_diff"] = worst_total
        checks["numpy_head_losses"] = manual
        checks["positive_tied_maxima_in_max_pools_per_step"] = pos_ties

    x0, y0 = batch(0)
    ev = model.test_on_batch(x0, y0, return_dict=True)
    after = model.get_weights()
    abs_sums = [float(np.abs(w.astype(np.float64)).sum()) for w in after]

    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"functional_{case}_keras")
    tensors = {f"weight.{k:02d}": w for k, w in enumerate(init)}
    for k in x_names + y_names:
        tensors[k] = np.ascontiguousarray(data[k])
    save_file(tensors, stem + ".safetensors",
              metadata={"generator": "scripts/keras_reference/functional_steps.py"})
    os.chmod(stem + ".safetensors", 0o644)  # safetensors creates the file 0600

    rec = {
        "case": case,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "backend": keras.backend.backend(),
        "jit_compile": bool(model.jit_compile),
        "gpus_visible": [d.name for d in tf.config.list_logical_devices("GPU")],
        "threads": args.threads,
        "seed": SEED,
        "layers": [{"name": l.name, "class": type(l).__name__,
                    "output_shape": [None if d is None else int(d) for d in l.output.shape]}
                   for l in model.layers],
        "count_params": int(model.count_params()),
        "batch_size": BATCH,
        "steps": STEPS,
        "inputs": x_names,
        "targets": y_names,
        "data_shapes": {k: list(data[k].shape) for k in x_names + y_names},
        "optimizer": {k: v for k, v in model.optimizer.get_config().items()
                      if isinstance(v, (bool, int, float, str)) or v is None},
        "loss_weights": LOSS_WEIGHTS if case == "multi_output" else None,
        "crossentropy_paths_seen": paths,
        "weight_names": names,
        "weight_shapes": shapes,
        "log_names": log_names,
        "logs": {k: [lg[k] for lg in logs_per_step] for k in log_names},
        "losses": [lg["loss"] for lg in logs_per_step],
        "test_logs_batch0_after": {k: float(v) for k, v in ev.items()},
        "inference_loss_batch0": float(ev["loss"]),
        "weight_abs_sums_after": abs_sums,
        "checks": checks,
    }
    with open(stem + ".json", "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")
    print(f"== {case}: {stem}.safetensors ({os.path.getsize(stem + '.safetensors')} bytes), "
          f"{stem}.json ({os.path.getsize(stem + '.json')} bytes)")
    print(f"   params {rec['count_params']}  log names {log_names}  paths {paths}")
    for k in log_names:
        print(f"   {k:<16} {rec['logs'][k][0]:.7f} -> {rec['logs'][k][-1]:.7f}")
    print(f"   after, batch 0: {rec['test_logs_batch0_after']}")
    print("   checks:", json.dumps({k: v for k, v in checks.items() if k != "numpy_head_losses"}))
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
    from keras.src.backend.tensorflow import nn as tf_nn
    from safetensors.numpy import save_file

    # Record (without changing anything) which cross-entropy paths Keras takes.
    logit_paths = []
    orig_get_logits = tf_nn._get_logits

    def recording_get_logits(output, from_logits, op_type, fn_name):
        out, fl = orig_get_logits(output, from_logits, op_type, fn_name)
        logit_paths.append(f"{fn_name}: {'logits' if fl else 'probabilities'}")
        return out, fl

    tf_nn._get_logits = recording_get_logits

    for case in cases:
        run_case(case, args, keras, tf, save_file, logit_paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
