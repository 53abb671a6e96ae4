# `make demo` and `make test` work on a fresh machine: both build .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export NO_ALBUMENTATIONS_UPDATE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: venv demo test test-fast lint typecheck samples clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[tensorflow,dev]'
	touch $@

demo: venv  ## the main job: fit a small CNN with mixup on data_samples/ with worker processes
	$(PY) examples/train.py

test: venv  ## the whole suite, as CI runs it
	$(PY) -m pytest -q

test-fast: venv  ## seconds: everything that does not start Keras
	$(PY) -m pytest -q -m "not keras and not slow"

lint: venv
	$(PY) -m ruff check mixup_sequence tests examples data_samples
	$(PY) -m ruff format --check mixup_sequence tests examples data_samples

typecheck: venv
	$(PY) -m mypy

samples: venv  ## rebuild data_samples/digits from scikit-learn's bundled digits
	$(PY) data_samples/make_samples.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis
