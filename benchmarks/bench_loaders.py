"""Images per second through Keras' own PyDataset iteration: this library against the usual alternatives.

    python benchmarks/bench_loaders.py            # make bench: the full run (tens of minutes on 2 cores)
    python benchmarks/bench_loaders.py --quick    # make bench-quick: a smoke test (200 images, 3 batches of 16)

Builds its own data set (2,000 JPEGs of about 500x375 at quality 90 in 10
classes, cut from photographs shipped in scikit-image, plus a 256x256
variant; cached under `--data-dir`), then measures in one run, side by
side, batch 64 at 224x224 (from the 500x375 set) and at 150x150 (from the
256x256 set), every path running the same augmentation and mixup
(alpha 0.2):

1. this library: serial, 2 threads, 2 processes (float32, and uint8
   output), and with `interpolation="bilinear"`; with the image cache
   (`cache=DIR`): its filling epoch (a new, empty cache every epoch) and
   its cached epochs, in the same modes;
2. the blog's `MixupImageDataGenerator` recipe (two `flow_from_directory`
   iterators zipped), as published (a generator) and behind a PyDataset
   with 2 worker processes;
3. `image_dataset_from_directory` + Keras augmentation layers + `MixUp`
   in tf.data with AUTOTUNE; the same with `.cache()` after the resize
   and a flip + `MixUp` after it; and `format="grain"` with the flip and
   `MixUp` in 2 Grain worker processes;
4. a naive OpenCV `PyDataset` returning float32 from 2 worker processes;
5. the limit: the same read + decode + resize + augment in a bare loop in
   one process, times the number of cores; that loop run in as many
   forked processes at once as the library has workers, each over its
   share of the files; and the decode limit: read + decode + resize
   alone, one process times the cores, area and bilinear.

Each path runs in a fresh Python process (with `--quick` or `--no-isolate`,
one process runs all the Keras paths), one warm-up epoch is dropped and the
median of the measured epochs is reported, with the parent's CPU per batch, peak RSS of
the parent and of the workers, and (`--rss-epochs`) the parent's RSS from
epoch 2 to epoch N in each mode of this library. `--pairs` then alternates
epochs of two paths for ratios paired in time, and `--profile-parent`
splits the consuming process's CPU per batch at cached rates into its layers
(see `_parent.py`). Writes `<out>/BENCHMARKS.md`, `<out>/throughput.png` and
`<out>/results.json`. Ratios are against baselines of the same run. A
benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network call on import
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Each setting measured: its label -> (data set variant, image size).
SETTINGS = {"224x224": ("500x375", (224, 224)), "150x150": ("256x256", (150, 150))}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from _paths import PATHS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--quick", action="store_true", help="smoke test: 200 images, 3 batches of 16 a path, 1 measured epoch"
    )
    p.add_argument("--images", type=int, help="images in the data set (default 2000; quick 200)")
    p.add_argument("--batches", type=int, help="batches per epoch: the first batches*batch_size images (default all)")
    p.add_argument("--epochs", type=int, help="measured epochs per path; the median is reported (default 3; quick 1)")
    p.add_argument("--warmup", type=int, default=1, help="epochs run first and not measured (default 1)")
    p.add_argument(
        "--rss-epochs", type=int, help="epochs of the RSS flatness run per library mode, 0 = off (default 20; quick 3)"
    )
    p.add_argument("--batch-size", type=int, help="default 64; quick 16")
    p.add_argument("--alpha", type=float, default=0.2, help="mixup alpha")
    p.add_argument("--workers", type=int, default=2, help="workers of the threads/processes paths (default 2)")
    p.add_argument("--interpolation", default="area", choices=("area", "bilinear", "bicubic", "nearest"))
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"comma list of {list(SETTINGS)}")
    p.add_argument("--paths", default=",".join(PATHS), help="comma list of paths:\n" + "\n".join(PATHS))
    p.add_argument(
        "--adapter", default="numpy", choices=("numpy", "tf"), help="adapter iterator: get_numpy_iterator (default)"
    )
    p.add_argument("--start-method", choices=("fork", "forkserver", "spawn"), help="multiprocessing start method")
    p.add_argument("--isolate", action=argparse.BooleanOptionalAction, help="one process per path and size")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every throughput job this many times, round after round, and pool the epochs: the machine's "
        "speed drifts over minutes, and interleaving spreads the drift over all paths (default 1)",
    )
    p.add_argument(
        "--pairs",
        type=int,
        default=0,
        help="then, per image size, this many cycles alternating one epoch of ours-processes with one of each "
        "other path, for ratios paired in time; the targets use them (default 0 = off)",
    )
    p.add_argument(
        "--profile-parent",
        type=int,
        help="epochs per layer of the parent's CPU profile at cached rates, per image size, 0 = off "
        "(default 3; quick 1)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-interval", type=float, default=0.5, help="seconds between worker memory samples")
    p.add_argument("--job-timeout", type=float, help="seconds before a benchmark process is killed")
    p.add_argument("--out", default=os.path.join("out", "bench"))
    p.add_argument("--data-dir", default=os.path.join("out", "bench", "data"), help="cache of the generated JPEGs")
    p.add_argument("--cache-dir", help="the library's image caches, cached and filling paths (default <out>/cache)")
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {
        "images": 200 if quick else 2000,
        "batches": 3 if quick else None,
        "batch_size": 16 if quick else 64,
        "epochs": 1 if quick else 3,
        "rss_epochs": 3 if quick else 20,
        "profile_parent": 1 if quick else 3,
        "cache_dir": os.path.join(args.out, "cache"),
        "isolate": not quick,
        "job_timeout": 600 if quick else 3600,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.paths = [s for s in args.paths.split(",") if s]
    args.settings = [s for s in args.settings.split(",") if s]
    unknown = [s for s in args.paths if s not in PATHS] + [s for s in args.settings if s not in SETTINGS]
    if unknown:
        p.error(f"unknown paths or settings: {unknown}")
    return args


def job_settings(args: argparse.Namespace) -> dict:
    """What every benchmark process is told besides its items."""
    return {
        "batch_size": args.batch_size,
        "alpha": args.alpha,
        "workers": args.workers,
        "interpolation": args.interpolation,
        "adapter": args.adapter,
        "seed": args.seed,
        "warmup": args.warmup,
        "epochs": args.epochs,
        "start_method": args.start_method,
        "cache_dir": os.path.abspath(args.cache_dir),
    }


# Paths whose every epoch starts worker processes that import TensorFlow (about 20 s on 2 busy cores):
# in quick mode they run one epoch, at the first image size only.
QUICK_ONCE = ("grain",)


def plan_jobs(args: argparse.Namespace, data_dirs: dict[str, str]) -> list[dict]:
    """The benchmark processes to run: each a list of `(path, size)` items."""
    from _paths import PATHS, RSS_PATHS

    common = job_settings(args)

    def item(path: str, setting: str, **extra) -> dict:
        return dict(path=path, size=setting, data=data_dirs[setting], image_size=SETTINGS[setting][1], **extra)

    measured = []
    for k, s in enumerate(args.settings):
        for path in args.paths:
            if args.quick and path in QUICK_ONCE:
                if k == 0:
                    measured.append(item(path, s, warmup=0))
            else:
                measured.append(item(path, s))
    rss_setting = args.settings[0]
    rss = [
        item(path, rss_setting, kind="rss", warmup=0, epochs=args.rss_epochs, note="rss")
        for path in RSS_PATHS
        if path in args.paths and args.rss_epochs > 0
    ]
    for it in measured:
        it["kind"] = "throughput"
    profile = [
        item(path, s, kind="parent", epochs=args.profile_parent)
        for s in args.settings
        for path in ("ours-cached-processes", "ours-cached-processes-uint8")
        if path in args.paths and args.profile_parent > 0
    ]
    if args.isolate:  # the profile after the rest, one process per image size
        groups = [[it] for it in measured + rss]
        groups += [[it for it in profile if it["size"] == s] for s in args.settings]
    else:  # one process without Keras and one with it (one ~10 s Keras import), tf.data last
        rank = {path: k for k, path in enumerate(PATHS)}
        keras_items = sorted((it for it in measured if PATHS[it["path"]].keras), key=lambda it: rank[it["path"]])
        ours = [it for it in keras_items if it["path"].startswith("ours-")]
        others = [it for it in keras_items if not it["path"].startswith("ours-")]
        groups = [[it for it in measured if not PATHS[it["path"]].keras], ours + rss + profile + others]
    return [dict(common, items=g) for g in groups if g]


def plan_pairs(args: argparse.Namespace, data_dirs: dict[str, str]) -> list[dict]:
    """One process per image size and reference, alternating the reference with each of its paths."""
    from _paths import pair_groups

    if args.pairs <= 0:
        return []
    jobs = []
    for setting in args.settings:
        for reference, paths in pair_groups(args.paths).items():
            items = [
                dict(path=path, size=setting, data=data_dirs[setting], image_size=SETTINGS[setting][1], kind="pairs")
                for path in paths
            ]
            jobs.append(dict(job_settings(args), pairs=args.pairs, reference=reference, items=items))
    return jobs


def _shm() -> set[str]:
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def shm_leftovers(found: list[tuple[str, str, int]]) -> list[str]:
    """The /dev/shm entries that appeared during a job and are still there now.

    Other programs on the machine come and go in /dev/shm too: an entry that
    has gone by the end of the run was not left behind, and one that names
    another process id (the library's names carry the creating process's,
    as joblib's do) is not the job's.
    """
    now = _shm()
    left = []
    for job, name, pid in found:
        named = re.search(r"-(\d+)-", name)
        if name in now and (named is None or int(named.group(1)) == pid):
            left.append(f"{job}: {name}")
    return left


def merge_rounds(results: list[dict]) -> list[dict]:
    """Pools the rounds of each (path, size, kind): epochs together, their median, the worst peaks."""
    merged: dict[tuple, dict] = {}
    for r in results:
        key = (r["path"], r["size"], r.get("kind"))
        if key not in merged:
            merged[key] = dict(r, rounds=1)
            continue
        m = merged[key]
        m["rounds"] += 1
        if r.get("kind") == "pairs":  # cycles stay paired: both series grow together
            if not (r.get("error") or m.get("error")):
                m["rates"] = m["rates"] + r["rates"]
                m["reference_rates"] = m["reference_rates"] + r["reference_rates"]
                m["images_per_s"] = statistics.median(m["rates"])
            continue
        if r.get("error") or m.get("error"):
            m["error"] = m.get("error") or r.get("error")
            continue
        m["epoch_images_per_s"] = m["epoch_images_per_s"] + r["epoch_images_per_s"]
        m["images_per_s"] = statistics.median(m["epoch_images_per_s"])
        cpu = [v for v in (m.get("parent_cpu_ms_per_batch"), r.get("parent_cpu_ms_per_batch")) if v is not None]
        m["parent_cpu_ms_per_batch"] = max(cpu) if cpu else None
        for peak in ("parent_peak_rss_mb", "worker_peak_rss_mb", "workers_private_mb"):
            values = [v for v in (m.get(peak), r.get(peak)) if v is not None]
            m[peak] = max(values) if values else None
    return list(merged.values())


def run_jobs(
    jobs: list[dict], args: argparse.Namespace, log_dir: str, label: str = ""
) -> tuple[list[dict], list[tuple[str, str, int]]]:
    """Runs each job in its own Python process; returns all measurements and the /dev/shm entries that appeared.

    Each entry as `(job, name, the job's process id)`: see `shm_leftovers`.
    """
    from _measure import ChildMemorySampler

    results, leaks = [], []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [HERE, ROOT, os.environ.get("PYTHONPATH")])))
    for number, job in enumerate(jobs, 1):
        names = ", ".join(
            f"{it['path']}@{it['size']}" + (f" ({it['kind']})" if it["kind"] in ("rss", "parent") else "")
            for it in job["items"]
        )
        if job.get("reference"):
            names += f", each alternated with {job['reference']}"
        print(f"[{time.strftime('%H:%M:%S')}] {label}job {number}/{len(jobs)}: {names}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            job_file, result_file = os.path.join(tmp, "job.json"), os.path.join(tmp, "result.json")
            marker = os.path.join(tmp, "measuring")
            with open(job_file, "w") as f:
                json.dump(dict(job, marker=marker), f)
            log_file = os.path.join(log_dir, f"{label.strip().replace(' ', '')}job{number:02d}.log")
            shm_before = _shm()
            with open(log_file, "w") as log:
                proc = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), "--child", job_file, result_file],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # its own process group, so a hung job's workers go with it
                )
                sampler = ChildMemorySampler(proc.pid, marker, args.sample_interval)
                sampler.start()
                try:
                    proc.wait(timeout=args.job_timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                finally:
                    sampler.stop()
            time.sleep(0.2)
            new_shm = sorted(_shm() - shm_before)
            leaks += [(f"job {number} ({names})", name, proc.pid) for name in new_shm]
            if os.path.exists(result_file):
                with open(result_file) as f:
                    job_results = json.load(f)
            else:
                with open(log_file) as f:
                    tail = f.read()[-1500:]
                why = "timed out" if proc.returncode == -signal.SIGKILL else f"exit status {proc.returncode}"
                job_results = [
                    {"path": it["path"], "size": it["size"], "error": f"process {why}; log {log_file}: {tail}"}
                    for it in job["items"]
                ]
        for k, (it, r) in enumerate(zip(job["items"], job_results)):
            r["kind"] = it["kind"]
            r.update(sampler.summary(str(k)))
            rate = r.get("images_per_s")
            print(
                f"    {r['path']:32s} {r['size']:8s} {it['kind']:10s} "
                + (f"{rate:8.1f} images/s" if rate else f"FAILED {str(r.get('error'))[:300]}"),
                flush=True,
            )
        results += job_results
    return results, leaks


def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) == 4 and sys.argv[1] == "--child":
        from _paths import child_main

        child_main(sys.argv[2], sys.argv[3])
        return
    import _dataset
    import _report

    args = parse_args(argv)
    command = _report.command_line(sys.argv if argv is None else ["benchmarks/bench_loaders.py", *argv])
    started = time.time()
    os.makedirs(args.out, exist_ok=True)
    log_dir = os.path.join(args.out, "logs")
    os.makedirs(log_dir, exist_ok=True)
    machine = _report.machine()
    data = _dataset.build(args.data_dir, args.images, seed=0, log=print)
    per_epoch = args.images if args.batches is None else min(args.images, args.batches * args.batch_size)
    data_dirs = {s: _dataset.view(data, SETTINGS[s][0], per_epoch) for s in args.settings}
    jobs = plan_jobs(args, data_dirs)
    results, leaks = run_jobs(jobs, args, log_dir, "round 1, " if args.rounds > 1 else "")
    repeat = [dict(j, items=[it for it in j["items"] if it["kind"] == "throughput"]) for j in jobs]
    for number in range(2, args.rounds + 1):
        more, more_leaks = run_jobs([j for j in repeat if j["items"]], args, log_dir, f"round {number}, ")
        results += more
        leaks += more_leaks
    pair_jobs = plan_pairs(args, data_dirs)
    if pair_jobs:
        more, more_leaks = run_jobs(pair_jobs, args, log_dir, "paired, ")
        results += more
        leaks += more_leaks
    results = merge_rounds(results)
    machine["loadavg_end"] = _report.loadavg()
    report = {
        "command": command,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "duration_s": time.time() - started,
        "machine": machine,
        "settings": {
            "images": args.images,
            "images_per_epoch": per_epoch,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "rounds": args.rounds,
            "pairs": args.pairs,
            "warmup": args.warmup,
            "rss_epochs": args.rss_epochs,
            "profile_parent": args.profile_parent,
            "alpha": args.alpha,
            "workers": args.workers,
            "interpolation": args.interpolation,
            "adapter": args.adapter,
            "start_method": args.start_method or machine["default_start_method"],
            "isolate": args.isolate,
            "quick": args.quick,
            "sizes": {s: {"source": SETTINGS[s][0], "image_size": SETTINGS[s][1]} for s in args.settings},
        },
        "dataset": data.manifest,
        "results": results,
        "shm_leftovers": shm_leftovers(leaks),
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(report, f, indent=1)
    chart = os.path.join(args.out, "throughput.png")
    _report.draw_chart(report, chart)
    markdown = _report.markdown(report, os.path.basename(chart))
    with open(os.path.join(args.out, "BENCHMARKS.md"), "w") as f:
        f.write(markdown)
    print()
    print(_report.throughput_table(report))
    print()
    print(_report.cached_targets_table(report))
    print()
    print(_report.targets_table(report))
    print(f"\nwrote {os.path.join(args.out, 'BENCHMARKS.md')}, {chart} in {report['duration_s']:.0f} s")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
