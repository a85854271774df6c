"""Parameter counts of the functional-API guide's graph models, as Keras 3 (TensorFlow) counts them.

Run with the peers' venv (bash /work/shared/peers/setup.sh creates it):

    ~/.cache/wgtrain-peers-venv/bin/python scripts/keras_reference/param_counts.py

Prints a JSON object {model name: model.count_params()}. The models:

  inception-block  Input((32, 32, 64)) -> four branches, every layer padding "same":
                   a: Conv2D(64, 1, strides=2, relu)
                   b: Conv2D(64, 1, relu) -> Conv2D(64, 3, strides=2, relu)
                   c: AveragePooling2D(3, strides=2) -> Conv2D(64, 3, relu)
                   d: Conv2D(64, 1, relu) -> Conv2D(64, 3, relu) -> Conv2D(64, 3, strides=2, relu)
                   concatenate(axis=-1) -> GlobalAveragePooling2D -> Dense(10, softmax)
  residual-block   Input((32, 32, 64)) -> 2 x Conv2D(128, 3, relu, same) -> MaxPooling2D(2, 2)
                   + Conv2D(128, 1, strides=2, same)(input) (linear residual), then
                   3 x Conv2D(128, 3, relu, same) + identity, GlobalAveragePooling2D ->
                   Dense(10, softmax)
  siamese-lstm     one LSTM(32) applied to two Input((None, 128)); concatenate -> Dense(1, sigmoid)
  shared-vision    one base model Input((64, 64, 3)) -> Conv2D(32, 3, relu) -> MaxPooling2D(2) ->
                   Conv2D(64, 3, relu) -> GlobalMaxPooling2D applied to two Input((64, 64, 3));
                   concatenate -> Dense(1, sigmoid)
"""
import json
import os

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def inception_block(keras):
    L = keras.layers
    x = keras.Input((32, 32, 64))
    a = L.Conv2D(64, 1, strides=2, activation="relu", padding="same")(x)
    b = L.Conv2D(64, 1, activation="relu", padding="same")(x)
    b = L.Conv2D(64, 3, strides=2, activation="relu", padding="same")(b)
    c = L.AveragePooling2D(3, strides=2, padding="same")(x)
    c = L.Conv2D(64, 3, activation="relu", padding="same")(c)
    d = L.Conv2D(64, 1, activation="relu", padding="same")(x)
    d = L.Conv2D(64, 3, activation="relu", padding="same")(d)
    d = L.Conv2D(64, 3, strides=2, activation="relu", padding="same")(d)
    y = L.concatenate([a, b, c, d], axis=-1)
    y = L.GlobalAveragePooling2D()(y)
    out = L.Dense(10, activation="softmax")(y)
    return keras.Model(x, out)


def residual_block(keras):
    L = keras.layers
    inp = keras.Input((32, 32, 64))
    x = L.Conv2D(128, 3, activation="relu", padding="same")(inp)
    x = L.Conv2D(128, 3, activation="relu", padding="same")(x)
    x = L.MaxPooling2D(2, strides=2)(x)
    r = L.Conv2D(128, 1, strides=2, padding="same")(inp)
    x = L.add([x, r])
    y = L.Conv2D(128, 3, activation="relu", padding="same")(x)
    y = L.Conv2D(128, 3, activation="relu", padding="same")(y)
    y = L.Conv2D(128, 3, activation="relu", padding="same")(y)
    x = L.add([y, x])
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(10, activation="softmax")(x)
    return keras.Model(inp, out)


def siamese_lstm(keras):
    L = keras.layers
    shared = L.LSTM(32)
    a = keras.Input((None, 128))
    b = keras.Input((None, 128))
    merged = L.concatenate([shared(a), shared(b)], axis=-1)
    out = L.Dense(1, activation="sigmoid")(merged)
    return keras.Model([a, b], out)


def shared_vision(keras):
    L = keras.layers
    img = keras.Input((64, 64, 3))
    f = L.Conv2D(32, 3, activation="relu")(img)
    f = L.MaxPooling2D(2)(f)
    f = L.Conv2D(64, 3, activation="relu")(f)
    f = L.GlobalMaxPooling2D()(f)
    base = keras.Model(img, f)
    a = keras.Input((64, 64, 3))
    b = keras.Input((64, 64, 3))
    merged = L.concatenate([base(a), base(b)], axis=-1)
    out = L.Dense(1, activation="sigmoid")(merged)
    return keras.Model([a, b], out)


MODELS = {
    "inception-block": inception_block,
    "residual-block": residual_block,
    "siamese-lstm": siamese_lstm,
    "shared-vision": shared_vision,
}


def main():
    import keras

    counts = {name: int(build(keras).count_params()) for name, build in MODELS.items()}
    print(json.dumps(counts, indent=1))


if __name__ == "__main__":
    main()
