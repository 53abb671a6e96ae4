"""Mixup's published effects in miniature: ERM, mixup and CutMix, with and without label noise.

Trains the same small CNN on scikit-learn's bundled handwritten digits, read
from image folders by this loader, in 8 settings: ERM (no mixing), mixup with
alpha 0.2 and 1.0 (arXiv:1710.09412) and CutMix with alpha 1.0
(arXiv:1905.04899), each on clean labels and with 40% symmetric label noise
in the training split. Mixup's paper reports that it reduces the memorisation
of corrupted labels (its Table 2) and later work that it improves
calibration (arXiv:1905.11001); this script measures both on a small scale.

Data: ``sklearn.datasets.load_digits`` (1,797 8x8 images, 10 classes), a copy
of the test set of the UCI "Optical Recognition of Handwritten Digits" data
(CC BY 4.0), shipped with scikit-learn (BSD-3-Clause); no network access.
For each seed the script writes, under ``<out>/data/seed<k>/``:

- ``test/<digit>/digit_<row>.png``: a stratified 30% held out by the seed;
- ``train-noise0/<digit>/...``: the other 70% under their true labels;
- ``train-noise40/<digit>/...``: the same images, 40% of them (exactly
  ``round(0.4 * n)``, chosen by the seed) filed under a wrong digit drawn
  uniformly from the 9 *other* classes, so the loader sees them as any dirty
  folder. The clean class keeps 60% of each digit; each wrong class gets ~4.4%.

Images are upscaled bicubically from 8x8 to ``--image-size`` (grayscale PNG).
Every setting of a seed trains on the same split and the same corrupted
files, from the same initial weights (``keras.utils.set_random_seed``) and
in the same sample order (the sequence's ``seed``). The test set is read
once with ``ImageFolderSequence`` and scored after every epoch.

Writes ``<out>/evidence.md`` (table, command, machine, wall time),
``<out>/evidence.png`` (test accuracy per epoch; reliability diagrams) and
``<out>/results.json`` (every run's curve and final numbers).

    python examples/evidence.py                  # 8 settings x 3 seeds (the documented run)
    python examples/evidence.py --quick          # 1 seed, 2 epochs, a smoke test (seconds)
    python examples/evidence.py --seeds 0 1 2 3 4 --epochs 60 --out out/evidence-long
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

TEST_SHARE = 0.3
NOISE_LEVELS = (0.0, 0.4)
ECE_BINS = 15
NUM_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class Method:
    """A training setting: how the training batches are mixed."""

    name: str
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0


METHODS = (
    Method("ERM"),
    Method("mixup a=0.2", mixup_alpha=0.2),
    Method("mixup a=1.0", mixup_alpha=1.0),
    Method("CutMix a=1.0", cutmix_alpha=1.0),
)

# BGR colours for the figure, one per method.
COLOURS = ((40, 40, 40), (200, 120, 30), (30, 30, 210), (40, 150, 40))


# --- data ---------------------------------------------------------------------------------------------


def upscale(image8: np.ndarray, size: int) -> np.ndarray:
    """A 0..16 8x8 digit -> uint8 size x size, bicubic."""
    big = cv2.resize(image8.astype(np.float32) * (255.0 / 16.0), (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(np.rint(big), 0, 255).astype(np.uint8)


def stratified_split(labels: np.ndarray, test_share: float, rng: np.random.Generator) -> np.ndarray:
    """Returns a boolean test mask holding `round(test_share * n_c)` of each class."""
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        test[rng.choice(rows, size=round(test_share * len(rows)), replace=False)] = True
    return test


def corrupt_labels(labels: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Symmetric noise: exactly `round(rate * n)` labels, each moved to a uniformly drawn *other* class."""
    noisy = labels.copy()
    flipped = rng.choice(len(labels), size=round(rate * len(labels)), replace=False)
    shift = rng.integers(1, NUM_CLASSES, size=len(flipped))  # 1..9: never the true class
    noisy[flipped] = (labels[flipped] + shift) % NUM_CLASSES
    return noisy


def write_tree(root: Path, images: list[np.ndarray], rows: np.ndarray, labels: np.ndarray) -> None:
    for c in range(NUM_CLASSES):
        (root / str(c)).mkdir(parents=True, exist_ok=True)
    for row, label in zip(rows, labels, strict=True):
        path = root / str(label) / f"digit_{row:04d}.png"
        if not cv2.imwrite(str(path), images[row]):
            raise OSError(f"Could not write {path}")


def write_digits(root: Path, seed: int, image_size: int) -> dict[str, Path]:
    """Writes the test tree and one training tree per noise level for `seed`; returns their paths."""
    from sklearn.datasets import load_digits  # only this function needs scikit-learn

    digits = load_digits()
    labels = digits.target.astype(np.int64)
    images = [upscale(image, image_size) for image in digits.images]
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.default_rng([seed, 0])
    test = stratified_split(labels, TEST_SHARE, rng)
    test_rows, train_rows = np.flatnonzero(test), np.flatnonzero(~test)
    trees = {"test": root / "test"}
    write_tree(trees["test"], images, test_rows, labels[test_rows])
    for rate in NOISE_LEVELS:
        noisy = corrupt_labels(labels[train_rows], rate, np.random.default_rng([seed, 1, round(100 * rate)]))
        trees[noise_key(rate)] = root / f"train-{noise_key(rate)}"
        write_tree(trees[noise_key(rate)], images, train_rows, noisy)
    return trees


def noise_key(rate: float) -> str:
    return f"noise{round(100 * rate)}"


def true_label(path: str) -> int:
    """The true digit of a file written by `write_tree`, from its row in `load_digits()`."""
    return int(DIGIT_TARGETS[int(Path(path).stem.split("_")[1])])


def load_all(seq: ImageFolderSequence) -> tuple[np.ndarray, np.ndarray]:
    """Every batch of an unshuffled sequence, concatenated: images and integer labels (index order)."""
    x = np.concatenate([seq[i][0] for i in range(len(seq))])
    return x, np.asarray(seq.labels)


# --- model and metrics --------------------------------------------------------------------------------


def build_model(input_shape: tuple[int, int, int]) -> keras.Model:
    """A small CNN with room to memorise the training set (no dropout, no weight decay)."""
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


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class probabilities, by direct calls (no `predict` function to trace per model)."""
    return np.concatenate(
        [keras.ops.convert_to_numpy(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    )


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE with `bins` equal-width confidence bins: sum over bins of |B|/n * |accuracy(B) - confidence(B)|."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    ece = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[tuple[float, float, int]]:
    """Per non-empty bin: (mean confidence, accuracy, count)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    return [
        (float(confidence[which == b].mean()), float(correct[which == b].mean()), int((which == b).sum()))
        for b in range(bins)
        if (which == b).any()
    ]


class TestAccuracy(keras.callbacks.Callback):
    """Scores the model on the held-out test set after every epoch."""

    def __init__(self, x: np.ndarray, labels: np.ndarray):
        super().__init__()
        self.x, self.labels = x, labels
        self.accuracy: list[float] = []
        self.probs: np.ndarray | None = None

    def on_epoch_end(self, epoch, logs=None):
        self.probs = predict(self.model, self.x)
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
    memorised: float | None  # share of corrupted training files predicted as their wrong folder's class
    seconds: float
    reliability: list[tuple[float, float, int]]


def train_once(
    method: Method, noise: float, seed: int, train_dir: Path, test: tuple[np.ndarray, np.ndarray], args
) -> Run:
    size = (args.image_size, args.image_size)
    common = dict(
        batch_size=args.batch_size, image_size=size, color_mode="grayscale", seed=seed, workers=args.workers
    )
    if method.mixup_alpha == 0 and method.cutmix_alpha == 0:
        train = ImageFolderSequence(train_dir, **common)
    else:
        train = MixupSequence(train_dir, mixup_alpha=method.mixup_alpha, cutmix_alpha=method.cutmix_alpha, **common)
    start = time.perf_counter()
    keras.utils.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_model((*size, 1))
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss="categorical_crossentropy")
    scorer = TestAccuracy(*test)
    # shuffle=False: the sequence reshuffles itself, seeded; Keras' own batch shuffle is unseeded.
    model.fit(train, epochs=args.epochs, shuffle=False, verbose=0, callbacks=[scorer])
    seconds = time.perf_counter() - start

    memorised = None
    if noise > 0:  # how many corrupted training files does the model now call by their wrong folder?
        plain = ImageFolderSequence(train_dir, batch_size=512, image_size=size, color_mode="grayscale", shuffle=False)
        x, folder = load_all(plain)
        truth = np.array([true_label(p) for p in plain.filepaths])
        wrong = folder != truth
        memorised = float((predict(model, x[wrong]).argmax(axis=1) == folder[wrong]).mean())
    probs, labels = scorer.probs, test[1]
    best_epoch = int(np.argmax(scorer.accuracy))
    return Run(
        method=method.name,
        noise=noise,
        seed=seed,
        accuracy=scorer.accuracy,
        last=scorer.accuracy[-1],
        best=scorer.accuracy[best_epoch],
        best_epoch=best_epoch + 1,
        ece=expected_calibration_error(probs, labels),
        memorised=memorised,
        seconds=seconds,
        reliability=reliability(probs, labels),
    )


# --- report -------------------------------------------------------------------------------------------


def mean_std(values: list[float]) -> str:
    a = np.asarray(values, dtype=np.float64)
    return f"{a.mean():.3f} ± {a.std(ddof=1) if len(a) > 1 else 0.0:.3f}"


def results_table(runs: list[Run], methods: list[Method]) -> str:
    lines = [
        "| label noise | method | test acc, last epoch | test acc, best epoch | best epoch | ECE, last epoch "
        "| corrupted labels fit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for noise in NOISE_LEVELS:
        for method in methods:
            group = [r for r in runs if r.noise == noise and r.method == method.name]
            if not group:
                continue
            epochs = ", ".join(str(r.best_epoch) for r in group)
            fit = mean_std([r.memorised for r in group]) if noise > 0 else "-"
            lines.append(
                f"| {round(100 * noise)}% | {method.name} | {mean_std([r.last for r in group])} "
                f"| {mean_std([r.best for r in group])} | {epochs} | {mean_std([r.ece for r in group])} | {fit} |"
            )
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()}, Python {platform.python_version()}, "
        f"Keras {keras.__version__} ({keras.backend.backend()} backend), NumPy {np.__version__}, OpenCV {cv2.__version__}"
    )


def write_markdown(path: Path, runs: list[Run], methods: list[Method], args, command: str, wall: float) -> None:
    n_train = round((1 - TEST_SHARE) * 1797)
    text = f"""# Evidence: mixup's effects in miniature

{results_table(runs, methods)}

Mean ± standard deviation over seeds {", ".join(map(str, args.seeds))}; "best epoch" lists each seed's
(chosen on the test set, so it is an optimistic upper bound, as in the label-noise literature).
ECE: expected calibration error of the last epoch's test predictions, {ECE_BINS} equal-width confidence bins.
"Corrupted labels fit": share of the training files under a wrong folder that the final model assigns to
that wrong folder's class (memorisation; chance is about 0.1).

Setup: scikit-learn's digits (1,797 images, 10 classes) upscaled to {args.image_size}x{args.image_size}
grayscale PNGs; a stratified {round(100 * TEST_SHARE)}% test split per seed (~{1797 - n_train} images) and the
other ~{n_train} for training; 40% noise: exactly 40% of the training files filed under a wrong digit drawn
uniformly from the 9 other classes (the test set stays clean). Same CNN (2 conv layers, 1 hidden dense
layer; no dropout, weight decay or augmentation) and Adam (learning rate {args.learning_rate}), batch size
{args.batch_size}, {args.epochs} epochs, for every setting; each seed's settings share the split, the
corrupted files, the initial weights and the sample order. Loader: `workers={args.workers}`.

![test accuracy per epoch, and reliability diagrams](evidence.png)

Command: `{command}`

Machine: {machine()}.

Total wall time: {wall:.0f} s ({wall / 60:.1f} min) for {len(runs)} runs, data writing and figure included.
"""
    path.write_text(text, encoding="utf-8")


# --- figure (OpenCV; no plotting library needed) ------------------------------------------------------


class Panel:
    """One set of axes on a white BGR canvas."""

    FONT = cv2.FONT_HERSHEY_SIMPLEX

    def __init__(self, canvas, box, xlim, ylim, title, xlabel, ylabel):
        self.canvas, self.xlim, self.ylim = canvas, xlim, ylim
        left, top, width, height = box
        self.x0, self.y0, self.x1, self.y1 = left + 60, top + 34, left + width - 14, top + height - 44
        self.text(title, ((self.x0 + self.x1) // 2, top + 20), scale=0.55, centre=True)
        self.text(xlabel, ((self.x0 + self.x1) // 2, self.y1 + 38), centre=True)
        self.text(ylabel, (left + 4, top + 34 - 8))

    def px(self, x, y) -> tuple[int, int]:
        (a, b), (c, d) = self.xlim, self.ylim
        return (
            round(self.x0 + (x - a) / (b - a) * (self.x1 - self.x0)),
            round(self.y1 - (y - c) / (d - c) * (self.y1 - self.y0)),
        )

    def text(self, s, org, scale=0.45, colour=(0, 0, 0), centre=False):
        if centre:
            (w, _), _ = cv2.getTextSize(s, self.FONT, scale, 1)
            org = (org[0] - w // 2, org[1])
        cv2.putText(self.canvas, s, org, self.FONT, scale, colour, 1, cv2.LINE_AA)

    def axes(self, xticks, yticks, fmt="{:g}"):
        for x in xticks:
            p = self.px(x, self.ylim[0])
            cv2.line(self.canvas, (p[0], self.y0), (p[0], self.y1), (235, 235, 235), 1)
            self.text(fmt.format(x), (p[0], self.y1 + 16), scale=0.4, centre=True)
        for y in yticks:
            p = self.px(self.xlim[0], y)
            cv2.line(self.canvas, (self.x0, p[1]), (self.x1, p[1]), (235, 235, 235), 1)
            self.text(fmt.format(y), (self.x0 - 44, p[1] + 5), scale=0.4)
        cv2.rectangle(self.canvas, (self.x0, self.y0), (self.x1, self.y1), (0, 0, 0), 1)

    def clip(self):
        """Redraws the frame's surroundings white: lines drawn outside the axes vanish."""

    def line(self, xs, ys, colour, thickness=2, markers=False):
        points = np.array([self.px(x, y) for x, y in zip(xs, ys, strict=True)], dtype=np.int32)
        points[:, 1] = np.clip(points[:, 1], self.y0, self.y1)
        cv2.polylines(self.canvas, [points], False, colour, thickness, cv2.LINE_AA)
        if markers:
            for p in points:
                cv2.circle(self.canvas, tuple(int(v) for v in p), 3, colour, -1, cv2.LINE_AA)

    def band(self, xs, lo, hi, colour, alpha=0.18):
        top = [self.px(x, y) for x, y in zip(xs, hi, strict=True)]
        bottom = [self.px(x, y) for x, y in zip(xs[::-1], lo[::-1], strict=True)]
        polygon = np.array(top + bottom, dtype=np.int32)
        polygon[:, 1] = np.clip(polygon[:, 1], self.y0, self.y1)
        layer = self.canvas.copy()
        cv2.fillPoly(layer, [polygon], colour, cv2.LINE_AA)
        cv2.addWeighted(layer, alpha, self.canvas, 1 - alpha, 0, dst=self.canvas)

    def legend(self, names, colours, corner="bottom-right"):
        width = 12 + max(cv2.getTextSize(n, self.FONT, 0.42, 1)[0][0] for n in names) + 30
        left = self.x1 - width - 8
        top = self.y1 - 18 * len(names) - 10 if corner == "bottom-right" else self.y0 + 8
        cv2.rectangle(self.canvas, (left, top), (left + width, top + 18 * len(names) + 4), (255, 255, 255), -1)
        cv2.rectangle(self.canvas, (left, top), (left + width, top + 18 * len(names) + 4), (180, 180, 180), 1)
        for k, (name, colour) in enumerate(zip(names, colours, strict=True)):
            y = top + 14 + 18 * k
            cv2.line(self.canvas, (left + 6, y - 4), (left + 30, y - 4), colour, 2, cv2.LINE_AA)
            self.text(name, (left + 36, y), scale=0.42)


def draw_figure(path: Path, runs: list[Run], methods: list[Method], epochs: int) -> None:
    """Top row: mean test accuracy per epoch (band: ± std over seeds), one panel per noise level.
    Bottom row: reliability diagrams of the last epoch's test predictions, all seeds pooled."""
    cell_w, cell_h = 560, 380
    canvas = np.full((2 * cell_h, len(NOISE_LEVELS) * cell_w, 3), 255, np.uint8)
    names = [m.name for m in methods]
    colours = [COLOURS[METHODS.index(m)] for m in methods]
    for col, noise in enumerate(NOISE_LEVELS):
        groups = [[r for r in runs if r.noise == noise and r.method == m.name] for m in methods]
        curves = [np.array([r.accuracy for r in g]) for g in groups if g]
        low = min(float(c.mean(axis=0).min()) for c in curves)
        floor = max(0.0, np.floor(min(low, 0.8) * 10) / 10)
        xs = np.arange(1, epochs + 1)
        acc = Panel(
            canvas,
            (col * cell_w, 0, cell_w, cell_h),
            (1, max(epochs, 2)),
            (floor, 1.0),
            f"test accuracy, {round(100 * noise)}% label noise (mean +- std over seeds)",
            "epoch",
            "accuracy",
        )
        acc.axes(nice_ticks(1, epochs), np.round(np.arange(floor, 1.0001, 0.05 if floor >= 0.5 else 0.1), 2))
        for g, c in zip(groups, colours, strict=True):
            if g:
                a = np.array([r.accuracy for r in g])
                acc.band(xs, a.mean(axis=0) - a.std(axis=0), a.mean(axis=0) + a.std(axis=0), c)
        for g, c in zip(groups, colours, strict=True):
            if g:
                acc.line(xs, np.array([r.accuracy for r in g]).mean(axis=0), c)
        acc.legend(names, colours)

        rel = Panel(
            canvas,
            (col * cell_w, cell_h, cell_w, cell_h),
            (0.0, 1.0),
            (0.0, 1.0),
            f"reliability, {round(100 * noise)}% label noise (last epoch, seeds pooled)",
            "confidence (15 bins)",
            "accuracy",
        )
        rel.axes(np.round(np.arange(0, 1.01, 0.2), 1), np.round(np.arange(0, 1.01, 0.2), 1))
        cv2.line(canvas, rel.px(0, 0), rel.px(1, 1), (170, 170, 170), 1, cv2.LINE_AA)
        for g, c in zip(groups, colours, strict=True):
            if g:
                probs_bins = pooled_reliability(g)
                rel.line([b[0] for b in probs_bins], [b[1] for b in probs_bins], c, markers=True)
        rel.legend(names, colours, corner="top-left" if False else "bottom-right")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), canvas):
        raise OSError(f"Could not write {path}")


def pooled_reliability(group: list[Run]) -> list[tuple[float, float]]:
    """Merges the per-seed bins of runs by the bin each mean confidence falls in."""
    sums: dict[int, list[float]] = {}
    for run in group:
        for confidence, accuracy, count in run.reliability:
            b = min(int(confidence * ECE_BINS), ECE_BINS - 1)
            s = sums.setdefault(b, [0.0, 0.0, 0.0])
            s[0] += confidence * count
            s[1] += accuracy * count
            s[2] += count
    return [(s[0] / s[2], s[1] / s[2]) for _, s in sorted(sums.items())]


def nice_ticks(first: int, last: int) -> list[int]:
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100) if (last - first) / s <= 8)
    return [first] + [t for t in range(step, last + 1, step) if t > first]


# --- main ---------------------------------------------------------------------------------------------

DIGIT_TARGETS: np.ndarray = np.empty(0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one run of each setting per seed")
    parser.add_argument("--epochs", type=int, default=None, help="default 30 (2 with --quick)")
    parser.add_argument("--out", default="out/evidence", help="output folder (the data is written under <out>/data)")
    parser.add_argument("--quick", action="store_true", help="one seed, 2 epochs: a smoke test")
    parser.add_argument("--image-size", type=int, default=24, help="square side in pixels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--workers", type=int, default=0, help="loader threads (0: load in the training thread)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds = args.seeds[:1]
    if args.epochs is None:
        args.epochs = 2 if args.quick else 30
    return args


def main(argv: list[str] | None = None) -> list[Run]:
    global DIGIT_TARGETS
    start = time.perf_counter()
    args = parse_args(argv)
    command = shlex.join(["python", "examples/evidence.py", *(sys.argv[1:] if argv is None else argv)])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from sklearn.datasets import load_digits

    DIGIT_TARGETS = load_digits().target
    methods = list(METHODS)
    runs: list[Run] = []
    for seed in args.seeds:
        trees = write_digits(out / "data" / f"seed{seed}", seed, args.image_size)
        test_seq = ImageFolderSequence(
            trees["test"], batch_size=512, image_size=(args.image_size,) * 2, color_mode="grayscale", shuffle=False
        )
        test = load_all(test_seq)
        for noise in NOISE_LEVELS:
            for method in methods:
                run = train_once(method, noise, seed, trees[noise_key(noise)], test, args)
                runs.append(run)
                print(
                    f"seed {seed} noise {round(100 * noise):>2}% {method.name:<13} last {run.last:.3f} "
                    f"best {run.best:.3f} (epoch {run.best_epoch}) ECE {run.ece:.3f}"
                    + (f" fit {run.memorised:.3f}" if run.memorised is not None else "")
                    + f"  {run.seconds:.1f} s",
                    flush=True,
                )
    draw_figure(out / "evidence.png", runs, methods, args.epochs)
    (out / "results.json").write_text(
        json.dumps({"args": vars(args), "runs": [dataclasses.asdict(r) for r in runs]}, indent=1), encoding="utf-8"
    )
    wall = time.perf_counter() - start
    write_markdown(out / "evidence.md", runs, methods, args, command, wall)
    print(results_table(runs, methods))
    print(f"wrote {out / 'evidence.md'} and {out / 'evidence.png'} in {wall:.0f} s")
    return runs


if __name__ == "__main__":
    main()
