"""Builds batch `i` of epoch `e`: a pure function of `(seed, e, i)` and the files.

The loader ties the stages together, without Keras:

1. plan (`plan.py`): which samples, which partners, which mixing parameters;
2. read (`reader.py`): decode (or replace) and augment each sample;
3. mix (`mixing.py`, with one module a mixer in `mixers/`): write each row
   from its image and its partner's, and make the soft labels; then, with
   `mean`/`std`, normalize the float32 batch (`normalize.py`).

So the whole batch path is testable (and usable) on its own. The Keras
`PyDataset` in `sequence.py` only adds epoch bookkeeping and workers. The
keys of every random stream are listed in `plan.py` and `reader.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from mixup_sequence import _rng, mixing
from mixup_sequence.augment import Augmenter
from mixup_sequence.cache import ImageCache
from mixup_sequence.normalize import Normalizer
from mixup_sequence.options import LoaderOptions
from mixup_sequence.plan import BatchPlan, Sampler
from mixup_sequence.reader import Reader, Report
from mixup_sequence.source import Source


class BatchLoader:
    """Produces `(x, y)` batches from a `Source` (class folders, paths, a data frame).

    Args:
        index: The source: files, labels and class names.
        options: A `LoaderOptions`.
        seed: An integer seed.
        augment: Optional per-image transform, or an `augment.Augmenter`.
        mix: A `MixConfig`, or None for plain one-hot batches.
        cache: An opened `cache.ImageCache` (see `reader.Reader`), or None.

    Attributes:
        sampler: The plan stage (`plan.Sampler`).
        reader: The read stage (`reader.Reader`).
    """

    def __init__(
        self,
        index: Source,
        options: LoaderOptions,
        seed: int,
        augment: Callable[..., Any] | None = None,
        mix: mixing.MixConfig | None = None,
        cache: ImageCache | None = None,
    ):
        self.index = index
        self.options = options
        self.seed = seed
        augmenter = augment if augment is None or isinstance(augment, Augmenter) else Augmenter(augment)
        self.sampler = Sampler(index.samples, options, seed, mix, labels=index.labels)
        self.reader = Reader(index, options, seed, augmenter, cache)
        self.value_range = cast("tuple[float, float]", options.value_range)  # LoaderOptions resolves None
        # LoaderOptions resolves `mean` and `std` together: both None, or one value per channel each.
        self.normalizer: Normalizer | None = None
        if options.mean is not None and options.std is not None:
            self.normalizer = Normalizer(options.mean, options.std)

    def with_mixing(self, mix: mixing.MixConfig | None, pairing: str = LoaderOptions.pairing) -> BatchLoader:
        """Returns a loader of the same files, options and seed that mixes with `mix`."""
        options = dataclasses.replace(self.options, pairing=pairing)
        return BatchLoader(self.index, options, self.seed, augment=self.augmenter, mix=mix, cache=self.cache)

    def with_cache(self, cache: ImageCache | None) -> BatchLoader:
        """Returns a loader of the same files, options, seed and mixing that reads through `cache`."""
        return BatchLoader(
            self.index, self.options, self.seed, augment=self.augmenter, mix=self.sampler.config, cache=cache
        )

    @property
    def mix(self) -> mixing.MixConfig | None:
        """The mixing settings, or None when batches are not mixed."""
        return self.sampler.mix

    @property
    def augmenter(self) -> Augmenter | None:
        return self.reader.augmenter

    @property
    def cache(self) -> ImageCache | None:
        return self.reader.cache

    def __len__(self) -> int:
        return len(self.sampler)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """This shard's sample order in `epoch` (see `Sampler.epoch_order`)."""
        return self.sampler.epoch_order(epoch)

    def batch_samples(self, epoch: int, i: int) -> np.ndarray:
        """Returns the sample indices (positions in the index) of batch `i`."""
        return self.sampler.batch_samples(epoch, i)

    def batch_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Shapes of a full batch's `x` and `y`."""
        return (self.options.batch_size, *self.reader.image_shape), (self.options.batch_size, self.index.num_classes)

    def load_batch(
        self,
        epoch: int,
        i: int,
        out: tuple[np.ndarray, np.ndarray] | None = None,
        report: Report | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Returns batch `i` of `epoch` as `(x, y)`: images of `options.dtype`, float32 soft labels.

        With `options.mean`/`std`, `x` is normalized after mixing (`normalize.py`).

        Args:
            epoch: The epoch.
            i: The batch index within the epoch.
            out: Optional full-batch `(x, y)` arrays (see `batch_shapes`;
                `x` of `options.dtype`, `y` float32) to write into; the result is then their first
                rows (the last batch may be short).
            report: With `on_error="skip"`, receives `(path, reason)` for each
                file that was replaced.
        """
        plan = self.sampler.plan(epoch, i)
        n = len(plan.samples)
        x = out[0][:n] if out is not None else np.empty((n, *self.reader.image_shape), self.options.dtype)
        labels = self.index.labels[plan.samples]
        if plan.partners is None:
            partner_labels = labels
            self._load_within(plan, x, report)
        else:
            partner_labels = self.index.labels[plan.partners]
            self._load_with_partners(plan, x, report)
        if self.normalizer is not None:
            self.normalizer(x)
        y = mixing.mix_labels(labels, partner_labels, plan.params, self.index.num_classes, plan.label_smoothing)
        if out is not None:
            out[1][:n] = y
            y = out[1][:n]
        return x, y

    def _mix_row(self, x: np.ndarray, row: int, image: np.ndarray, other: np.ndarray, p: mixing.MixParams) -> None:
        mask = None if p.masks is None else p.masks[row]
        mixing.mix_row(x[row], image, other, p.lam[row], p.method[row], p.boxes[row], self.value_range, mask)

    def _load_with_partners(self, plan: BatchPlan, x: np.ndarray, report: Report | None) -> None:
        """Loads a batch whose partners are decoded separately (`pairing="dataset"`)."""
        read, e, i = self.reader.read, plan.epoch, plan.index
        partners = cast("np.ndarray", plan.partners)
        states = self.reader.augment_states(plan.samples, e, _rng.AUGMENT)
        partner_states = self.reader.augment_states(partners, e, _rng.PARTNER_AUGMENT)
        for row, (k, p) in enumerate(zip(plan.samples, partners)):
            image = read(k, e, i, _rng.AUGMENT, report, states[row])
            other = read(p, e, i, _rng.PARTNER_AUGMENT, report, partner_states[row])
            self._mix_row(x, row, image, other, plan.params)

    def _load_within(self, plan: BatchPlan, x: np.ndarray, report: Report | None) -> None:
        """Loads and mixes a batch whose partners are its own rows, following each partner cycle.

        A row is mixed as soon as its partner (the next image of its cycle of
        the permutation `params.partner`) is decoded, so at most three decoded
        images are alive at once, and no batch-sized uint8 buffer is kept per
        thread (in threads mode, each epoch's new threads would leave one in
        the allocator). The order of work changes no value: each sample's
        draws are keyed by the sample, not by when it is loaded.
        """
        read, e, i, samples, params = self.reader.read, plan.epoch, plan.index, plan.samples, plan.params
        partner = params.partner
        states = self.reader.augment_states(samples, e, _rng.AUGMENT)
        done = np.zeros(len(samples), dtype=bool)
        for start in range(len(samples)):
            if done[start]:
                continue
            first = previous = read(samples[start], e, i, _rng.AUGMENT, report, states[start])
            row = start
            done[row] = True
            while not done[partner[row]]:
                nxt = int(partner[row])
                current = read(samples[nxt], e, i, _rng.AUGMENT, report, states[nxt])
                self._mix_row(x, row, previous, current, params)
                done[nxt] = True
                row, previous = nxt, current
            self._mix_row(x, row, previous, first, params)  # the cycle closes on its first row
