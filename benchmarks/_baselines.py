"""The loaders this library is compared with (they import Keras, so only the paths that need them import this).

- `MixupImageDataGenerator`: the blog recipe (Chengwei Zhang, "How to do mixup
  training from image files in Keras", DLology, 2018; code at
  github.com/Tony607/keras_mixup_generator), re-typed here with the same
  behaviour: two `flow_from_directory` iterators over one `ImageDataGenerator`,
  each shuffling on its own, zipped; each batch is the next batch of both,
  mixed with one `lam ~ Beta(alpha, alpha)` per sample from the global
  `np.random` (so the result is float64: float32 images times float64 `lam`).
- `RecipeAsPyDataset`: that recipe behind a `PyDataset`, so Keras can run it in
  worker processes (each worker holds its own copy of both iterators).
- `NaiveOpenCVDataset`: what one writes first with OpenCV: `cv2.imread`,
  `cv2.cvtColor`, `cv2.resize`, the Albumentations chain, then float32 NumPy
  mixup with temporaries, global `np.random`, returned from worker processes.
"""

from __future__ import annotations

import math
import os

import cv2
import keras
import numpy as np
from _paths import INTERPOLATIONS, list_files


class MixupImageDataGenerator:
    """The blog's mixup generator.

    Two changes were needed to run it on Keras 3, and nothing else changed:

    1. `iterator.next()` became `next(iterator)`: Keras 3's legacy
       `DirectoryIterator` has `__next__` but no `.next()` method
       (AttributeError otherwise).
    2. `lam` has one entry per image of the batch actually returned instead
       of `batch_size` entries: the iterators return a short batch once per
       pass when the image count is not a multiple of `batch_size`, and the
       original's `(batch_size, 1, 1, 1)` weights then fail to broadcast
       (ValueError at the first short batch; with 2,000 images and batch 64,
       at step 32, the first step of the second epoch).
    """

    def __init__(self, generator, directory, batch_size, img_height, img_width, alpha=0.2, subset=None):
        flow = dict(
            target_size=(img_height, img_width),
            class_mode="categorical",
            batch_size=batch_size,
            shuffle=True,
            subset=subset,
        )
        self.generator1 = generator.flow_from_directory(directory, **flow)
        self.generator2 = generator.flow_from_directory(directory, **flow)
        self.batch_index = 0
        self.batch_size = batch_size
        self.alpha = alpha
        self.n = self.generator1.samples

    def reset_index(self):
        self.generator1._set_index_array()
        self.generator2._set_index_array()

    def on_epoch_end(self):
        self.reset_index()

    def get_steps_per_epoch(self):
        return self.n // self.batch_size

    def __next__(self):
        if self.batch_index == 0:
            self.reset_index()
        start = (self.batch_index * self.batch_size) % self.n
        self.batch_index = self.batch_index + 1 if self.n > start + self.batch_size else 0
        x1, y1 = next(self.generator1)  # Keras 3: was self.generator1.next()
        x2, y2 = next(self.generator2)
        lam = np.random.beta(self.alpha, self.alpha, len(x1))  # noqa: NPY002 (as published) Keras 3: was batch_size
        x_lam = lam.reshape(-1, 1, 1, 1)
        y_lam = lam.reshape(-1, 1)
        return x1 * x_lam + x2 * (1 - x_lam), y1 * y_lam + y2 * (1 - y_lam)

    def __iter__(self):
        while True:
            yield next(self)


def blog_image_data_generator(tf_module):
    """The recipe's `ImageDataGenerator`, with the closest settings to the Albumentations chain.

    Reached as the blog did, through `tf.keras.preprocessing.image`.
    """
    return tf_module.keras.preprocessing.image.ImageDataGenerator(
        rescale=1.0 / 255,
        horizontal_flip=True,
        rotation_range=10,
        brightness_range=(0.8, 1.2),
        fill_mode="constant",
    )


class RecipeAsPyDataset(keras.utils.PyDataset):
    """The blog recipe behind a `PyDataset` (index ignored: each call takes the next batch)."""

    def __init__(self, recipe: MixupImageDataGenerator, **kwargs):
        super().__init__(**kwargs)
        self.recipe = recipe

    def __len__(self) -> int:
        return self.recipe.get_steps_per_epoch()

    def __getitem__(self, index):
        return next(self.recipe)

    def on_epoch_end(self) -> None:
        self.recipe.on_epoch_end()


def list_image_folder(directory: str) -> tuple[list[str], np.ndarray, int]:
    """Paths, integer labels and class count of a class-folder tree."""
    paths = list_files(directory)
    classes = sorted({os.path.basename(os.path.dirname(p)) for p in paths})
    labels = np.asarray([classes.index(os.path.basename(os.path.dirname(p))) for p in paths])
    return paths, labels, len(classes)


class NaiveOpenCVDataset(keras.utils.PyDataset):
    """A straightforward OpenCV + Albumentations + NumPy mixup `PyDataset`."""

    def __init__(self, directory, batch_size, image_size, augment, alpha, interpolation="area", **kwargs):
        super().__init__(**kwargs)
        self.paths, self.labels, self.num_classes = list_image_folder(directory)
        self.batch_size = batch_size
        self.image_size = image_size
        self.augment = augment
        self.alpha = alpha
        self.interpolation = INTERPOLATIONS[interpolation]
        self.order = np.random.permutation(len(self.paths))  # noqa: NPY002 (naive on purpose)

    def __len__(self) -> int:
        return math.ceil(len(self.paths) / self.batch_size)

    def on_epoch_end(self) -> None:
        self.order = np.random.permutation(len(self.paths))  # noqa: NPY002

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        height, width = self.image_size
        images = []
        for k in rows:
            image = cv2.cvtColor(cv2.imread(self.paths[k]), cv2.COLOR_BGR2RGB)
            image = cv2.resize(image, (width, height), interpolation=self.interpolation)
            images.append(self.augment(image=image)["image"])
        x = np.stack(images).astype(np.float32) / 255.0
        y = np.eye(self.num_classes, dtype=np.float32)[self.labels[rows]]
        lam = np.random.beta(self.alpha, self.alpha, len(rows)).astype(np.float32)  # noqa: NPY002
        partner = np.random.permutation(len(rows))  # noqa: NPY002
        x = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[partner]
        y = lam[:, None] * y + (1 - lam[:, None]) * y[partner]
        return x, y
