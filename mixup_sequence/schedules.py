"""Mixing settings as functions of the epoch, for `MixConfig.mix_schedule`.

A schedule is any function `epoch -> dict of MixConfig fields` that depends
on the epoch alone; these two are picklable, so they reach worker
processes started with spawn or forkserver, and they print what they do.

- `Steps({0: {...}, 10: {...}})`: the overrides of the last milestone
  reached, e.g. CutMix for the first 10 epochs, then mixup.
- `Linear(0, 10, mixup_alpha=(0.0, 0.4))`: fields moved linearly from a
  start to an end value between two epochs, held before and after, e.g. a
  warm-up of the mixing strength or probability.

For mixing off from an epoch on, `MixConfig(mix_off_epoch=N)` is simpler.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class Steps:
    """Piecewise-constant settings: from each milestone epoch on, its overrides.

    Before the first milestone nothing is overridden (the `MixConfig`'s own
    fields apply); the overrides of one milestone replace those of the
    previous, they do not add up.

    Args:
        milestones: `{epoch: {field: value}}`, epochs integers >= 0.
    """

    def __init__(self, milestones: Mapping[int, Mapping[str, Any]]):
        if not isinstance(milestones, Mapping) or not all(
            _is_int(e) and e >= 0 and isinstance(o, Mapping) for e, o in milestones.items()
        ):
            raise TypeError(
                "`milestones` must be a dict {epoch: {MixConfig field: value}} with integer epochs >= 0. "
                f"Received: milestones={milestones!r}"
            )
        self.milestones = {int(e): dict(milestones[e]) for e in sorted(milestones)}

    def __call__(self, epoch: int) -> dict[str, Any]:
        reached = [e for e in self.milestones if e <= epoch]
        return dict(self.milestones[reached[-1]]) if reached else {}

    def __repr__(self) -> str:
        return f"Steps({self.milestones!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Steps) and other.milestones == self.milestones

    def __hash__(self) -> int:
        return hash(repr(self))


class Linear:
    """Fields moved linearly from a start value to an end value between two epochs.

    Epochs up to `start_epoch` get the start values, epochs from
    `end_epoch` on the end values, and epoch `e` in between
    `start + (end - start) * (e - start_epoch) / (end_epoch - start_epoch)`.

    Args:
        start_epoch: The last epoch at the start values (an integer >= 0).
        end_epoch: The first epoch at the end values (an integer > `start_epoch`).
        **ramps: `field=(start, end)`, numeric `MixConfig` fields, e.g.
            `mixup_alpha=(0.0, 0.4), mix_prob=(0.5, 1.0)`.
    """

    def __init__(self, start_epoch: int, end_epoch: int, **ramps: tuple[float, float]):
        if not (_is_int(start_epoch) and _is_int(end_epoch) and 0 <= start_epoch < end_epoch):
            raise ValueError(
                "`start_epoch` and `end_epoch` must be integers with 0 <= start_epoch < end_epoch. "
                f"Received: start_epoch={start_epoch!r}, end_epoch={end_epoch!r}"
            )
        if not ramps:
            raise ValueError("`Linear` needs at least one `field=(start, end)`. Received: no fields")
        for name, pair in ramps.items():
            if not (
                isinstance(pair, (tuple, list))
                and len(pair) == 2
                and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in pair)
            ):
                raise TypeError(
                    f"Each field of `Linear` must be a pair (start, end) of numbers. Received: {name}={pair!r}"
                )
        self.start_epoch = int(start_epoch)
        self.end_epoch = int(end_epoch)
        self.ramps = {name: (float(a), float(b)) for name, (a, b) in ramps.items()}

    def __call__(self, epoch: int) -> dict[str, float]:
        t = (epoch - self.start_epoch) / (self.end_epoch - self.start_epoch)
        values = {}
        for name, (start, end) in self.ramps.items():
            value = start + (end - start) * t
            # Held outside the ramp, and never past either end by a rounding.
            values[name] = start if t <= 0 else end if t >= 1 else min(max(value, min(start, end)), max(start, end))
        return values

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={pair!r}" for name, pair in self.ramps.items())
        return f"Linear({self.start_epoch}, {self.end_epoch}, {fields})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Linear) and (other.start_epoch, other.end_epoch, other.ramps) == (
            self.start_epoch,
            self.end_epoch,
            self.ramps,
        )

    def __hash__(self) -> int:
        return hash(repr(self))
