"""Mixup's published effects in miniature: ERM, mixup and CutMix, with and without label noise.

Trains one small CNN, fed by this loader from image folders of scikit-learn's
bundled handwritten digits, in 8 settings: ERM (no mixing), mixup with alpha
0.2 and 1.0 (arXiv:1710.09412) and CutMix with alpha 1.0 (arXiv:1905.04899),
each on clean labels and with 40% symmetric label noise in the training
split. The mixup paper reports that mixup resists memorising corrupted labels
(its section 3.4); Thulasidasan et al. (arXiv:1905.11001) that it improves
calibration. This script measures both, small enough for a laptop.

Data: ``sklearn.datasets.load_digits`` (1,797 8x8 images, 10 classes), a copy
of the test set of the UCI "Optical Recognition of Handwritten Digits" data
(CC BY 4.0), shipped with scikit-learn (BSD-3-Clause); no network access.
For each seed the script writes, under ``<out>/data/seed<k>/``:

- ``test/<digit>/digit_<row>.png``: a stratified 30% held out by the seed;
- ``train-noise0/<digit>/digit_<row>.png``: the other 70%, true labels;
- ``train-noise40/<digit>/digit_<row>.png``: the same files, of which
  exactly ``round(0.4 * n)`` (chosen by the seed) sit in the folder of a wrong
  digit drawn uniformly from the 9 *other* classes: dirty data, as the loader
  would meet it. Each digit's folder keeps 60% of its true images.

``<row>`` is the image's row in ``load_digits()``. Images are upscaled
bicubically from 8x8 to ``--image-size`` (grayscale PNG). All settings of a
seed share the split, the corrupted files, the initial weights
(``keras.utils.set_random_seed``) and the sample order (the sequence's
``seed``); they differ only in how batches are mixed. The test set, read once
with ``ImageFolderSequence``, is scored after every epoch.

Writes ``<out>/evidence.md`` (the table, command, machine and wall time),
``<out>/evidence.png`` (test accuracy per epoch and reliability diagrams) and
``<out>/results.json`` (every run's curve and numbers).

    python examples/evidence.py             # 8 settings x 3 seeds: the documented run
    python examples/evidence.py --quick     # 1 seed, 2 short epochs: a smoke test
    python examples/evidence.py --seeds 0 1 2 3 4 --epochs 40 --out out/evidence-long
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network call on import
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from mixup_sequence import ImageFolderSequence, MixupSequence  # noqa: E402

NUM_CLASSES = 10
TEST_SHARE = 0.3
NOISE_LEVELS = (0.0, 0.4)
ECE_BINS = 15


@dataclasses.dataclass(frozen=True)
class Method:
    """A training setting: how the training batches are mixed (both alphas 0: plain ERM)."""

    name: str
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    colour: tuple[int, int, int] = (0, 0, 0)  # BGR, for the figure


METHODS = (
    Method("ERM", colour=(40, 40, 40)),
    Method("mixup alpha=0.2", mixup_alpha=0.2, colour=(205, 130, 30)),
    Method("mixup alpha=1.0", mixup_alpha=1.0, colour=(30, 30, 215)),
    Method("CutMix alpha=1.0", cutmix_alpha=1.0, colour=(40, 160, 40)),
)


# --- data ---------------------------------------------------------------------------------------------


def upscale(image8: np.ndarray, size: int) -> np.ndarray:
    """A 0..16 8x8 digit -> uint8 `size` x `size`, bicubic."""
    big = cv2.resize(image8.astype(np.float32) * (255.0 / 16.0), (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(np.rint(big), 0, 255).astype(np.uint8)


def stratified_test_mask(labels: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """True for `round(share * n_c)` randomly chosen rows of each class `c`."""
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        test[rng.choice(rows, size=round(share * len(rows)), replace=False)] = True
    return test


def corrupt_labels(labels: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Symmetric noise: exactly `round(rate * n)` labels, each moved to a uniformly drawn *other* class."""
    noisy = labels.copy()
    flipped = rng.choice(len(labels), size=round(rate * len(labels)), replace=False)
    noisy[flipped] = (labels[flipped] + rng.integers(1, NUM_CLASSES, size=len(flipped))) % NUM_CLASSES
    return noisy


def write_tree(root: Path, images: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> None:
    """Writes `images[row]` as `root/<label>/digit_<row>.png`."""
    for c in range(NUM_CLASSES):
        (root / str(c)).mkdir(parents=True, exist_ok=True)
    for row, label in zip(rows, labels, strict=True):
        path = root / str(label) / f"digit_{row:04d}.png"
        if not cv2.imwrite(str(path), images[row]):
            raise OSError(f"Could not write {path}")


def row_of(path: str) -> int:
    """The row in `load_digits()` of a file written by `write_tree`."""
    return int(Path(path).stem.rsplit("_", 1)[1])


def noise_name(rate: float) -> str:
    return f"noise{round(100 * rate)}"


def write_digits(
    root: Path, digits: tuple[np.ndarray, np.ndarray], seed: int, image_size: int, train_per_class: int | None
) -> dict[str, Path]:
    """Writes the test tree and one training tree per noise level for `seed`; returns their paths.

    Args:
        root: Folder to (re)create.
        digits: `(images, labels)` from `load_digits()`.
        seed: Draws the split and the corrupted labels.
        image_size: Side of the written PNGs.
        train_per_class: If set, keep only this many training images per class (for a quick run).
    """
    images8, labels = digits
    images = np.stack([upscale(image, image_size) for image in images8])
    if root.exists():
        shutil.rmtree(root)
    test = stratified_test_mask(labels, TEST_SHARE, np.random.default_rng([seed, 0]))
    test_rows, train_rows = np.flatnonzero(test), np.flatnonzero(~test)
    if train_per_class is not None:
        train_rows = np.concatenate([train_rows[labels[train_rows] == c][:train_per_class] for c in range(NUM_CLASSES)])
    trees = {"test": root / "test"}
    write_tree(trees["test"], images, test_rows, labels[test_rows])
    for rate in NOISE_LEVELS:
        noisy = corrupt_labels(labels[train_rows], rate, np.random.default_rng([seed, 1, round(100 * rate)]))
        trees[noise_name(rate)] = root / f"train-{noise_name(rate)}"
        write_tree(trees[noise_name(rate)], images, train_rows, noisy)
    return trees


def read_all(directory: Path, image_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whole folder through the loader, unshuffled: images, folder labels, and file rows."""
    seq = ImageFolderSequence(
        directory, batch_size=512, image_size=(image_size, image_size), color_mode="grayscale", shuffle=False
    )
    x = np.concatenate([seq[i][0] for i in range(len(seq))])
    return x, np.asarray(seq.labels), np.array([row_of(p) for p in seq.filepaths])


# --- model and metrics --------------------------------------------------------------------------------


def build_model(input_shape: tuple[int, int, int]) -> keras.Model:
    """A small CNN with room to memorise its training set: no dropout, weight decay or augmentation."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )


def confidence_bins(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS):
    """Bin of each prediction's confidence (`bins` equal-width bins on [0, 1]), the confidence, and correctness."""
    confidence = probs.max(axis=1)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    return which, confidence, probs.argmax(axis=1) == labels


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over confidence bins of (share of predictions in it) * |accuracy - mean confidence|."""
    which, confidence, correct = confidence_bins(probs, labels, bins)
    gap = np.bincount(which, weights=correct - confidence, minlength=bins)  # per bin: n_b * (acc_b - conf_b)
    return float(np.abs(gap).sum() / len(labels))


def reliability_sums(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[list[float]]:
    """Per bin: [count, sum of confidences, number correct] (sums pool across seeds by addition)."""
    which, confidence, correct = confidence_bins(probs, labels, bins)
    return np.stack(
        [
            np.bincount(which, minlength=bins),
            np.bincount(which, weights=confidence, minlength=bins),
            np.bincount(which, weights=correct.astype(np.float64), minlength=bins),
        ],
        axis=1,
    ).tolist()


class TestAccuracy(keras.callbacks.Callback):
    """Scores the model on the held-out test set after every epoch; keeps the last probabilities."""

    def __init__(self, x: np.ndarray, labels: np.ndarray):
        super().__init__()
        self.x, self.labels = x, labels
        self.accuracy: list[float] = []
        self.probs = np.empty((0, NUM_CLASSES))

    def on_epoch_end(self, epoch, logs=None):
        self.probs = keras.ops.convert_to_numpy(self.model.predict_on_batch(self.x))
        self.accuracy.append(float((self.probs.argmax(axis=1) == self.labels).mean()))


@dataclasses.dataclass
class Run:
    method: str
    noise: float
    seed: int
    accuracy: list[float]  # test accuracy after each epoch
    last: float
    best: float
    best_epoch: int  # 1-based
    ece: float  # of the last epoch's test predictions
    memorised: float | None  # share of the corrupted training files predicted as their (wrong) folder's class
    seconds: float
    reliability: list[list[float]]  # `reliability_sums` of the last epoch's test predictions


@dataclasses.dataclass(frozen=True)
class Split:
    """One folder's images, read through the loader, with its folder labels and true labels."""

    directory: Path
    x: np.ndarray
    labels: np.ndarray
    truth: np.ndarray


class Trainer:
    """One compiled model, reset to a fresh start for every run.

    Compiling a new model costs a trace of the training step (about 2 s here);
    restoring freshly initialised weights and the optimizer's initial state
    starts each run exactly as a new model would, without it.
    """

    def __init__(self, input_shape: tuple[int, int, int], learning_rate: float):
        self.input_shape = input_shape
        self.model = build_model(input_shape)
        self.model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy")
        self.model.optimizer.build(self.model.trainable_variables)
        self._optimizer_start = [v.numpy() for v in self.model.optimizer.variables]  # zeros, step 0, rate

    def reset(self, seed: int) -> keras.Model:
        keras.utils.set_random_seed(seed)
        self.model.set_weights(build_model(self.input_shape).get_weights())
        for variable, value in zip(self.model.optimizer.variables, self._optimizer_start, strict=True):
            variable.assign(value)
        return self.model


def train_once(
    trainer: Trainer, method: Method, noise: float, seed: int, train: Split, test: Split, args: argparse.Namespace
) -> Run:
    size = (args.image_size, args.image_size)
    common = dict(batch_size=args.batch_size, image_size=size, color_mode="grayscale", seed=seed, workers=args.workers)
    if method.mixup_alpha == 0 and method.cutmix_alpha == 0:
        data = ImageFolderSequence(train.directory, shuffle=True, **common)
    else:
        data = MixupSequence(
            train.directory, mixup_alpha=method.mixup_alpha, cutmix_alpha=method.cutmix_alpha, **common
        )
    start = time.perf_counter()
    model = trainer.reset(seed)
    scorer = TestAccuracy(test.x, test.labels)
    # shuffle=False: the sequence reshuffles itself, seeded; Keras' own batch shuffle is unseeded.
    model.fit(data, epochs=args.epochs, shuffle=False, verbose=0, callbacks=[scorer])
    seconds = time.perf_counter() - start

    memorised = None
    wrong = train.labels != train.truth
    if wrong.any():  # predict on all of `train.x`: one input shape, one trace
        predicted = keras.ops.convert_to_numpy(model.predict_on_batch(train.x)).argmax(axis=1)
        memorised = float((predicted[wrong] == train.labels[wrong]).mean())
    best = int(np.argmax(scorer.accuracy))
    return Run(
        method=method.name,
        noise=noise,
        seed=seed,
        accuracy=scorer.accuracy,
        last=scorer.accuracy[-1],
        best=scorer.accuracy[best],
        best_epoch=best + 1,
        ece=expected_calibration_error(scorer.probs, test.labels),
        memorised=memorised,
        seconds=seconds,
        reliability=reliability_sums(scorer.probs, test.labels),
    )


# --- report -------------------------------------------------------------------------------------------


def mean_std(values: list[float]) -> str:
    a = np.asarray(values, dtype=np.float64)
    return f"{a.mean():.3f} ± {a.std(ddof=1) if len(a) > 1 else 0.0:.3f}"


def results_table(runs: list[Run]) -> str:
    lines = [
        "| label noise | method | test acc, last epoch | test acc, best epoch | best epoch per seed "
        "| ECE, last epoch | corrupted labels fit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for noise in NOISE_LEVELS:
        for method in METHODS:
            group = [r for r in runs if r.noise == noise and r.method == method.name]
            if group:
                fit = mean_std([r.memorised for r in group]) if noise > 0 else "-"
                lines.append(
                    f"| {round(100 * noise)}% | {method.name} | {mean_std([r.last for r in group])} "
                    f"| {mean_std([r.best for r in group])} | {', '.join(str(r.best_epoch) for r in group)} "
                    f"| {mean_std([r.ece for r in group])} | {fit} |"
                )
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()}, Python {platform.python_version()}, "
        f"Keras {keras.__version__} ({keras.backend.backend()} backend), NumPy {np.__version__}, "
        f"OpenCV {cv2.__version__}"
    )


def write_markdown(
    path: Path,
    runs: list[Run],
    args: argparse.Namespace,
    sizes: dict[str, int],
    wall: float,
    load: tuple[float, float, float] | None,
) -> None:
    command = shlex.join(["python", "examples/evidence.py", *args.argv])
    busy = ""
    if load is not None:
        busy = (
            f" Load average at the end (1, 5, 15 min): {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}; this run's own"
            f" threads count, so much above {os.cpu_count()} means other jobs shared the cores."
        )
    text = f"""# Evidence: mixup's effects in miniature

{results_table(runs)}

Mean ± standard deviation over seeds {", ".join(map(str, args.seeds))}. "Best epoch": the epoch of highest
test accuracy, chosen on the test set itself, so an optimistic bound. ECE: expected calibration error of
the last epoch's test predictions, {ECE_BINS} equal-width confidence bins. "Corrupted labels fit": the
share of training files in a wrong folder that the final model assigns to that wrong folder's class
(memorisation; 0 would ignore them all).

Setup: scikit-learn's digits upscaled to {args.image_size}x{args.image_size} grayscale PNGs; per seed a
stratified {round(100 * TEST_SHARE)}% test split ({sizes["test"]} images, clean) and {sizes["train"]} training images.
40% noise: exactly 40% of the training files are put in the folder of a wrong digit drawn uniformly from
the 9 other classes. One CNN for all (2 conv layers, a 128-unit dense layer; no dropout, weight decay or
augmentation), Adam at {args.learning_rate}, batch size {args.batch_size}, {args.epochs} epochs; the settings of a
seed share split, corrupted files, initial weights and sample order. Loader: `workers={args.workers}`
({"threads" if args.workers > 1 else "serial"}).

![test accuracy per epoch and reliability diagrams](evidence.png)

Command: `{command}`

Machine: {machine()}.{busy}

Total wall time: {wall:.0f} s ({wall / 60:.1f} min) for {len(runs)} runs, writing the data and the figure included
(Python's start-up and imports, about 10 s, not included).
"""
    path.write_text(text, encoding="utf-8")


# --- figure (OpenCV; no plotting library needed) ------------------------------------------------------

FONT = cv2.FONT_HERSHEY_SIMPLEX


def put_text(canvas: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.45, centre: bool = False) -> None:
    if centre:
        org = (org[0] - cv2.getTextSize(text, FONT, scale, 1)[0][0] // 2, org[1])
    cv2.putText(canvas, text, org, FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


class Panel:
    """One pair of axes on a white BGR canvas: data coordinates to pixels, ticks, lines, bands."""

    def __init__(self, canvas, box, xlim, ylim, title, xlabel, ylabel):
        self.canvas, self.xlim, self.ylim = canvas, xlim, ylim
        left, top, width, height = box
        self.x0, self.y0, self.x1, self.y1 = left + 62, top + 34, left + width - 16, top + height - 46
        put_text(canvas, title, ((self.x0 + self.x1) // 2, top + 20), scale=0.5, centre=True)
        put_text(canvas, xlabel, ((self.x0 + self.x1) // 2, self.y1 + 38), centre=True)
        put_text(canvas, ylabel, (left + 6, self.y0 - 8))

    def px(self, x: float, y: float) -> tuple[int, int]:
        (a, b), (c, d) = self.xlim, self.ylim
        return (
            round(self.x0 + (x - a) / (b - a) * (self.x1 - self.x0)),
            round(self.y1 - (y - c) / (d - c) * (self.y1 - self.y0)),
        )

    def points(self, xs, ys) -> np.ndarray:
        p = np.array([self.px(x, y) for x, y in zip(xs, ys, strict=True)], dtype=np.int32)
        p[:, 1] = np.clip(p[:, 1], self.y0, self.y1)
        return p

    def axes(self, xticks, yticks) -> None:
        for x in xticks:
            px = self.px(x, self.ylim[0])[0]
            cv2.line(self.canvas, (px, self.y0), (px, self.y1), (232, 232, 232), 1)
            put_text(self.canvas, f"{x:g}", (px, self.y1 + 17), scale=0.4, centre=True)
        for y in yticks:
            py = self.px(self.xlim[0], y)[1]
            cv2.line(self.canvas, (self.x0, py), (self.x1, py), (232, 232, 232), 1)
            put_text(self.canvas, f"{y:.2f}", (self.x0 - 42, py + 5), scale=0.4)
        cv2.rectangle(self.canvas, (self.x0, self.y0), (self.x1, self.y1), (0, 0, 0), 1)

    def line(self, xs, ys, colour, markers: bool = False) -> None:
        p = self.points(xs, ys)
        cv2.polylines(self.canvas, [p], False, colour, 2, cv2.LINE_AA)
        for q in p if markers else ():
            cv2.circle(self.canvas, (int(q[0]), int(q[1])), 4, colour, -1, cv2.LINE_AA)

    def band(self, xs, low, high, colour, alpha: float = 0.15) -> None:
        polygon = np.concatenate([self.points(xs, high), self.points(xs[::-1], low[::-1])])
        layer = self.canvas.copy()
        cv2.fillPoly(layer, [polygon], colour, cv2.LINE_AA)
        cv2.addWeighted(layer, alpha, self.canvas, 1 - alpha, 0, dst=self.canvas)


def draw_figure(path: Path, runs: list[Run], epochs: int) -> None:
    """Top: mean test accuracy per epoch (band: ± std over seeds), a panel per noise level.
    Bottom: reliability diagrams of the last epoch's test predictions, seeds pooled."""
    cell_w, cell_h, legend_h = 600, 400, 34
    canvas = np.full((legend_h + 2 * cell_h, len(NOISE_LEVELS) * cell_w, 3), 255, np.uint8)
    methods = [m for m in METHODS if any(r.method == m.name for r in runs)]
    x = 20
    for m in methods:  # one legend for all panels, along the top
        cv2.line(canvas, (x, 20), (x + 28, 20), m.colour, 3, cv2.LINE_AA)
        put_text(canvas, m.name, (x + 36, 25), scale=0.5)
        x += 36 + cv2.getTextSize(m.name, FONT, 0.5, 1)[0][0] + 30
    xs = np.arange(1, epochs + 1)
    for col, noise in enumerate(NOISE_LEVELS):
        groups = [(m, [r for r in runs if r.noise == noise and r.method == m.name]) for m in methods]
        groups = [(m, np.array([r.accuracy for r in g]), g) for m, g in groups if g]
        low = min(float(a.mean(axis=0).min()) for _, a, _ in groups)
        floor = min(0.8, np.floor(low * 10) / 10)
        step = 0.05 if floor >= 0.7 else 0.1
        acc = Panel(
            canvas,
            (col * cell_w, legend_h, cell_w, cell_h),
            (1, max(epochs, 2)),
            (floor, 1.0),
            f"test accuracy, {round(100 * noise)}% label noise (mean, band: +-1 std over seeds)",
            "epoch",
            "accuracy",
        )
        acc.axes(epoch_ticks(epochs), np.arange(floor, 1.0 + 1e-9, step))
        for m, a, _ in groups:
            spread = a.std(axis=0, ddof=1) if len(a) > 1 else np.zeros(len(xs))  # as in the table
            acc.band(xs, a.mean(axis=0) - spread, a.mean(axis=0) + spread, m.colour)
        for m, a, _ in groups:
            acc.line(xs, a.mean(axis=0), m.colour)

        rel = Panel(
            canvas,
            (col * cell_w, legend_h + cell_h, cell_w, cell_h),
            (0.0, 1.0),
            (0.0, 1.0),
            f"reliability, {round(100 * noise)}% label noise (last epoch, seeds pooled)",
            f"confidence (mean of each of {ECE_BINS} bins)",
            "accuracy",
        )
        rel.axes(np.linspace(0, 1, 6), np.linspace(0, 1, 6))
        cv2.line(canvas, rel.px(0, 0), rel.px(1, 1), (150, 150, 150), 1, cv2.LINE_AA)
        for m, _, g in groups:
            sums = np.sum([r.reliability for r in g], axis=0)
            sums = sums[sums[:, 0] > 0]
            rel.line(sums[:, 1] / sums[:, 0], sums[:, 2] / sums[:, 0], m.colour, markers=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), canvas, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"Could not write {path}")


def epoch_ticks(epochs: int) -> list[int]:
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500) if epochs / s <= 8)
    return [1] + list(range(step, epochs + 1, step))[(1 if step == 1 else 0) :]


# --- main ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one run of each setting per seed")
    parser.add_argument("--epochs", type=int, default=None, help="default 20, or 2 with --quick")
    parser.add_argument("--out", default="out/evidence", help="output folder; the data is written to <out>/data")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: first seed only, 2 epochs, 20 training images per class"
    )
    parser.add_argument("--image-size", type=int, default=24, help="side of the square PNGs, in pixels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument(
        "--workers", type=int, default=2, help="loader threads (0: load in the training loop; 2 was 13%% faster here)"
    )
    parser.add_argument("--train-per-class", type=int, default=None, help="keep only this many training images")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.seeds = args.seeds[:1]
        args.epochs = 2 if args.epochs is None else args.epochs
        args.train_per_class = 20 if args.train_per_class is None else args.train_per_class
    if args.epochs is None:
        args.epochs = 20
    return args


def main(argv: list[str] | None = None) -> list[Run]:
    start = time.perf_counter()
    args = parse_args(argv)
    from sklearn.datasets import load_digits  # only the data step needs scikit-learn

    digits = load_digits()
    images8, truth = digits.images, digits.target.astype(np.int64)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer((args.image_size, args.image_size, 1), args.learning_rate)
    runs: list[Run] = []
    for seed in args.seeds:
        trees = write_digits(
            out / "data" / f"seed{seed}", (images8, truth), seed, args.image_size, args.train_per_class
        )
        splits = {}
        for name, directory in trees.items():
            x, labels, rows = read_all(directory, args.image_size)
            splits[name] = Split(directory, x, labels, truth[rows])
        test = splits["test"]
        if (test.labels != test.truth).any():
            raise RuntimeError("the test tree has files in the wrong folder")
        for noise in NOISE_LEVELS:
            for method in METHODS:
                run = train_once(trainer, method, noise, seed, splits[noise_name(noise)], test, args)
                runs.append(run)
                fit = f", corrupted labels fit {run.memorised:.3f}" if run.memorised is not None else ""
                print(
                    f"seed {seed}, {round(100 * noise):>2}% noise, {method.name:<16}: test accuracy last "
                    f"{run.last:.3f}, best {run.best:.3f} (epoch {run.best_epoch}), ECE {run.ece:.3f}{fit} "
                    f"[{run.seconds:.0f} s]",
                    flush=True,
                )
    sizes = {"test": len(test.labels), "train": len(splits[noise_name(0.0)].labels)}
    draw_figure(out / "evidence.png", runs, args.epochs)
    record = {"args": vars(args), "sizes": sizes, "runs": [dataclasses.asdict(r) for r in runs]}
    (out / "results.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    wall = time.perf_counter() - start
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    write_markdown(out / "evidence.md", runs, args, sizes, wall, load)
    print(results_table(runs))
    print(f"wrote {out / 'evidence.md'} and {out / 'evidence.png'} in {wall:.0f} s")
    return runs


if __name__ == "__main__":
    main()
