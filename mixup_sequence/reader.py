"""Reading a sample: decode (or replace) its file, then augment it.

The read stage. `Reader.read(k, ...)` returns sample `k`'s uint8 HWC image,
decoded at `image_size` (`decode.py`) or read from the image cache
(`cache.py`), replaced by another image of its
class (multi-label: of its set of classes) under `on_error="skip"`, and
augmented with its own keyed generator (`augment.py`). With
`augment_input="decoded"` the image is decoded but not resized, and the
augmentation brings it to `image_size`. It knows nothing of batches or mixing.

Keys of the random streams (see `_rng`):
- the augmentation of sample `k` in epoch `e`: `(seed, AUGMENT, e, k)`
  (a partner decoded separately: `(seed, PARTNER_AUGMENT, e, k)`), whatever
  batch or row it lands in;
- with `on_error="skip"`, the replacements tried for a bad sample `k`:
  `(seed, REPLACE, e, k)`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import numpy as np

from mixup_sequence import _rng
from mixup_sequence.augment import Augmenter
from mixup_sequence.cache import ImageCache
from mixup_sequence.decode import COLOR_MODES, load_decoded, load_image
from mixup_sequence.errors import ImageDecodeError
from mixup_sequence.options import LoaderOptions, check_augment
from mixup_sequence.source import Source

# With on_error="skip": how many other images of the class to try before giving up.
MAX_REPLACEMENT_TRIES = 32

Report = list[tuple[str, str]]


class Reader:
    """Reads samples of a source: decoded, replaced if unreadable, augmented.

    Args:
        index: The source: files and labels.
        options: A `LoaderOptions` (image size, colour mode, interpolation,
            pixel limit, `on_error`, `augment_input`).
        seed: An integer seed.
        augmenter: An `Augmenter`, or None (not with `augment_input="decoded"`).
        cache: An opened `cache.ImageCache` for `options`' image size, colour
            mode, interpolation and `augment_input`, or None to decode every time.
    """

    def __init__(
        self,
        index: Source,
        options: LoaderOptions,
        seed: int,
        augmenter: Augmenter | None = None,
        cache: ImageCache | None = None,
    ):
        check_augment(options, augmenter)
        pixels = (options.image_size, options.color_mode, options.interpolation, options.augment_input)
        if cache is not None and not cache.serves(*pixels):
            raise ValueError(
                "`cache` must be made for the loader's (image_size, color_mode, interpolation, augment_input) "
                f"{pixels}. Received: cache={cache!r}"
            )
        self.index = index
        self.options = options
        self.seed = seed
        self.augmenter = augmenter
        self.cache = cache

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """`(height, width, channels)` of every image read."""
        h, w = self.options.image_size
        return h, w, COLOR_MODES[self.options.color_mode]

    def decode(self, k: int) -> np.ndarray:
        """Sample `k`'s file, decoded and resized to `image_size` (uint8 HWC); raises `ImageDecodeError`.

        With `augment_input="decoded"`, decoded only (`decode.load_decoded`).
        With a cache, the file's valid record is read instead of decoding,
        and a file without one is decoded and recorded.
        """
        opts = self.options
        if self.cache is not None:
            return self.cache.load(self.index.key(k), self.index.path(k), opts.max_pixels)
        if opts.augment_input == "decoded":
            return load_decoded(self.index.path(k), opts.image_size, opts.color_mode, opts.max_pixels)
        return load_image(self.index.path(k), opts.image_size, opts.color_mode, opts.interpolation, opts.max_pixels)

    def _decode_or_replace(self, k: int, epoch: int, report: Report | None) -> tuple[int, np.ndarray]:
        """Decodes sample `k`; with `on_error="skip"`, falls back to another of its class.

        Multi-label: another with exactly its set of classes (an error if there
        is none, since any other would change the labels). The replacements
        are tried in an order drawn from `(seed, REPLACE, epoch, k)`, so every
        mode and run picks the same one. Returns the sample used and its image.
        """
        try:
            return k, self.decode(k)
        except ImageDecodeError as e:
            if self.options.on_error == "raise":
                raise
            failures = [e]
        members = self.index.same_labels(k)
        order = _rng.generator(self.seed, _rng.REPLACE, epoch, k).permutation(members)[:MAX_REPLACEMENT_TRIES]
        for r in order:
            try:
                image = self.decode(int(r))
            except ImageDecodeError as e:
                failures.append(e)
                continue
            break
        else:
            r = None
        if report is not None:
            report.extend((f.filename, f.reason) for f in failures)
        if r is None:
            labels = self.index.describe_labels(k)
            if len(members) == 0 and self.index.multi_label:
                reason = (
                    f"{failures[0].reason}; and no other image has exactly its {labels}, so none can replace it "
                    "without changing its labels: fix or remove the file"
                )
            else:
                among = f"with the same {labels}" if self.index.multi_label else f"of {labels}"
                reason = f"{failures[0].reason}; and no readable replacement among {len(order)} other images {among}"
            raise ImageDecodeError(self.index.path(k), reason)
        return int(r), image

    def augment_states(self, samples: Iterable[int], epoch: int, stream: int) -> list[Any]:
        """Each sample's augmentation state (`Augmenter.prepare`), made in one go; Nones without `augment`."""
        if self.augmenter is None:
            return [None for _ in samples]
        return [self.augmenter.prepare(_rng.generator(self.seed, stream, epoch, int(k))) for k in samples]

    def read(
        self,
        k: int,
        epoch: int,
        batch: int,
        stream: int = _rng.AUGMENT,
        report: Report | None = None,
        state: Any = None,
    ) -> np.ndarray:
        """Decodes (and augments) sample `k` for `batch` of `epoch`; returns uint8 HWC.

        With `on_error="skip"`, every file that failed is appended to `report`
        as `(path, reason)`. `state` is sample `k`'s from `augment_states`, if
        made already. An error gets a note naming the file, its class, the
        batch and the epoch.
        """
        used = int(k)
        try:
            used, image = self._decode_or_replace(int(k), epoch, report)
            if self.augmenter is not None:
                if state is None or used != k:  # a replacement draws with its own key
                    state = self.augmenter.prepare(_rng.generator(self.seed, stream, epoch, used))
                shape = self.image_shape if self.options.augment_input == "decoded" else None
                image = self.augmenter.apply(image, state, shape, functools.partial(self.index.path, used))
        except Exception as e:
            labels = self.index.describe_labels(used)
            e.add_note(f"while loading {self.index.path(used)!r} ({labels}) for batch {batch} of epoch {epoch}")
            raise
        return image
