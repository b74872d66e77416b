# datacentric — two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export NO_ALBUMENTATIONS_UPDATE := 1
export FIFTYONE_DO_NOT_TRACK := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export FIFTYONE_DATABASE_VALIDATION := false
export LATEST_VERSION_CHECK := false

DEMO_DIR ?= demo_data
DEMO_OUT ?= demo_out
DET_DIR ?= demo_detection
DET_OUT ?= demo_out/detection
# extra `datacentric loop` options for demo-detection (e.g. --seeds 1 for a quick look)
DET_LOOP ?=

.PHONY: help venv install install-dev servers chromium demo demo-detection test lint typecheck check bench bench-peers clean

help:
	@echo "make demo   - set up .venv and run the main job on the bundled demo data"
	@echo "make demo-detection - the same loop on the detection demo (boxes)"
	@echo "make test   - set up .venv with dev extras and run the whole test suite"
	@echo "make check  - ruff (lint + format) + mypy"
	@echo "make bench  - run every benchmark, writing benchmarks/results/*.json"

# The stamp files re-run pip only when pyproject.toml changes.
$(VENV)/.stamp-base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

# The dev venv also holds the integration extras and Ray: the tests talk to real servers
# and start a real 2-node Ray cluster (tests/engine/cluster/).
$(VENV)/.stamp-dev: pyproject.toml $(VENV)/.stamp-base
	$(PIP) install -q -e '.[dev,labelstudio,fiftyone,ray]'
	touch $@

# The Label Studio *server* pins ~100 packages exactly, so it lives in its own venv (git-ignored);
# the integration tests start it from there on a free loopback port.
LS_VENV := .ls-venv
LS_VERSION ?= 1.23.2
export DATACENTRIC_LABEL_STUDIO_BIN := $(CURDIR)/$(LS_VENV)/bin/label-studio
$(LS_VENV)/.stamp:
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install -q 'label-studio==$(LS_VERSION)'
	touch $@

# Headless Chromium takes the screenshots the integration tests assert on (Debian package).
CHROMIUM ?= chromium
chromium:
	@command -v $(CHROMIUM) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }
	@command -v $(CHROMIUM) >/dev/null 2>&1 || { echo "chromium is required by the integration tests"; exit 1; }

servers: $(LS_VENV)/.stamp chromium

venv install: $(VENV)/.stamp-base
install-dev: $(VENV)/.stamp-dev

# The detection loop on the detection demo (300 scenes of real digits with planted box problems):
# scan it (the default CenterNet detector cross-validated for out-of-sample boxes; the report
# draws each flagged box and the suggested one), then run the data loop on the boxes (confident
# swaps, bad locations, overlooked and duplicate boxes fixed with lineage, the rest queued for
# review and answered by a simulated reviewer (95 % right, from the demo's ground truth, as
# `make demo` does; in the product a person answers it in Label Studio or FiftyOne); the
# detector retrained with 3 seeds; mAP@0.5 by slice before/after with intervals).
# Then export the loop's detector to ONNX fp32 and static int8, gated per slice on mAP@0.5 (a
# form the gate refuses is a result, written to export.html and export.md: the demo goes on;
# any other error stops it), and monitor three days of simulated production traffic by camera
# and site, with the detector's boxes (a site's cameras replaced by a new, darker camera on day 3).
# About 17 minutes on 2 cores (13.5 with DET_LOOP="--seeds 1" on 2 busy ones).
DET_DAYS := 1 2 3
# The new camera's pixel factor: at 0.45 (the classification demo's) the loop's detector still
# finds the digits (it trained on the dark cam_c), so only the images drift; at 0.2 it misses
# some, and the boxes drift too (docs/detection.md, "The demo's production traffic").
DET_DARKEN ?= 0.2
DET_PROD := $(DET_OUT)/production
demo-detection: $(VENV)/.stamp-base
	$(VENV)/bin/datacentric demo-data $(DET_DIR) --task detection --overwrite
	$(VENV)/bin/datacentric info $(DET_DIR)
	mkdir -p $(DET_OUT)
	$(VENV)/bin/datacentric scan $(DET_DIR) --out $(DET_OUT)/scan.parquet \
	  --report $(DET_OUT)/scan.html
	$(VENV)/bin/datacentric loop $(DET_DIR) --iterations 1 --simulated-review 0.95 \
	  --report $(DET_OUT)/loop.html $(DET_LOOP)
	$(VENV)/bin/datacentric history $(DET_DIR)
	rm -rf $(DET_OUT)/export
	$(VENV)/bin/datacentric export $(DET_DIR) --out $(DET_OUT)/export \
	  --targets onnx-fp32,onnx-int8-static || { test -f $(DET_OUT)/export/export.json && \
	  echo "The export gate refused a form (see $(DET_OUT)/export/export.html); the demo goes on."; }
	$(VENV)/bin/datacentric demo-production $(DET_DIR) --out $(DET_PROD) \
	  --days $(words $(DET_DAYS)) --darken $(DET_DARKEN)
	rm -f $(DET_OUT)/monitor.duckdb
	$(VENV)/bin/datacentric monitor ingest $(foreach d,$(DET_DAYS),$(DET_PROD)/day$(d).parquet) \
	  --store $(DET_OUT)/monitor.duckdb --reference $(DET_PROD)/reference.parquet \
	  --reference-boxes $(DET_PROD)/boxes/reference.parquet \
	  $(foreach d,$(DET_DAYS),--boxes $(DET_PROD)/boxes/day$(d).parquet) \
	  --slices $(DET_PROD)/slices.yaml --config slices/monitor_alerts.yaml
	$(VENV)/bin/datacentric monitor report --store $(DET_OUT)/monitor.duckdb \
	  -o $(DET_OUT)/monitor.html -o $(DET_OUT)/monitor.md
	@echo "Open $(DET_OUT)/scan.html, $(DET_OUT)/loop.html, $(DET_OUT)/export/export.html and $(DET_OUT)/monitor.html"

# The main job on the bundled demo data: write it, look at it, then run the data loop with the
# model held fixed (scan -> fix -> retrain -> evaluate by slice, twice) and write one report.
# Each evaluation trains 5 seeds (the loop's default is 3): on this small data a seed trains in
# seconds, and the verdict's interval narrows with them (README, docs/demo-data.md).
# Each iteration's review queue (about 86 samples) is answered by a SIMULATED reviewer from the
# demo's ground truth (95 % accurate), standing in for a Label Studio round trip; the loop says
# so when it starts, and `history` shows its commits ("simulated review ..."). After the two fix
# iterations, --interventions tries a data intervention on the worst slice (an augmentation
# matched to its image statistics, then oversampling), each kept only if that slice improves
# significantly and no slice regresses (docs/loop.md). Then export the
# loop's model to ONNX fp32 and int8, gated so that no slice got worse; then monitor three days
# of simulated production traffic by slice (a new, darker scanner on day 3).
demo: $(VENV)/.stamp-base
	$(VENV)/bin/datacentric demo-data $(DEMO_DIR) --overwrite
	$(VENV)/bin/datacentric info $(DEMO_DIR)
	$(VENV)/bin/datacentric loop $(DEMO_DIR) --iterations 2 --slices slices/demo.yaml \
	  --seeds 5 --simulated-review 0.95 --interventions --report $(DEMO_OUT)/report.html
	$(VENV)/bin/datacentric history $(DEMO_DIR)
	$(VENV)/bin/datacentric export $(DEMO_DIR) --out $(DEMO_OUT)/export \
	  --targets onnx-fp32,onnx-int8-static --slices slices/demo.yaml
	$(VENV)/bin/datacentric demo-production $(DEMO_DIR) --out $(DEMO_OUT)/production
	rm -f $(DEMO_OUT)/monitor.duckdb
	$(VENV)/bin/datacentric monitor ingest $(DEMO_OUT)/production/day*.parquet \
	  --store $(DEMO_OUT)/monitor.duckdb --reference $(DEMO_OUT)/production/reference.parquet \
	  --slices $(DEMO_OUT)/production/slices.yaml --config slices/monitor_alerts.yaml
	$(VENV)/bin/datacentric monitor report --store $(DEMO_OUT)/monitor.duckdb \
	  -o $(DEMO_OUT)/monitor.html -o $(DEMO_OUT)/monitor.md
	@echo "Open $(DEMO_OUT)/report.html, $(DEMO_OUT)/export/export.html and $(DEMO_OUT)/monitor.html"

lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check datacentric tests benchmarks
	$(VENV)/bin/ruff format --check datacentric tests benchmarks
	$(VENV)/bin/lint-imports --no-cache --no-logo

typecheck: $(VENV)/.stamp-dev
	$(VENV)/bin/mypy datacentric

check: lint typecheck

test: $(VENV)/.stamp-dev servers
	$(VENV)/bin/ruff check datacentric tests benchmarks
	$(VENV)/bin/ruff format --check datacentric tests benchmarks
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(VENV)/bin/mypy datacentric
	$(PY) -m pytest -q --doctest-modules datacentric tests

# Peers that only benchmarks need live outside the library's venv (cleanlab's Datalab needs
# Hugging Face `datasets`; its newest release fails to pickle under this stack).
PEERS := benchmarks/.peers
$(PEERS)/.stamp:
	$(PIP) install -q --target $(PEERS) 'datasets==3.6.0' 'pyarrow>=15,<20' sliceline
	touch $@

# Evidently (bench_monitor.py) needs pandas<3, so it gets a folder of its own, first on the
# sys.path of its benchmark job only.
PEERS_EVIDENTLY := benchmarks/.peers-evidently
$(PEERS_EVIDENTLY)/.stamp:
	$(PIP) install -q --target $(PEERS_EVIDENTLY) 'evidently==0.7.23' 'pandas>=2.2,<3'
	touch $@

bench-peers: $(PEERS)/.stamp $(PEERS_EVIDENTLY)/.stamp

bench: $(VENV)/.stamp-dev $(PEERS)/.stamp $(PEERS_EVIDENTLY)/.stamp servers
	for f in benchmarks/bench_*.py; do echo "== $$f"; \
	  DATACENTRIC_BENCH_PEER_PATH=$(CURDIR)/$(PEERS) \
	  DATACENTRIC_BENCH_EVIDENTLY_PATH=$(CURDIR)/$(PEERS_EVIDENTLY) $(PY) $$f || exit 1; done

clean:
	rm -rf $(DEMO_DIR) $(DEMO_OUT) $(DET_DIR) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
