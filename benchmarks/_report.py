"""BENCHMARKS.md, the bar chart (drawn with OpenCV: matplotlib is not a dependency) and the machine description."""

from __future__ import annotations

import importlib.metadata
import multiprocessing
import os
import platform
import shlex
import statistics
import subprocess
import sys

import cv2
import numpy as np
from _paths import OURS, PATHS, REFERENCE

PACKAGES = (
    "mixup-sequence",
    "keras",
    "tensorflow-cpu",
    "tensorflow",
    "numpy",
    "opencv-python-headless",
    "albumentations",
    "scikit-image",
)


def command_line(argv: list[str]) -> str:
    exe = sys.executable
    try:
        rel = os.path.relpath(exe)
        exe = rel if not rel.startswith("..") else exe
    except ValueError:
        pass
    script = os.path.relpath(os.path.abspath(argv[0])) if os.path.exists(argv[0]) else argv[0]
    return " ".join(shlex.quote(a) for a in [exe, script, *argv[1:]])


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _git(*args: str) -> str:
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as f:
            mem_gb = int(f.readline().split()[1]) / 1024**2
    except (OSError, ValueError, IndexError):
        pass
    dirty = _git("status", "--porcelain", "--", "mixup_sequence")
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": mem_gb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "commit": (
            _git("rev-parse", "--short", "HEAD") + (" + uncommitted changes in mixup_sequence/" if dirty else "")
        )
        or "?",
        "default_start_method": multiprocessing.get_start_method(allow_none=True)
        or multiprocessing.get_context().get_start_method(),
        "loadavg_start": loadavg(),
    }


# --- tables -----------------------------------------------------------------


def _index(report: dict) -> dict[tuple[str, str], dict]:
    return {(r["path"], r["size"]): r for r in report["results"] if r.get("kind", "throughput") == "throughput"}


def _rate(results: dict, path: str, size: str) -> float | None:
    r = results.get((path, size))
    return r.get("images_per_s") if r else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _pairs(report: dict) -> dict[tuple[str, str], dict]:
    return {
        (r["path"], r["size"]): r
        for r in report["results"]
        if r.get("kind") == "pairs" and not r.get("error") and r.get("rates")
    }


def _reference_over_path(record: dict) -> list[float]:
    """A paired run's ratio per cycle: the reference's images/s over the path's."""
    return [a / b for a, b in zip(record["reference_rates"], record["rates"])]


def paired_ratios(pairs: dict, num: str, den: str, size: str) -> list[float] | None:
    """`num / den` cycle by cycle; None if not run.

    Where neither is the paired runs' reference but both were paired with it,
    through it: cycle `k` of `num / reference` times cycle `k` of `reference / den`.
    """
    if num == REFERENCE and (den, size) in pairs:
        return _reference_over_path(pairs[(den, size)])
    if den == REFERENCE and (num, size) in pairs:
        return [1.0 / v for v in _reference_over_path(pairs[(num, size)])]
    if (num, size) in pairs and (den, size) in pairs:
        ref_over_num, ref_over_den = (_reference_over_path(pairs[(p, size)]) for p in (num, den))
        return [b / a for a, b in zip(ref_over_num, ref_over_den)]
    return None


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def _fmt(value: float | None, spec: str = ".0f", suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def _sizes(report: dict) -> list[str]:
    return list(report["settings"]["sizes"])


def throughput_table(report: dict) -> str:
    results = _index(report)
    rows = [
        "| path | image size | images/s | epochs min–max | vs limit | parent CPU ms/batch | parent peak RSS MB "
        "| worker peak RSS MB | workers private MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in _sizes(report):
        limit = _rate(results, "limit", size)
        for path, info in PATHS.items():
            r = results.get((path, size))
            if r is None:
                continue
            label = info.title(report["settings"]["workers"])
            if r.get("error"):
                rows.append(f"| {label} | {size} | failed: {_one_line(r['error'])} | | | | | | |")
                continue
            epochs = r.get("epoch_images_per_s") or []
            spread = f"{min(epochs):.0f}–{max(epochs):.0f}" if epochs else "—"
            rows.append(
                f"| {label} | {size} | **{_fmt(r['images_per_s'])}** | {spread} "
                f"| {_fmt(_ratio(r['images_per_s'], limit), '.2f')} | {_fmt(r.get('parent_cpu_ms_per_batch'), '.1f')} "
                f"| {_fmt(r.get('parent_peak_rss_mb'))} | {_fmt(r.get('worker_peak_rss_mb'))} "
                f"| {_fmt(r.get('workers_private_mb'))} |"
            )
    return "\n".join(rows)


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rss_changes(report: dict) -> dict[str, tuple[float, float, float] | None]:
    """Per library mode: (RSS after epoch 2, after the last epoch, change)."""
    out: dict[str, tuple[float, float, float] | None] = {}
    for r in report["results"]:
        if r.get("kind") != "rss":
            continue
        series = r.get("parent_rss_per_epoch_mb") or []
        if r.get("error") or len(series) < 2:
            out[r["path"]] = None
            continue
        first, last = series[1], series[-1]
        out[r["path"]] = (first, last, (last - first) / first)
    return out


def targets_table(report: dict) -> str:
    """The issue's targets, each as a ratio from this run (paired runs' median where they ran)."""
    results = _index(report)
    pairs = _pairs(report)
    sizes = _sizes(report)
    head = "| measure | " + " | ".join(sizes) + " | target |"
    rows = [head, "| --- | " + " | ".join("---:" for _ in sizes) + " | --- |"]

    def ratio_row(label: str, num: str, den: str, check, target: str) -> None:
        """A row of `num / den` per size; `check` None for a row that is not a target."""
        cells = []
        for size in sizes:
            cycles = paired_ratios(pairs, num, den, size)
            if cycles:
                q1, value, q3 = _quartiles(cycles)
                spread = f" ({q1:.2f}–{q3:.2f})"
            else:
                value, spread = _ratio(_rate(results, num, size), _rate(results, den, size)), ""
            mark = "" if value is None or check is None else (" ✓" if check(value) else " ✗")
            cells.append("—" if value is None else f"{value:.2f}{mark}{spread}")
        if check is not None or any(cell != "—" for cell in cells):  # a row not run that is not a target: left out
            rows.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    w = report["settings"]["workers"]
    procs = f"{w} processes"
    ratio_row(f"{procs} / limit", "ours-processes", "limit", lambda v: v >= 0.9, "≥ 0.90")
    at_once = f"the limit's loop in {procs} at once"
    ratio_row(f"{procs} / {at_once}", "ours-processes", "limit-processes", None, "not a target")
    ratio_row(f"{at_once} / limit", "limit-processes", "limit", None, "not a target")
    ratio_row(f"{procs} / naive float32 PyDataset", "ours-processes", "naive-processes", lambda v: v >= 3, "≥ 3")
    ratio_row(f"{procs} / blog recipe as published", "ours-processes", "blog-generator", lambda v: v >= 5, "≥ 5")
    ratio_row(f"{procs} / blog recipe in {procs}", "ours-processes", "blog-processes", lambda v: v >= 5, "≥ 5")
    ratio_row(f"{procs} / tf.data", "ours-processes", "tfdata", lambda v: v >= 1.2, "≥ 1.2")
    ratio_row(f"{w} threads / {procs}", "ours-threads", "ours-processes", lambda v: abs(v - 1) <= 0.1, "0.90–1.10")
    uint8 = "ours-processes-uint8"
    if any(r["path"] == uint8 for r in report["results"]):  # an opt-in output, not what the targets measure
        ratio_row(f"{procs}, uint8 output / limit", uint8, "limit", lambda v: v >= 0.9, "(opt-in) ≥ 0.90")
    cells = []
    for size in sizes:
        r = results.get(("ours-processes", size)) or {}
        ms = r.get("parent_cpu_ms_per_batch")
        cells.append("—" if ms is None else f"{ms:.1f} ms {'✓' if ms <= 10 else '✗'}")
    batch = report["settings"]["batch_size"]
    rows.append(f"| parent CPU per batch of {batch}, {procs} | " + " | ".join(cells) + " | ≤ 10 ms (64 at 224x224) |")
    changes = _rss_changes(report)
    epochs = report["settings"]["rss_epochs"]
    for path in OURS:
        if path not in changes:
            continue
        change = changes[path]
        cell = "—" if change is None else f"{change[2] * 100:+.1f}% {'✓' if abs(change[2]) <= 0.05 else '✗'}"
        rss_size = next((r["size"] for r in report["results"] if r.get("kind") == "rss"), sizes[0])
        cells = [cell if size == rss_size else "" for size in sizes]
        rows.append(
            f"| parent RSS, epoch 2 → {epochs}, {PATHS[path].title(w).split(', ')[1]} | "
            + " | ".join(cells)
            + " | ± 5% |"
        )
    return "\n".join(rows)


def pairs_table(report: dict) -> str:
    """Each paired run: both medians and the per-cycle ratio's median and quartiles."""
    w = report["settings"]["workers"]
    ref = PATHS[REFERENCE].title(w)
    rows = [
        f"| path | image size | cycles | its images/s | {ref}, images/s | {ref} / path: median (quartiles) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in report["results"]:
        if r.get("kind") != "pairs":
            continue
        label = PATHS[r["path"]].title(w)
        if r.get("error") or not r.get("rates"):
            rows.append(f"| {label} | {r['size']} | failed: {_one_line(r.get('error') or 'no cycles')} | | | |")
            continue
        q1, median, q3 = _quartiles(_reference_over_path(r))
        rows.append(
            f"| {label} | {r['size']} | {len(r['rates'])} | {statistics.median(r['rates']):.0f} "
            f"| {statistics.median(r['reference_rates']):.0f} | {median:.2f} ({q1:.2f}–{q3:.2f}) |"
        )
    return "\n".join(rows)


def rss_table(report: dict) -> str:
    rows = [
        "| mode | RSS after epoch 2 MB | after last epoch MB | change | max, epochs 2.. MB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in report["results"]:
        if r.get("kind") != "rss":
            continue
        series = r.get("parent_rss_per_epoch_mb") or []
        label = PATHS[r["path"]].title(report["settings"]["workers"])
        if r.get("error") or len(series) < 2:
            rows.append(f"| {label} | failed: {_one_line(r.get('error') or 'too few epochs')} | | | |")
            continue
        first, last = series[1], series[-1]
        rows.append(
            f"| {label} ({len(series)} epochs, {r['size']}) | {first:.0f} | {last:.0f} "
            f"| {(last - first) / first * 100:+.1f}% | {max(series[1:]):.0f} |"
        )
    return "\n".join(rows)


def markdown(report: dict, chart_name: str) -> str:
    m, s, d = report["machine"], report["settings"], report["dataset"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    sizes = "; ".join(f"{k} from the {v['source']} set" for k, v in s["sizes"].items())
    lines = [
        "# Loader benchmark",
        "",
        f"Command (from the repository root): `{report['command']}`",
        "",
        f"Run {report['started']}, {report['duration_s']:.0f} s. Machine: {m['cpu_model']}, "
        f"os.cpu_count() = {m['cpu_count']} ({m['cpus_usable']} usable), "
        f"{_fmt(m['memory_gb'], '.0f')} GB RAM, Linux {m['kernel']}, Python {m['python']}; {versions}; "
        f"library commit {m['commit']}; start method {s['start_method']}. "
        f"Load average {m['loadavg_start']} at the start, {m.get('loadavg_end', '?')} at the end "
        "(the cores may be shared with other work: compare ratios, which come from the same run).",
        "",
        f"Batch {s['batch_size']}, {sizes}; {s['images_per_epoch']} images per epoch "
        f"({s['images']} in the set); {s['warmup']} warm-up epoch(s) dropped, median of {s['epochs']} measured"
        + (
            f" in each of {s['rounds']} rounds (every path once a round, round after round, its epochs pooled); "
            if s.get("rounds", 1) > 1
            else "; "
        )
        + f"{s['workers']} workers; resize `{s['interpolation']}`; mixup alpha {s['alpha']}; "
        f"Keras adapter iterator: `{s['adapter']}`"
        + (
            "; one process per path and size."
            if s["isolate"]
            else "; the Keras paths share one process, the limit has its own."
        )
        + (" **Quick mode: a smoke test, not a measurement.**" if s["quick"] else ""),
        "",
        "## Throughput",
        "",
        throughput_table(report),
        "",
        f"![images per second]({chart_name})",
        "",
        "## Targets (ratios within this run)",
        "",
        targets_table(report),
        "",
    ]
    if any(r.get("kind") == "pairs" for r in report["results"]):
        lines[-2:-1] = [
            lines[-2],
            "",
            "Ratios with quartiles come from the paired runs below; the others from the medians above.",
        ]
        lines += [
            "## Paired runs",
            "",
            f"The machine's speed drifts by 20–40% within minutes, so medians measured minutes apart "
            f"compare badly. Here, per image size, one process alternates one epoch of "
            f"{PATHS[REFERENCE].title(s['workers'])} with one epoch of each other path, "
            f"{s.get('pairs')} cycles, reversing the order every cycle; each cycle gives one ratio. "
            "Between epochs the library's pool finishes the batches it prefetched and drops them, so "
            "neither side runs during the other's epoch or starts with batches made outside its own time. "
            "OpenCV runs with one thread for every path here (the naive path's workers inherit it, "
            "which only helps that path).",
            "",
            pairs_table(report),
            "",
        ]
    if any(r.get("kind") == "rss" for r in report["results"]):
        lines += ["## Parent RSS over epochs (this library)", "", rss_table(report), ""]
    if report.get("shm_leftovers"):
        lines += ["## /dev/shm entries left behind", ""] + [f"- `{x}`" for x in report["shm_leftovers"]] + [""]
    lines += [
        "## The paths",
        "",
        *[f"- **{info.title(s['workers'])}** (`{name}`): {info.how}." for name, info in PATHS.items()],
        "",
        "Every OpenCV path runs the same Albumentations chain: `HorizontalFlip(p=0.5)`, "
        "`Affine(rotate=(-10, 10), p=0.5)`, `RandomBrightnessContrast(p=0.5)`. tf.data uses "
        '`RandomFlip("horizontal")`, `RandomRotation(10/360, fill_mode="constant")`, `RandomBrightness(0.2)`, '
        "`RandomContrast(0.2)` (applied to every image) then `MixUp(alpha)`, with the same resize filter. "
        "The blog recipe's `ImageDataGenerator(rescale=1/255, horizontal_flip=True, rotation_range=10, "
        'brightness_range=(0.8, 1.2), fill_mode="constant")` is the nearest to the chain; it resizes with '
        "`flow_from_directory`'s default (`nearest`), returns float64, and decodes every image twice. "
        "To run on Keras 3 the recipe needed two changes: `next(it)` for `it.next()` (gone from Keras 3's "
        "iterators) and `lam` sized to the batch returned (the original crashes on the short batch when "
        "the image count is not a multiple of the batch size).",
        "",
        "Measured per path: images/s over whole epochs (from before `on_epoch_begin` to after `on_epoch_end`, "
        "so a fresh worker pool per epoch is paid as in `fit`); parent CPU = `time.process_time()` of the "
        "consuming process (all its threads) per batch; parent peak RSS = `VmHWM`, reset before each path; "
        "worker peak RSS = the largest `VmHWM` among the process's descendants (a forked worker counts the "
        "pages it shares with the parent); workers private = largest sum over time of their "
        "`Private_Clean + Private_Dirty`. The limit is a bare loop of read + decode + resize + augment in one "
        "process with one OpenCV thread, times `os.cpu_count()`; it does no batching and no mixing. "
        "It calls `cv2.imread` and `cv2.resize`; the library's resize gives the same pixels faster (an area "
        "shrink by a non-integer factor runs on a float32 copy), which `make bench-saturation` shows apart. "
        "The limit's loop is also run as it is in the workers' count of forked processes at once, "
        "each over its share of the files (`limit-processes`): what the cores deliver side by side, "
        "where they share caches, memory bandwidth and, on a virtual machine, the host; it is shown "
        "beside the targets, not in place of the limit they are defined against. "
        "Reduced-scale JPEG decode (`IMREAD_REDUCED_*`) cannot help either setting: "
        "no source side is twice the target.",
        "",
        "## Data",
        "",
        f"{d['n_images']} JPEGs at quality {d['jpeg_quality']} in {len(d['classes'])} classes (mean "
        f"{d['mean_kb']['500x375']:.0f} kB at about 500x375, {d['mean_kb']['256x256']:.0f} kB at 256x256), "
        "random crops (scale, position, flip) of the photographs below, sharpened, colour-jittered and with "
        f"mild noise, seeded; made by `benchmarks/_dataset.py` from scikit-image {d['skimage_version']}. "
        "Licences as stated in each function's docstring:",
        "",
        "| class | source | licence note |",
        "| --- | --- | --- |",
        *[
            f"| {i['class']} | `{i['source']}` ({'x'.join(map(str, i['shape'][:2]))}) | {i['licence']} |"
            for i in d["images"]
        ],
        "",
    ]
    return "\n".join(lines)


# --- chart ------------------------------------------------------------------

_COLOURS = {  # BGR
    "ours-serial": (120, 190, 120),
    "ours-threads": (60, 160, 60),
    "ours-processes": (30, 120, 30),
    "ours-processes-uint8": (110, 150, 40),
    "naive-processes": (190, 150, 90),
    "blog-generator": (90, 120, 200),
    "blog-processes": (60, 90, 170),
    "tfdata": (200, 110, 150),
    "limit": (90, 90, 90),
    "limit-processes": (150, 150, 150),
}


def draw_chart(report: dict, path: str) -> None:
    """A horizontal bar chart of images/s per path, one panel per image size."""
    results = _index(report)
    sizes = _sizes(report)
    paths = [p for p in PATHS if any((p, s) in results for s in sizes)]
    bar, gap, left, right, top = 26, 8, 330, 130, 60
    panel_h = 40 + len(paths) * (bar + gap)
    width, height = 1100, top + len(sizes) * panel_h + 30
    img = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    batch = report["settings"]["batch_size"]
    title = f"Images per second through Keras' PyDataset adapter (batch {batch}, mixup + 3 augmentations)"
    if report["settings"]["quick"]:
        title += " - quick"
    cv2.putText(img, title, (16, 32), font, 0.62, (0, 0, 0), 1, cv2.LINE_AA)
    rates = [results[(p, s)].get("images_per_s") or 0 for p in paths for s in sizes if (p, s) in results]
    top_rate = max(rates + [1.0]) * 1.05
    scale = (width - left - right) / top_rate
    for k, size in enumerate(sizes):
        y0 = top + k * panel_h
        cv2.putText(img, size, (16, y0 + 22), font, 0.6, (0, 0, 0), 2, cv2.LINE_AA)
        for j, p in enumerate(paths):
            y = y0 + 36 + j * (bar + gap)
            r = results.get((p, size)) or {}
            rate = r.get("images_per_s")
            label = PATHS[p].title(report["settings"]["workers"])
            cv2.putText(img, label, (16, y + 18), font, 0.45, (40, 40, 40), 1, cv2.LINE_AA)
            if rate:
                cv2.rectangle(img, (left, y), (left + int(rate * scale), y + bar), _COLOURS.get(p, (128, 128, 128)), -1)
                text = f"{rate:.0f}"
            else:
                text = "failed" if r.get("error") else "n/a"
            x_text = left + int((rate or 0) * scale) + 6
            cv2.putText(img, text, (x_text, y + 18), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        limit = _rate(results, "limit", size)
        if limit:
            x = left + int(limit * scale)
            for yy in range(y0 + 30, y0 + panel_h - 4, 8):
                cv2.line(img, (x, yy), (x, min(yy + 4, y0 + panel_h - 4)), (0, 0, 200), 1)
    note = f"{report['machine']['cpu_model']}, {report['machine']['cpu_count']} cores; dashed: the limit"
    cv2.putText(img, note, (16, height - 12), font, 0.45, (90, 90, 90), 1, cv2.LINE_AA)
    cv2.imwrite(path, img)
