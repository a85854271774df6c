"""Step-parity reference fixture for workload 1 ("imdb-dgcnn"), produced by Keras 3 (TensorFlow).

Run with the peers' venv (bash /work/shared/peers/setup.sh creates it):

    ~/.cache/wgtrain-peers-venv/bin/python scripts/keras_reference/imdb_dgcnn_steps.py

Model: the peers' imdb_dgcnn.py build_keras() (Embedding -> BatchNormalization ->
SpatialDropout1D -> 5 gated residual blocks with the explicit (x > 0) mask -> concat(avg, max)
-> Dense(100, relu) -> Dropout -> Dense(1, sigmoid); Nadam(1e-3)), with the vocabulary shrunk to
1000 rows, sequences of 60 steps and every dropout rate 0, so the fixture stays small and the
steps are deterministic.

Data: imdb.npz train rows 0.. (positive) and 12500.. (negative) alternately, Keras load_data's id
transform without its shuffle ([1] + [w + 3], ids >= 1000 -> 2), post-padded and post-truncated
to 60 (as the seed pads), so some rows are padded and the mask matters.

Writes tests/fixtures/imdb_dgcnn_keras.safetensors (initial weights "weight.NN" in
model.get_weights() order, "x" int32 (160, 60), "y" float32 (160,)) and
tests/fixtures/imdb_dgcnn_keras.json: per-step loss and accuracy of 10 train_on_batch calls on
consecutive batches of 16 (metrics reset before each, so each is the batch's own forward pass),
then the inference-mode loss of batch 0 (moving statistics) and the moving statistics.
"""
import importlib.util
import json
import os

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PEERS = os.path.abspath(os.path.join(REPO, "..", "shared", "peers"))
NPZ = os.environ.get("IMDB_NPZ", os.path.join(REPO, "..", "shared", "datasets", "imdb", "imdb.npz"))

SEED = 1234
VOCAB = 1000
MAXLEN = 60
BATCH = 16
STEPS = 10
N = BATCH * STEPS


def peers_dgcnn():
    spec = importlib.util.spec_from_file_location("imdb_dgcnn", os.path.join(PEERS, "imdb_dgcnn.py"))
    import sys
    sys.path.insert(0, PEERS)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.VOCAB, mod.MAXLEN = VOCAB, MAXLEN
    mod.EMB_SPATIAL_DROPOUT = mod.GATE_DROPOUT = mod.DENSE_DROPOUT = 0.0
    return mod


def load_data(keras):
    with np.load(NPZ, allow_pickle=True) as f:
        x_train, y_train = f["x_train"], f["y_train"]
    n_pos = int((y_train == 1).sum())
    rows = np.empty(N, np.int64)
    rows[0::2] = np.arange(N // 2)
    rows[1::2] = n_pos + np.arange(N // 2)
    seqs = []
    for r in rows:
        s = [1] + [int(w) + 3 for w in x_train[r]]
        seqs.append([w if w < VOCAB else 2 for w in s])
    x = keras.utils.pad_sequences(seqs, maxlen=MAXLEN, padding="post", truncating="post").astype(np.int32)
    return x, np.asarray(y_train[rows], np.float32), rows


def main():
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    from safetensors.numpy import save_file

    dgcnn = peers_dgcnn()
    x, y, rows = load_data(keras)
    keras.utils.set_random_seed(SEED)
    model = dgcnn.build_keras()
    init = [np.ascontiguousarray(w, dtype=np.float32) for w in model.get_weights()]
    names = [w.path for w in model.weights]
    losses, accs = [], []
    for i in range(STEPS):
        xb, yb = x[BATCH * i: BATCH * (i + 1)], y[BATCH * i: BATCH * (i + 1)]
        model.reset_metrics()
        logs = model.train_on_batch(xb, yb, return_dict=True)
        losses.append(float(logs["loss"]))
        accs.append(float(logs["accuracy"]))
    model.reset_metrics()
    inference = model.test_on_batch(x[:BATCH], y[:BATCH], return_dict=True)
    bn = next(l for l in model.layers if l.__class__.__name__ == "BatchNormalization")
    out = os.path.join(REPO, "tests", "fixtures", "imdb_dgcnn_keras")
    tensors = {f"weight.{i:02d}": w for i, w in enumerate(init)}
    tensors["x"] = x
    tensors["y"] = y
    save_file(tensors, out + ".safetensors")
    meta = {
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "weight_names": names,
        "weight_shapes": [list(w.shape) for w in init],
        "vocab": VOCAB,
        "maxlen": MAXLEN,
        "batch_size": BATCH,
        "steps": STEPS,
        "source_rows": rows.tolist(),
        "losses": losses,
        "accuracies": accs,
        "inference_loss_batch0": float(inference["loss"]),
        "moving_mean_sum": float(np.sum(bn.moving_mean.numpy())),
        "moving_variance_sum": float(np.sum(bn.moving_variance.numpy())),
    }
    with open(out + ".json", "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({k: meta[k] for k in ["losses", "inference_loss_batch0", "moving_mean_sum",
                                             "moving_variance_sum"]}, indent=1))


if __name__ == "__main__":
    main()
