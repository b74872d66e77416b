# datacentric — two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export NO_ALBUMENTATIONS_UPDATE := 1
export FIFTYONE_DO_NOT_TRACK := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

DEMO_DIR ?= demo_data
DEMO_OUT ?= demo_out

.PHONY: help venv install install-dev demo test lint typecheck check bench bench-peers clean

help:
	@echo "make demo   - set up .venv and run the main job on the bundled demo data"
	@echo "make test   - set up .venv with dev extras and run the whole test suite"
	@echo "make check  - ruff + mypy"
	@echo "make bench  - run every benchmark, writing benchmarks/results/*.json"

# The stamp files re-run pip only when pyproject.toml changes.
$(VENV)/.stamp-base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml $(VENV)/.stamp-base
	$(PIP) install -q -e '.[dev]'
	touch $@

venv install: $(VENV)/.stamp-base
install-dev: $(VENV)/.stamp-dev

# The main job on the bundled demo data: write it, look at it, then run the data loop with the
# model held fixed (scan -> fix -> retrain -> evaluate by slice, twice) and write one report.
demo: $(VENV)/.stamp-base
	$(VENV)/bin/datacentric demo-data $(DEMO_DIR) --overwrite
	$(VENV)/bin/datacentric info $(DEMO_DIR)
	$(VENV)/bin/datacentric loop $(DEMO_DIR) --iterations 2 --slices slices/demo.yaml \
	  --report $(DEMO_OUT)/report.html
	$(VENV)/bin/datacentric history $(DEMO_DIR)
	@echo "Open $(DEMO_OUT)/report.html"

lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check datacentric tests benchmarks

typecheck: $(VENV)/.stamp-dev
	$(VENV)/bin/mypy datacentric

check: lint typecheck

test: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check datacentric tests benchmarks
	$(VENV)/bin/mypy datacentric
	$(PY) -m pytest -q --doctest-modules datacentric tests

# Peers that only benchmarks need live outside the library's venv (cleanlab's Datalab needs
# Hugging Face `datasets`; its newest release fails to pickle under this stack).
PEERS := benchmarks/.peers
$(PEERS)/.stamp:
	$(PIP) install -q --target $(PEERS) 'datasets==3.6.0' 'pyarrow>=15,<20' sliceline
	touch $@

bench-peers: $(PEERS)/.stamp

bench: $(VENV)/.stamp-dev $(PEERS)/.stamp
	for f in benchmarks/bench_*.py; do echo "== $$f"; \
	  DATACENTRIC_BENCH_PEER_PATH=$(CURDIR)/$(PEERS) $(PY) $$f || exit 1; done

clean:
	rm -rf $(DEMO_DIR) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
