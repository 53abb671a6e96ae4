"""What batch `i` of epoch `e` is made of: a pure plan, before any file is read.

The sampler stage. `Sampler` turns `(seed, epoch, batch)` into the samples
of the batch (the epoch's order, this shard's part of it) and, with mixing,
the batch's mixing parameters and separately drawn partners. It reads no
file, so every plan is cheap to make and to test; the reader (`reader.py`)
and the mixers (`mixing.py`, `mixers/`) carry it out. A mixing schedule is
applied here: batch `i` of epoch `e` is mixed with the settings of epoch `e`
(`MixConfig.at_epoch(e)`), a pure function of `e`, so a batch that a worker
prefetches into the next epoch is planned with the next epoch's settings.

Keys of the random streams (see `_rng`):
- the sample order of epoch `e`: `(seed, ORDER, e)` (a permutation; with
  `balance` or `sample_weights`, `samples` weighted draws with replacement);
- the mixing parameters of batch `i` in epoch `e`: `(seed, MIX, e, i)` (with
  shards, `i * num_shards + shard_index` in place of `i`);
- with `pairing="dataset"`, the partner order of epoch `e`: `(seed, PARTNER_ORDER, e)`
  (drawn like the sample order).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mixup_sequence import _rng, mixing
from mixup_sequence._threads import PerThread
from mixup_sequence.options import LoaderOptions


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """Everything random about one batch, drawn before anything is read.

    Attributes:
        epoch: The epoch.
        index: The batch's index within the epoch.
        samples: `(B,)` positions in the source of the batch's samples.
        params: The mixing parameters (`MixParams.identity` when unmixed).
        partners: With `pairing="dataset"`, `(B,)` positions of each row's
            separately decoded partner; None when partners are rows of the batch.
        label_smoothing: The epoch's label smoothing.
    """

    epoch: int
    index: int
    samples: np.ndarray
    params: mixing.MixParams
    partners: np.ndarray | None = None
    label_smoothing: float = 0.0


class Sampler(PerThread):
    """Plans batches: sample order, shards, partners and mixing parameters.

    Args:
        samples: How many samples the source holds.
        options: A `LoaderOptions`.
        seed: An integer seed.
        mix: A `MixConfig`, or None for unmixed batches.
        labels: The samples' integer labels (needed by `balance="class"`).

    Attributes:
        config: The `MixConfig` as given (or None).
        mix: The `MixConfig` if it mixes in some epoch (it is enabled, or has
            a schedule), else None.
        probabilities: With `balance` or `sample_weights`, each sample's
            chance to be drawn at each of an epoch's draws
            (`sampling_probabilities`); None for a plain permutation.
    """

    def __init__(
        self,
        samples: int,
        options: LoaderOptions,
        seed: int,
        mix: mixing.MixConfig | None = None,
        labels: np.ndarray | None = None,
    ):
        super().__init__()
        self.samples = samples
        self.options = options
        self.seed = seed
        self.config = mix
        self.mix = mix if mix is not None and (mix.enabled or mix.mix_schedule is not None) else None
        self.probabilities = sampling_probabilities(samples, labels, options.balance, options.sample_weights)
        self._cdf = None if self.probabilities is None else _cumulative(self.probabilities)
        # Each shard gets an equal part of every epoch's global order; the remainder is left out.
        self.shard_samples = samples // options.num_shards
        if self.shard_samples == 0:
            raise ValueError(
                f"{samples} samples cannot be split into {options.num_shards} non-empty shards. "
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

    def _global_order(self, rng: np.random.Generator) -> np.ndarray:
        """An epoch's order of all samples: a permutation, or `samples` weighted draws with replacement."""
        if self._cdf is None:
            return rng.permutation(self.samples)
        # Inverse-CDF sampling: a zero-weight sample's step is empty, so it is never drawn.
        return np.searchsorted(self._cdf, rng.random(self.samples), side="right").astype(np.int64)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Returns this shard's sample order in `epoch` (index order if not shuffling).

        With `num_shards > 1`, shard `k` takes positions `k, k + num_shards, ...`
        of the epoch's global order, `samples // num_shards` of them, so the
        shards are disjoint, equal in size, and cover the whole order but for
        the `r = samples % num_shards` left over. Shuffled, those are the last
        `r` of the epoch's permutation; in index order, the window of `r`
        samples starting at `epoch * r` (wrapping around) is left out, so
        every sample is served in all but one of any `ceil(samples / r)`
        consecutive epochs.

        With `balance` or `sample_weights`, the global order is `samples`
        independent draws with replacement, sample `k` with probability
        `probabilities[k]`: an epoch keeps its length, some samples come
        more than once and some not at all. Shards take their positions of
        it as above (disjoint positions; a sample may be drawn in two).
        """
        cached = getattr(self._local, "order", None)
        if cached is not None and cached[0] == epoch:
            return cached[1]
        n = self.samples
        if self.options.shuffle:
            order = self._global_order(_rng.generator(self.seed, _rng.ORDER, epoch))
        else:
            order = np.arange(n)
            left_over = n - self.shard_samples * self.options.num_shards
            if left_over:
                order = np.delete(order, (epoch * left_over + np.arange(left_over)) % n)
        order = self._shard(order)
        order.flags.writeable = False  # callers get views of it
        self._local.order = (epoch, order)
        return order

    def batch_samples(self, epoch: int, i: int) -> np.ndarray:
        """Returns the sample indices (positions in the source) of batch `i`."""
        if not 0 <= i < self.num_batches:
            raise IndexError(f"Batch index out of range: expected 0 <= index < {self.num_batches}. Received: {i}")
        b = self.options.batch_size
        return self.epoch_order(epoch)[i * b : (i + 1) * b]

    def partner_samples(self, epoch: int, i: int) -> np.ndarray:
        """For `pairing="dataset"`: the separately drawn partners of batch `i`.

        Partners follow a second permutation of the whole dataset per epoch,
        so each sample is also a partner once per epoch (with `balance` or
        `sample_weights`, a second set of weighted draws).
        """
        b = self.options.batch_size
        order = self._shard(self._global_order(_rng.generator(self.seed, _rng.PARTNER_ORDER, epoch)))
        return order[i * b : (i + 1) * b]

    def mix_at(self, epoch: int) -> mixing.MixConfig | None:
        """The mixing settings in force in `epoch` (`MixConfig.at_epoch`), or None without any."""
        if self.config is None:
            return None
        cached = getattr(self._local, "mix_at", None)
        if cached is None or cached[0] != epoch:
            cached = (epoch, self.config.at_epoch(epoch))
            self._local.mix_at = cached
        return cached[1]

    def plan(self, epoch: int, i: int) -> BatchPlan:
        """Returns the plan of batch `i` of `epoch`."""
        samples = self.batch_samples(epoch, i)
        n = len(samples)
        config = self.mix_at(epoch)
        smoothing = config.label_smoothing if config is not None else 0.0
        if config is None or not config.enabled:
            return BatchPlan(epoch, i, samples, mixing.MixParams.identity(n), label_smoothing=smoothing)
        within = self.options.pairing == "batch"
        rng = _rng.generator(self.seed, _rng.MIX, epoch, i * self.options.num_shards + self.options.shard_index)
        params = mixing.sample_mix_params(config, rng, n, self.options.image_size, within)
        partners = None if within else self.partner_samples(epoch, i)[params.partner]
        return BatchPlan(epoch, i, samples, params, partners, smoothing)


def sampling_probabilities(
    samples: int,
    labels: np.ndarray | None,
    balance: str | None,
    sample_weights: np.ndarray | None,
) -> np.ndarray | None:
    """Each sample's chance per draw under `balance` and `sample_weights`; None when neither is set.

    - `sample_weights` alone: proportional to the weights.
    - `balance="class"` alone: every class (with samples) gets the same
      share, split evenly among its samples.
    - both: every class with a positive total weight gets the same share,
      split among its samples in proportion to their weights.

    Raises:
        ValueError: The weights are not one per sample, or `balance="class"`
            has no one-dimensional integer labels.
    """
    if balance is None and sample_weights is None:
        return None
    if sample_weights is not None and len(sample_weights) != samples:
        raise ValueError(
            f"`sample_weights` must hold one weight per sample, aligned with `filepaths` ({samples} samples "
            f"here, after any `validation_split`). Received: sample_weights of length {len(sample_weights)}"
        )
    weights = np.ones(samples) if sample_weights is None else np.asarray(sample_weights, dtype=np.float64)
    if balance == "class":
        if labels is None or np.ndim(labels) != 1 or len(labels) != samples:
            raise ValueError(
                '`balance="class"` needs one integer label per sample. '
                f"Received: labels of shape {None if labels is None else np.shape(labels)}"
            )
        labels = np.asarray(labels, dtype=np.int64)
        totals = np.bincount(labels, weights=weights)
        shares = totals[labels]
        weights = np.divide(weights, shares, out=np.zeros(samples), where=shares > 0) / np.count_nonzero(totals)
    return weights / weights.sum()


def _cumulative(probabilities: np.ndarray) -> np.ndarray:
    """The running sum of `probabilities`, ending at exactly 1."""
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    cdf.flags.writeable = False
    return cdf
