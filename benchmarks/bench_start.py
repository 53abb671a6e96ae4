"""Starting worker processes from a script that imports Keras: time to the first batch and worker memory.

    python benchmarks/bench_start.py [--repeats 3]

A training script imports Keras (and with it TensorFlow) at its top. With
`start_method="forkserver"` or `"spawn"`, `multiprocessing` re-imports the
parent's script in every worker unless the pool keeps it out, which it
does when nothing the workers need lives in the script. For each start
method, a fresh run of `_keras_script.py` (batch 64 at 224x224, 2 worker
processes, the benchmarks' Albumentations chain, on 640 of the JPEGs of
`bench_loaders.py`, built if missing) times `seq[0]` (the workers' start
and the first batch) and reads each worker's RSS once the prefetch is
done; RSS counts the batch slots a worker has written (shared memory), and
the table shows that part too. `script` rows put the augmentation in a
class defined in the script, so that the workers must re-import it: the
cost the pool avoids otherwise. Each round also times a fresh interpreter
importing what the workers need (this package and Albumentations), the
part of a spawned start that stays. Runs rotate through the rows, `--repeats`
rounds; the table gives medians, and ratios to fork's medians of the same
run. Writes out/bench/START.md and start.json. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import _dataset  # noqa: E402
import _report  # noqa: E402

# (start method, where the augmentation is defined); fork first, the baseline of the ratios.
ROWS = (
    ("fork", "module"),
    ("forkserver", "module"),
    ("spawn", "module"),
    ("forkserver", "script"),
    ("spawn", "script"),
)


def run_once(data: str, start_method: str, where: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, os.path.join(HERE, "_keras_script.py"), data, start_method, where],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{start_method}/{where} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_once() -> float:
    """Seconds for a fresh interpreter to import what a worker here needs (what no pool can avoid)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mixup_sequence.workers, albumentations"], check=True, env=env)
    return time.perf_counter() - start


def table(results: dict[str, list[dict]]) -> str:
    def median(key: str, rows: list[dict]) -> float:
        return statistics.median(r[key] if isinstance(r[key], float) else statistics.mean(r[key]) for r in rows)

    fork = results["fork/module"]
    base_t, base_rss = median("first_batch_s", fork), median("rss_mb", fork)
    lines = [
        "| start method | augmentation defined in | first batch | / fork | RSS of each worker | / fork "
        "| of which batch slots |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, rows in results.items():
        method, where = name.split("/")
        t, rss, slots = (median(k, rows) for k in ("first_batch_s", "rss_mb", "slots_mb"))
        lo, hi = min(r["first_batch_s"] for r in rows), max(r["first_batch_s"] for r in rows)
        lines.append(
            f"| {method} | {'a module' if where == 'module' else 'the script'} | {t:.2f} s ({lo:.2f}-{hi:.2f}) "
            f"| {t / base_t:.1f} | {rss:.0f} MB | {rss / base_rss:.2f} | {slots:.0f} MB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=os.path.join("out", "bench", "data"))
    parser.add_argument("--out", default=os.path.join("out", "bench"))
    args = parser.parse_args()
    data = _dataset.view(_dataset.build(args.data_dir, 2000, seed=0, log=print), _dataset.FULL, 640)
    machine = _report.machine()
    results: dict[str, list[dict]] = {f"{m}/{w}": [] for m, w in ROWS}
    start = time.perf_counter()
    imports: list[float] = []
    for repeat in range(args.repeats):
        rows = ROWS[repeat % len(ROWS) :] + ROWS[: repeat % len(ROWS)]  # rotate: no row always runs first
        for method, where in rows:
            result = run_once(data, method, where)
            results[f"{method}/{where}"].append(result)
            print(f"  {method:10s} {where:6s} first batch {result['first_batch_s']:.2f} s", flush=True)
        imports.append(import_once())
        print(f"  a fresh interpreter importing mixup_sequence.workers and albumentations: {imports[-1]:.2f} s")
    text = (
        f"# Worker start from a script that imports Keras\n\n"
        f"`{_report.command_line(sys.argv)}`, {args.repeats} runs a row, {time.perf_counter() - start:.0f} s; "
        f"{machine['cpu_model']}, {machine['cpus_usable']} usable CPUs, Python {machine['python']}, "
        f"commit {machine['commit']}, load average {machine['loadavg_start']} at the start.\n\n"
        "Batch 64 at 224x224, 2 worker processes; medians (first batch: range), ratios to fork's medians.\n\n"
        + table(results)
        + "\n\nA fresh interpreter importing what these workers need (`mixup_sequence.workers`, `albumentations`, "
        f"which imports torch and SciPy where they are installed) took {statistics.median(imports):.2f} s "
        f"({min(imports):.2f}-{max(imports):.2f}): the part of a forkserver or spawn start that no pool avoids.\n"
    )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "START.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "start.json"), "w") as f:
        json.dump({"machine": machine, "results": results, "import_s": imports}, f, indent=1)
    print("\n" + text)


if __name__ == "__main__":
    main()
