"""The main job: fit a small CNN with mixup on an image folder, with worker processes.

Prints the validation accuracy and saves a PNG grid of one mixed batch,
each image captioned with its soft label.

    python examples/train.py                      # data_samples/digits
    python examples/train.py --data my/folders --image-size 128 --epochs 20
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network call on import
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import albumentations as A  # noqa: E402
import keras  # noqa: E402

from mixup_sequence import ImageFolderSequence, MixupSequence  # noqa: E402
from mixup_sequence.preview import save_batch_grid  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, os.pardir, "data_samples", "digits"))


def build_model(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(num_classes, activation="softmax"),
        ]
    )


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder with one sub-folder per class")
    parser.add_argument("--image-size", type=int, default=32, help="square side in pixels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--mixup-alpha", type=float, default=0.2)
    parser.add_argument("--cutmix-alpha", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (0: load in the main thread)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="out/mixed_batch.png", help="where to save the grid of a mixed batch")
    args = parser.parse_args(argv)

    size = (args.image_size, args.image_size)
    augment = A.Compose(
        [
            A.Affine(rotate=(-10, 10), translate_percent=(-0.08, 0.08), scale=(0.9, 1.1), p=0.8),
            A.RandomBrightnessContrast(p=0.5),
        ]
    )
    workers = dict(workers=args.workers, use_multiprocessing=args.workers > 0)
    train = MixupSequence(
        args.data,
        batch_size=args.batch_size,
        image_size=size,
        mixup_alpha=args.mixup_alpha,
        cutmix_alpha=args.cutmix_alpha,
        augment=augment,
        validation_split=0.2,
        subset="training",
        seed=args.seed,
        **workers,
    )
    val = ImageFolderSequence(
        args.data, batch_size=64, image_size=size, validation_split=0.2, subset="validation", shuffle=False
    )
    print(f"train: {train}\nval:   {val}")

    x, y = train[0]
    print("saved a mixed batch to", save_batch_grid(args.out, x[:16], y[:16], train.class_names, columns=8))

    keras.utils.set_random_seed(args.seed)
    model = build_model((*size, x.shape[-1]), train.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    # shuffle=False: the sequence reshuffles itself, seeded; Keras' own batch shuffle is unseeded.
    history = model.fit(train, validation_data=val, epochs=args.epochs, shuffle=False, verbose=2)
    accuracy = float(history.history["val_accuracy"][-1])
    print(f"validation accuracy after {args.epochs} epochs: {accuracy:.3f} ({time.perf_counter() - start:.0f} s)")
    return accuracy


if __name__ == "__main__":
    main()
