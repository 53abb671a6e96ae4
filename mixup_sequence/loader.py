"""Builds batch `i` of epoch `e`: a pure function of `(seed, e, i)` and the files.

This module ties index, decode, augment and mixing together without Keras,
so the whole batch path is testable (and usable) on its own. The Keras
`PyDataset` in `sequence.py` only adds epoch bookkeeping and workers.

Keys of the random streams (see `_rng`):
- the sample order of epoch `e`: `(seed, ORDER, e)`;
- the augmentation of sample `k` (its position in the index) in epoch `e`:
  `(seed, AUGMENT, e, k)`, whatever batch or row it lands in;
- the mixing parameters of batch `i` in epoch `e`: `(seed, MIX, e, i)` (with
  shards, `i * num_shards + shard_index` in place of `i`);
- with `on_error="skip"`, the replacements tried for a bad sample `k`:
  `(seed, REPLACE, e, k)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np

from mixup_sequence import _rng, mixing
from mixup_sequence._threads import PerThread
from mixup_sequence.augment import Augmenter
from mixup_sequence.cache import ImageCache
from mixup_sequence.decode import COLOR_MODES, load_image
from mixup_sequence.errors import ImageDecodeError
from mixup_sequence.index import FolderIndex
from mixup_sequence.options import LoaderOptions

# With on_error="skip": how many other images of the class to try before giving up.
MAX_REPLACEMENT_TRIES = 32


class BatchLoader(PerThread):
    """Produces `(x, y)` batches from a `FolderIndex`.

    Args:
        index: The files and labels.
        options: A `LoaderOptions`.
        seed: An integer seed.
        augment: Optional per-image transform, or an `augment.Augmenter`.
        mix: A `MixConfig`, or None for plain one-hot batches.
        cache: An opened `cache.ImageCache` for `options`' image size, colour
            mode and interpolation, or None to decode every time.
    """

    def __init__(
        self,
        index: FolderIndex,
        options: LoaderOptions,
        seed: int,
        augment: Callable[..., Any] | None = None,
        mix: mixing.MixConfig | None = None,
        cache: ImageCache | None = None,
    ):
        super().__init__()
        self.index = index
        self.options = options
        pixels = (options.image_size, options.color_mode, options.interpolation)
        if cache is not None and (cache.image_size, cache.color_mode, cache.interpolation) != pixels:
            raise ValueError(
                f"`cache` must be made for the loader's (image_size, color_mode, interpolation) {pixels}. "
                f"Received: cache={cache!r}"
            )
        self.cache = cache
        self.seed = seed
        self.augmenter = augment if augment is None or isinstance(augment, Augmenter) else Augmenter(augment)
        self.mix = mix if mix is not None and mix.enabled else None
        self.label_smoothing = mix.label_smoothing if mix is not None else 0.0
        self.value_range = cast("tuple[float, float]", options.value_range)  # LoaderOptions resolves None
        # Each shard gets an equal part of every epoch's global order; the remainder is dropped.
        self.shard_samples = index.samples // options.num_shards
        if self.shard_samples == 0:
            raise ValueError(
                f"{index.samples} samples cannot be split into {options.num_shards} non-empty shards. "
                f"Received: num_shards={options.num_shards}"
            )
        n, b = self.shard_samples, options.batch_size
        self.num_batches = n // b if options.drop_remainder else -(-n // b)
        if self.num_batches == 0:
            raise ValueError(
                f"`drop_remainder=True` with `batch_size` larger than the {n} samples leaves no batch. "
                f"Received: batch_size={b}"
            )

    def __len__(self) -> int:
        return self.num_batches

    def _shard(self, order: np.ndarray) -> np.ndarray:
        """This shard's part of a global order: every `num_shards`-th sample, equal sizes."""
        opts = self.options
        return order[opts.shard_index :: opts.num_shards][: self.shard_samples]

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Returns this shard's sample order in `epoch` (index order if not shuffling).

        With `num_shards > 1`, shard `k` takes positions `k, k + num_shards, ...`
        of the epoch's global order, `samples // num_shards` of them, so the
        shards are disjoint, equal in size, and cover the whole order but for
        fewer than `num_shards` samples (a different few every epoch).
        """
        cached = getattr(self._local, "order", None)
        if cached is not None and cached[0] == epoch:
            return cached[1]
        n = self.index.samples
        if self.options.shuffle:
            order = _rng.generator(self.seed, _rng.ORDER, epoch).permutation(n)
        else:
            order = np.arange(n)
        order = self._shard(order)
        order.flags.writeable = False  # callers get views of it
        self._local.order = (epoch, order)
        return order

    def batch_samples(self, epoch: int, i: int) -> np.ndarray:
        """Returns the sample indices (positions in the index) of batch `i`."""
        if not 0 <= i < self.num_batches:
            raise IndexError(f"Batch index out of range: expected 0 <= index < {self.num_batches}. Received: {i}")
        b = self.options.batch_size
        return self.epoch_order(epoch)[i * b : (i + 1) * b]

    def _decode(self, k: int) -> np.ndarray:
        """Sample `k`'s uint8 image: from its cache record when valid, else decoded (and recorded)."""
        opts = self.options
        if self.cache is not None:
            return self.cache.load(self.index.relative_path(k), self.index.path(k), opts.max_pixels)
        return load_image(self.index.path(k), opts.image_size, opts.color_mode, opts.interpolation, opts.max_pixels)

    def _decode_or_replace(self, k: int, epoch: int, report: list[tuple[str, str]] | None) -> tuple[int, np.ndarray]:
        """Decodes sample `k`; with `on_error="skip"`, falls back to another of its class.

        The replacements are tried in an order drawn from `(seed, REPLACE, epoch, k)`,
        so every mode and run picks the same one. Returns the sample used and its image.
        """
        try:
            return k, self._decode(k)
        except ImageDecodeError as e:
            if self.options.on_error == "raise":
                raise
            failures = [e]
        label = self.index.labels[k]
        members = np.flatnonzero(self.index.labels == label)
        members = members[members != k]
        order = _rng.generator(self.seed, _rng.REPLACE, epoch, k).permutation(members)[:MAX_REPLACEMENT_TRIES]
        for r in order:
            try:
                image = self._decode(int(r))
            except ImageDecodeError as e:
                failures.append(e)
                continue
            break
        else:
            r = None
        if report is not None:
            report.extend((f.filename, f.reason) for f in failures)
        if r is None:
            raise ImageDecodeError(
                self.index.path(k),
                f"{failures[0].reason}; and no readable replacement among {len(order)} other images of class "
                f"{self.index.class_names[label]!r}",
            )
        return int(r), image

    def augment_states(self, samples: np.ndarray, epoch: int, stream: int) -> list[Any]:
        """Each sample's augmentation state (`Augmenter.prepare`), made in one go; Nones without `augment`."""
        if self.augmenter is None:
            return [None] * len(samples)
        return [self.augmenter.prepare(_rng.generator(self.seed, stream, epoch, int(k))) for k in samples]

    def load_sample(
        self,
        k: int,
        epoch: int,
        batch: int,
        stream: int,
        report: list[tuple[str, str]] | None = None,
        state: Any = None,
    ) -> np.ndarray:
        """Decodes (and augments) sample `k` for `batch` of `epoch`; returns uint8 HWC.

        With `on_error="skip"`, every file that failed is appended to `report`
        as `(path, reason)`. `state` is sample `k`'s from `augment_states`, if
        made already.
        """
        used = int(k)
        try:
            used, image = self._decode_or_replace(int(k), epoch, report)
            if self.augmenter is not None:
                if state is None or used != k:  # a replacement draws with its own key
                    state = self.augmenter.prepare(_rng.generator(self.seed, stream, epoch, used))
                image = self.augmenter.apply(image, state)
        except Exception as e:
            label = self.index.class_names[self.index.labels[used]]
            e.add_note(f"while loading {self.index.path(used)!r} (class {label!r}) for batch {batch} of epoch {epoch}")
            raise
        return image

    def batch_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Shapes of a full batch's `x` and `y`."""
        h, w = self.options.image_size
        b = self.options.batch_size
        return (b, h, w, COLOR_MODES[self.options.color_mode]), (b, self.index.num_classes)

    def load_batch(
        self,
        epoch: int,
        i: int,
        out: tuple[np.ndarray, np.ndarray] | None = None,
        report: list[tuple[str, str]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Returns batch `i` of `epoch` as `(x, y)`: images of `options.dtype`, float32 soft labels.

        Args:
            epoch: The epoch.
            i: The batch index within the epoch.
            out: Optional full-batch `(x, y)` arrays (see `batch_shapes`;
                `x` of `options.dtype`, `y` float32) to write into; the result is then their first
                rows (the last batch may be short).
            report: With `on_error="skip"`, receives `(path, reason)` for each
                file that was replaced.
        """
        samples = self.batch_samples(epoch, i)
        n = len(samples)
        params = self._mix_params(epoch, i, n)
        h, w = self.options.image_size
        shape = (n, h, w, COLOR_MODES[self.options.color_mode])
        x = out[0][:n] if out is not None else np.empty(shape, self.options.dtype)
        labels = self.index.labels[samples]
        if self.mix is None or self.options.pairing == "batch":
            partner_labels = labels
            self._load_within(samples, params, epoch, i, x, report)
        else:
            partner_samples = self.partner_samples(epoch, i)
            partner_labels = self.index.labels[partner_samples]
            partners = partner_samples[params.partner]  # row r mixes with partners[r]
            states = self.augment_states(samples, epoch, _rng.AUGMENT)
            partner_states = self.augment_states(partners, epoch, _rng.PARTNER_AUGMENT)
            for row, (k, p) in enumerate(zip(samples, partners)):
                image = self.load_sample(k, epoch, i, _rng.AUGMENT, report, states[row])
                other = self.load_sample(p, epoch, i, _rng.PARTNER_AUGMENT, report, partner_states[row])
                self._mix_row(x, row, image, other, params)
        y = mixing.mix_labels(labels, partner_labels, params, self.index.num_classes, self.label_smoothing)
        if out is not None:
            out[1][:n] = y
            y = out[1][:n]
        return x, y

    def _mix_params(self, epoch: int, i: int, n: int) -> mixing.MixParams:
        if self.mix is None:
            return mixing.MixParams.identity(n)
        rng = _rng.generator(self.seed, _rng.MIX, epoch, self._global_batch(i))
        return mixing.sample_mix_params(self.mix, rng, n, self.options.image_size, self.options.pairing == "batch")

    def _mix_row(self, x: np.ndarray, row: int, image: np.ndarray, other: np.ndarray, p: mixing.MixParams) -> None:
        mixing.mix_row(x[row], image, other, p.lam[row], p.method[row], p.boxes[row], self.value_range)

    def _load_within(
        self,
        samples: np.ndarray,
        params: mixing.MixParams,
        epoch: int,
        i: int,
        x: np.ndarray,
        report: list[tuple[str, str]] | None,
    ) -> None:
        """Loads and mixes a batch whose partners are its own rows, following each partner cycle.

        A row is mixed as soon as its partner (the next image of its cycle of
        the permutation `params.partner`) is decoded, so at most three decoded
        images are alive at once, and no batch-sized uint8 buffer is kept per
        thread (in threads mode, each epoch's new threads would leave one in
        the allocator). The order of work changes no value: each sample's
        draws are keyed by the sample, not by when it is loaded.
        """
        partner = params.partner
        states = self.augment_states(samples, epoch, _rng.AUGMENT)
        done = np.zeros(len(samples), dtype=bool)
        for start in range(len(samples)):
            if done[start]:
                continue
            first = previous = self.load_sample(samples[start], epoch, i, _rng.AUGMENT, report, states[start])
            row = start
            done[row] = True
            while not done[partner[row]]:
                nxt = int(partner[row])
                current = self.load_sample(samples[nxt], epoch, i, _rng.AUGMENT, report, states[nxt])
                self._mix_row(x, row, previous, current, params)
                done[nxt] = True
                row, previous = nxt, current
            self._mix_row(x, row, previous, first, params)  # the cycle closes on its first row

    def partner_samples(self, epoch: int, i: int) -> np.ndarray:
        """For `pairing="dataset"`: the separately drawn partners of batch `i`.

        Partners follow a second permutation of the whole dataset per epoch,
        so each sample is also a partner once per epoch.
        """
        n, b = self.index.samples, self.options.batch_size
        order = self._shard(_rng.generator(self.seed, _rng.PARTNER_ORDER, epoch).permutation(n))
        return order[i * b : (i + 1) * b]

    def _global_batch(self, i: int) -> int:
        """A batch number unique across shards (`i` itself when there is one shard)."""
        return i * self.options.num_shards + self.options.shard_index
