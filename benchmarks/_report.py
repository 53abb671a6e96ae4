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
from collections import deque

import cv2
import numpy as np
from _paths import BILINEAR, PATHS, REFERENCE, RSS_PATHS

PACKAGES = (
    "mixup-sequence",
    "keras",
    "tensorflow-cpu",
    "tensorflow",
    "grain",
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
    """A paired run's ratio per cycle: its reference's images/s over the path's."""
    return [a / b for a, b in zip(record["reference_rates"], record["rates"])]


def _edges(pairs: dict, size: str) -> dict[str, dict[str, list[float]]]:
    """`edges[a][b]`: `a`'s images/s over `b`'s, cycle by cycle, for each two paths run alternately."""
    edges: dict[str, dict[str, list[float]]] = {}
    for (path, s), record in pairs.items():
        if s != size:
            continue
        reference = record.get("reference", REFERENCE)
        ratios = _reference_over_path(record)
        edges.setdefault(reference, {})[path] = ratios
        edges.setdefault(path, {})[reference] = [1.0 / v for v in ratios]
    return edges


def paired_ratios(pairs: dict, num: str, den: str, size: str) -> list[float] | None:
    """`num / den` cycle by cycle; None if no paired runs link them.

    Where the two were not run alternately, through the paths that link
    them: with `num` and `den` each alternated with a reference `r`, cycle
    `k` of `num / r` times cycle `k` of `r / den` (the fewest links first).
    """
    edges = _edges(pairs, size)
    came_from: dict[str, str | None] = {num: None}
    todo = deque([num])
    while todo and den not in came_from:
        node = todo.popleft()
        for neighbour in edges.get(node, {}):
            if neighbour not in came_from:
                came_from[neighbour] = node
                todo.append(neighbour)
    if num == den or den not in came_from:
        return None
    series: list[float] | None = None
    node = den
    while (previous := came_from[node]) is not None:
        step = edges[previous][node]
        series = step if series is None else [a * b for a, b in zip(step, series)]
        node = previous
    return series


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
        "| path | image size | images/s | epochs min–max | warm-up epoch | vs limit | parent CPU ms/batch "
        "| parent peak RSS MB | worker peak RSS MB | workers private MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in _sizes(report):
        for path, info in PATHS.items():
            r = results.get((path, size))
            if r is None:
                continue
            limit = _rate(results, "limit" + (BILINEAR if path.endswith(BILINEAR) else ""), size)
            label = info.title(report["settings"]["workers"])
            if r.get("error"):
                rows.append(f"| {label} | {size} | failed: {_one_line(r['error'])} | | | | | | | |")
                continue
            epochs = r.get("epoch_images_per_s") or []
            spread = f"{min(epochs):.0f}–{max(epochs):.0f}" if epochs else "—"
            warmup = "; ".join(f"{v:.0f}" for v in r.get("warmup_images_per_s") or []) or "—"
            rows.append(
                f"| {label} | {size} | **{_fmt(r['images_per_s'])}** | {spread} | {warmup} "
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


class _Targets:
    """Builds a table of ratios per image size, paired runs' medians where they ran."""

    def __init__(self, report: dict):
        self.report = report
        self.results = _index(report)
        self.pairs = _pairs(report)
        self.sizes = _sizes(report)
        head = "| measure | " + " | ".join(self.sizes) + " | target |"
        self.rows = [head, "| --- | " + " | ".join("---:" for _ in self.sizes) + " | --- |"]

    def ratio(self, label: str, num: str, den: str, check, target: str) -> None:
        """A row of `num / den` per size; `check` None for a row that is not a target (left out if not run)."""
        cells = []
        for size in self.sizes:
            cycles = paired_ratios(self.pairs, num, den, size)
            if cycles:
                q1, value, q3 = _quartiles(cycles)
                spread = f" ({q1:.2f}–{q3:.2f})"
            else:
                value, spread = _ratio(_rate(self.results, num, size), _rate(self.results, den, size)), ""
            mark = "" if value is None or check is None else (" ✓" if check(value) else " ✗")
            cells.append("—" if value is None else f"{value:.2f}{mark}{spread}")
        if check is not None or any(cell != "—" for cell in cells):
            self.rows.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    def parent_cpu(self, label: str, path: str) -> None:
        if not any((path, size) in self.results for size in self.sizes):
            return
        cells = []
        for size in self.sizes:
            ms = (self.results.get((path, size)) or {}).get("parent_cpu_ms_per_batch")
            cells.append("—" if ms is None else f"{ms:.1f} ms {'✓' if ms <= 10 else '✗'}")
        self.rows.append(f"| {label} | " + " | ".join(cells) + " | ≤ 10 ms |")

    def table(self) -> str:
        return "\n".join(self.rows)


def cached_targets_table(report: dict) -> str:
    """The cache's targets: against the decode limit, the tf.data `.cache()` peer, its filling epoch."""
    t = _Targets(report)
    w = report["settings"]["workers"]
    procs = f"{w} processes"
    cores = report["machine"]["cpu_count"]
    limit = f"decode limit (one process x {cores}, same filter)"
    at_least_5 = (lambda v: v >= 5, "≥ 5")
    t.ratio(f"cached, {procs} / {limit}", "ours-cached-processes", "limit-decode", *at_least_5)
    t.ratio(f"cached, {procs}, uint8 output / {limit}", "ours-cached-processes-uint8", "limit-decode", *at_least_5)
    t.ratio(
        f"cached, {procs}, bilinear / {limit}",
        "ours-cached-processes-bilinear",
        "limit-decode-bilinear",
        None,
        "reported (a cheaper resize: a higher limit)",
    )
    t.ratio(
        f"cached, {procs} / tf.data `.cache()` + flip + MixUp",
        "ours-cached-processes",
        "tfdata-cache",
        lambda v: v >= 2,
        "≥ 2",
    )
    for mode, cached_path, uncached in (
        (procs, "ours-fill-processes", "ours-processes"),
        (f"{procs}, uint8 output", "ours-fill-processes-uint8", "ours-processes-uint8"),
        (f"{w} threads", "ours-fill-threads", "ours-threads"),
        ("serial", "ours-fill-serial", "ours-serial"),
    ):
        t.ratio(f"filling epoch / uncached epoch (time), {mode}", uncached, cached_path, lambda v: v <= 1.15, "≤ 1.15")
    t.parent_cpu(f"parent CPU per batch, cached, {procs}", "ours-cached-processes")
    t.parent_cpu(f"parent CPU per batch, cached, {procs}, uint8 output", "ours-cached-processes-uint8")
    t.ratio(f"cached / uncached, {procs}", "ours-cached-processes", "ours-processes", None, "the speed-up")
    t.ratio(f"cached, {procs}: bilinear / area", "ours-cached-processes-bilinear", "ours-cached-processes", None, "≈ 1")
    t.ratio(f"cached: {w} threads / {procs}", "ours-cached-threads", "ours-cached-processes", None, "best effort")
    return t.table()


def targets_table(report: dict) -> str:
    """The uncached targets, each as a ratio from this run (paired runs' median where they ran)."""
    t = _Targets(report)
    w = report["settings"]["workers"]
    procs = f"{w} processes"
    at_once = f"the limit's loop in {procs} at once"
    t.ratio(f"{procs} / {at_once}", "ours-processes", "limit-processes", lambda v: v >= 0.9, "≥ 0.90")
    t.ratio(f"{procs} / naive float32 PyDataset", "ours-processes", "naive-processes", lambda v: v >= 3, "≥ 3")
    t.ratio(f"{procs} / blog recipe as published", "ours-processes", "blog-generator", lambda v: v >= 5, "≥ 5")
    t.ratio(f"{procs} / blog recipe in {procs}", "ours-processes", "blog-processes", lambda v: v >= 5, "≥ 5")
    t.ratio(f"{procs} / tf.data", "ours-processes", "tfdata", lambda v: v >= 1.2, "≥ 1.2")
    t.ratio(f"{w} threads / {procs}", "ours-threads", "ours-processes", None, "best effort (was 0.90–1.10)")
    t.ratio(f"{procs} / limit (one process alone x cores)", "ours-processes", "limit", None, "was ≥ 0.90")
    t.ratio(f"{at_once} / limit", "limit-processes", "limit", None, "not a target")
    t.ratio(f"{procs}, uint8 output / {at_once}", "ours-processes-uint8", "limit-processes", None, "opt-in")
    t.ratio(f"{procs} / Grain + flip + MixUp, {procs}", "ours-processes", "grain", None, "not a target")
    t.ratio(f"{procs}: bilinear / area", "ours-processes-bilinear", "ours-processes", None, "antialiasing's price")
    t.ratio(f"{procs}, bilinear / limit, bilinear", "ours-processes-bilinear", "limit-bilinear", None, "not a target")
    t.parent_cpu(f"parent CPU per batch, {procs}", "ours-processes")
    changes = _rss_changes(report)
    epochs = report["settings"]["rss_epochs"]
    for path in RSS_PATHS:
        if path not in changes:
            continue
        change = changes[path]
        cell = "—" if change is None else f"{change[2] * 100:+.1f}% {'✓' if abs(change[2]) <= 0.05 else '✗'}"
        rss_size = next((r["size"] for r in report["results"] if r.get("kind") == "rss"), t.sizes[0])
        cells = [cell if size == rss_size else "" for size in t.sizes]
        mode = PATHS[path].title(w).split(", ", 1)[1]
        t.rows.append(f"| parent RSS, epoch 2 → {epochs}, {mode} | " + " | ".join(cells) + " | ± 5% |")
    return t.table()


def pairs_table(report: dict) -> str:
    """Each paired run: both medians and the per-cycle ratio's median and quartiles."""
    w = report["settings"]["workers"]
    rows = [
        "| path | image size | cycles | its images/s | alternated with | its images/s "
        "| that / path: median (quartiles) |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in report["results"]:
        if r.get("kind") != "pairs":
            continue
        label = PATHS[r["path"]].title(w)
        reference = PATHS[r.get("reference", REFERENCE)].title(w)
        if r.get("error") or not r.get("rates"):
            rows.append(f"| {label} | {r['size']} | failed: {_one_line(r.get('error') or 'no cycles')} | | | | |")
            continue
        q1, median, q3 = _quartiles(_reference_over_path(r))
        rows.append(
            f"| {label} | {r['size']} | {len(r['rates'])} | {statistics.median(r['rates']):.0f} "
            f"| {reference} | {statistics.median(r['reference_rates']):.0f} | {median:.2f} ({q1:.2f}–{q3:.2f}) |"
        )
    return "\n".join(rows)


def parent_table(report: dict) -> str:
    """The parent profile: CPU and wall time per batch of each layer, float32 and uint8 output."""
    w = report["settings"]["workers"]
    records = [r for r in report["results"] if r.get("kind") == "parent"]
    rows = [
        "| layer | image size | output | CPU ms per batch | wall ms per batch | images/s |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for r in records:
        output = "uint8" if r["path"].endswith("-uint8") else "float32"
        if r.get("error"):
            rows.append(
                f"| {PATHS[r['path']].title(w)} | {r['size']} | {output} | failed: {_one_line(r['error'])} | | |"
            )
            continue
        for stage in r["stages"]:
            rows.append(
                f"| {stage['stage']} | {r['size']} | {output} | {stage['cpu_ms_per_batch']:.2f} "
                f"| {stage['wall_ms_per_batch']:.2f} | {_fmt(stage['images_per_s'])} |"
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
        "### With the image cache",
        "",
        cached_targets_table(report),
        "",
        "### Without the cache",
        "",
        targets_table(report),
        "",
    ]
    if any(r.get("kind") == "pairs" for r in report["results"]):
        lines += [
            "Ratios with quartiles come from the paired runs below (through the paths that link them where "
            "two were not alternated directly); the others from the medians above.",
            "",
        ]
    if any(r.get("kind") == "parent" for r in report["results"]):
        lines += [
            "## Where the parent's time goes at cached rates",
            "",
            "The cached sequence (2 processes) consumed layer by layer, whole epochs each, in one process "
            "(`benchmarks/_parent.py`): its `__getitem__` alone, then through Keras' `PyDatasetAdapter` (numpy "
            "iterator: JAX and PyTorch `fit`; tf.data iterator: TensorFlow `fit`, which copies each batch "
            "into a tensor), then Keras' share alone: the same iterators over a dataset that returns one batch "
            "held in memory, and `tf.convert_to_tensor` of a batch. CPU is the whole process's, all threads.",
            "",
            parent_table(report),
            "",
        ]
    if any(r.get("kind") == "pairs" for r in report["results"]):
        references = sorted({r.get("reference", REFERENCE) for r in report["results"] if r.get("kind") == "pairs"})
        lines += [
            "## Paired runs",
            "",
            f"The machine's speed drifts by 20–40% within minutes, so medians measured minutes apart "
            f"compare badly. Here, per image size, one process alternates one epoch of a reference path "
            f"({' and '.join(PATHS[ref].title(s['workers']) for ref in references)}) with one epoch of each "
            f"path paired with it, {s.get('pairs')} cycles, reversing the order every cycle; each cycle gives "
            "one ratio. The cached paths, the tf.data cache and the decode limits alternate with the cached "
            "2 processes, every other path with the uncached 2 processes, and the uncached 2 processes with "
            "the cached ones, which links the two. "
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
        "The tf.data `.cache()` and Grain peers run `RandomFlip` and `MixUp` only, as such a peer is usually "
        "measured: less augmentation than the library does, so the ratios against them are conservative. "
        "The library's cache (`cache=DIR`, one file a record, under `--cache-dir`, on disk but read from the "
        "page cache once written) is filled by `build_cache()` before the cached paths are timed; a filling "
        "path moves its cache's records aside before each epoch (untimed; deleted when the path is done), "
        "so each of its epochs is a run's first, with the worker pool kept up as on the uncached paths. "
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
        "beside the targets; the uncached targets are now set against it. The decode limit is the limit's "
        "loop without the augmentation: read, decode and resize only, one process times the cores, what "
        "the cached targets are set against. "
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
    "ours-processes-bilinear": (80, 140, 80),
    "ours-fill-serial": (150, 200, 170),
    "ours-fill-threads": (120, 180, 150),
    "ours-fill-processes": (90, 160, 120),
    "ours-fill-processes-uint8": (130, 170, 100),
    "ours-cached-serial": (200, 200, 90),
    "ours-cached-threads": (170, 170, 40),
    "ours-cached-processes": (130, 130, 0),
    "ours-cached-processes-uint8": (160, 110, 20),
    "ours-cached-processes-bilinear": (150, 150, 60),
    "naive-processes": (190, 150, 90),
    "blog-generator": (90, 120, 200),
    "blog-processes": (60, 90, 170),
    "tfdata": (200, 110, 150),
    "tfdata-cache": (170, 80, 120),
    "grain": (80, 160, 220),
    "limit": (90, 90, 90),
    "limit-bilinear": (110, 110, 110),
    "limit-processes": (150, 150, 150),
    "limit-decode": (60, 60, 160),
    "limit-decode-bilinear": (90, 90, 180),
}


def draw_chart(report: dict, path: str) -> None:
    """A horizontal bar chart of images/s per path, one panel per image size."""
    results = _index(report)
    sizes = _sizes(report)
    paths = [p for p in PATHS if any((p, s) in results for s in sizes)]
    font = cv2.FONT_HERSHEY_SIMPLEX
    workers = report["settings"]["workers"]
    longest = max(cv2.getTextSize(PATHS[p].title(workers), font, 0.45, 1)[0][0] for p in paths) if paths else 0
    bar, gap, left, right, top = 26, 8, max(330, longest + 30), 130, 60
    panel_h = 40 + len(paths) * (bar + gap)
    width, height = left + 770, top + len(sizes) * panel_h + 30
    img = np.full((height, width, 3), 255, np.uint8)
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
