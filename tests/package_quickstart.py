"""The README's quick start, run from an installed wheel by package_check.py, outside the repository.

    KERAS_BACKEND=jax python package_quickstart.py DATA

Fits a tiny model for one epoch on DATA with 2 worker processes and checks
what a user relies on: the installed copy is the one imported, the batches'
shapes, range and soft labels, and the epoch that fit advanced.
"""

import os
import sys

import albumentations as A
import keras
import numpy as np

import mixup_sequence
from mixup_sequence import ImageFolderSequence, MixupSequence


def check(ok, what):
    if not ok:
        raise SystemExit(f"quick start: {what}")


def main(data):
    installed = os.path.abspath(mixup_sequence.__file__)
    check(installed.startswith(os.path.abspath(sys.prefix) + os.sep), f"imported {installed}, not the installed copy")
    check(keras.backend.backend() == os.environ["KERAS_BACKEND"], f"Keras runs on {keras.backend.backend()}")
    train = MixupSequence(
        data,
        batch_size=32,
        image_size=(32, 32),
        mixup_alpha=0.2,
        cutmix_alpha=1.0,
        augment=A.Compose([A.HorizontalFlip()]),
        validation_split=0.2,
        subset="training",
        seed=7,
        workers=2,
        use_multiprocessing=True,
    )
    val = ImageFolderSequence(data, batch_size=32, image_size=(32, 32), validation_split=0.2, subset="validation")
    check((train.samples, val.samples, train.num_classes) == (320, 80, 10), f"split {train.samples}/{val.samples}")
    x, y = train[0]
    check(x.shape == (32, 32, 32, 3) and x.dtype == np.float32, f"x is {x.dtype} {x.shape}")
    check(0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5, f"x spans [{x.min()}, {x.max()}]")
    check(y.shape == (32, 10) and y.dtype == np.float32, f"y is {y.dtype} {y.shape}")
    check(np.allclose(y.sum(axis=1), 1.0, atol=1e-6), "soft labels do not sum to 1")
    check(((y > 0).sum(axis=1) == 2).any(), "no sample mixes two classes")
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(train.num_classes, activation="softmax"),
        ]
    )
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=1, shuffle=False, verbose=0)
    check(train.epoch == 1, f"train.epoch is {train.epoch} after one epoch")
    check(train.worker_mode == "processes", f"worker mode {train.worker_mode}")
    logs = {k: v[-1] for k, v in history.history.items()}
    check(all(np.isfinite(v) for v in logs.values()) and "val_loss" in logs, f"logs {logs}")
    train.close()
    print(f"quick start: mixup-sequence {mixup_sequence.__version__} on {keras.backend.backend()}, one epoch: {logs}")


if __name__ == "__main__":
    main(*sys.argv[1:])
