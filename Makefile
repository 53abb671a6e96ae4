# `make demo` and `make test` work on a fresh machine: both build .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export NO_ALBUMENTATIONS_UPDATE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: venv bench-venv demo test test-fast lint typecheck docs samples bench-mixing clean bench bench-quick bench-index bench-saturation bench-threads bench-start evidence

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# Every Keras backend, so the tests can check the same batches on each (torch 2.13.0: the CPU build),
	# and the documentation tools (make docs).
	$(PY) -m pip install --quiet -e '.[tensorflow,jax,dev,docs]' 'torch==2.13.0'
	# Keras 2, matching the installed TensorFlow; --no-deps, or it would add the full `tensorflow`
	# wheel over `tensorflow-cpu` (two wheels in one folder).
	$(PY) -m pip install --quiet --no-deps "tf_keras==$$($(PY) -c 'import tensorflow as tf; print(tf.__version__.rsplit(".", 1)[0])').*"
	touch $@

demo: venv  ## the main job: fit a small CNN with mixup on data_samples/ with worker processes
	$(PY) examples/train.py

test: venv  ## the whole suite, as CI runs it
	$(PY) -m pytest -q

test-fast: venv  ## seconds: everything that does not start Keras
	$(PY) -m pytest -q -m "not keras and not slow"

lint: venv
	$(PY) -m ruff check mixup_sequence tests examples data_samples benchmarks docs/griffe_defaults.py
	$(PY) -m ruff format --check mixup_sequence tests examples data_samples benchmarks docs/griffe_defaults.py

typecheck: venv
	$(PY) -m mypy

docs: venv  ## the documentation site and API reference into out/site, offline; a warning (broken link, anchor or docstring) fails it
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

.PHONY: package-check
package-check: venv  ## build the sdist and wheel into dist/, install the wheel with [jax] into a fresh venv, run the CLI and the quick start from outside the repo (about a minute)
	$(PY) tests/package_check.py --extra jax

bench-mixing: venv  ## mixing a 64x224x224x3 batch: this library vs whole-batch NumPy, same run
	$(PY) benchmarks/bench_mixing.py

samples: venv  ## rebuild data_samples/digits from scikit-learn's bundled digits
	$(PY) data_samples/make_samples.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis

bench: bench-venv  ## loaders side by side (this library uncached, filling and reading its cache; blog recipe; tf.data with and without .cache(); Grain; naive PyDataset; the limits), paired runs for the ratios, the parent's CPU at cached rates: out/bench/BENCHMARKS.md (about an hour on 2 shared cores); then worker start per start method: START.md
	$(PY) benchmarks/bench_loaders.py --batches 16 --epochs 2 --warmup 1 --rss-epochs 20 --pairs 5
	$(PY) benchmarks/bench_start.py

bench-venv: $(VENV)/.bench-installed

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

bench-quick: bench-venv  ## the same end to end on 200 images, 3 batches of 16 a path, every path (Grain once): a smoke test, not a measurement (about 2 min)
	$(PY) benchmarks/bench_loaders.py --quick --out out/bench-quick

bench-saturation: bench-venv  ## 2 worker processes: how busy, and the per-image cost against the limit's, same run
	$(PY) benchmarks/bench_saturation.py

bench-threads: bench-venv  ## 2 worker threads: the sequence's own pool vs Keras' thread pool, paired with 2 processes
	$(PY) benchmarks/bench_threads.py

bench-start: bench-venv  ## worker start from a script that imports Keras: first batch and worker RSS per start method, out/bench/START.md
	$(PY) benchmarks/bench_start.py

bench-index: venv  ## indexing 100,000 files: this library vs Keras' index_directory, and the pickled sequence size
	$(PY) benchmarks/bench_index.py

evidence: venv  ## mixup vs ERM vs CutMix, clean and 40% noisy labels, 3 seeds: out/evidence/ (under 20 min on 2 cores)
	$(PY) examples/evidence.py
