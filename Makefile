# mlfail — every target creates .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two install levels, each with its own stamp: the demo needs only mlfail and its runtime
# dependencies (typer, rich, polars, pyarrow, scipy, numpy); lint/test/format need the dev
# extras (pytest, mypy, ruff, pyspark, moto, build, ...), which are most of the install time.
RUNTIME := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=

.PHONY: venv lint format test demo sample-data baseline clean report-html report-screenshot readme reliability bench bench-quick

$(BIN)/python:
	$(PY) -m venv $(VENV)

# --no-compile: pip would byte-compile every module of scipy/pyarrow/polars (thousands of files,
# a large share of the install on a loaded 2-core machine); Python compiles the few the demo
# imports on first use instead.
$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check --no-compile -e .
	touch $(RUNTIME)

$(STAMP): pyproject.toml $(RUNTIME)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python scripts/check_shape.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

# The main job on the committed sample data: the seven-step triage of the planted incident.
# The incident is real, so mlfail exits 1: the demo reports that as "findings" instead of
# failing make.
DEMO_ARGS = --reference sample_data/reference.parquet --live sample_data/live \
	--timestamp ts --label is_fraud --prediction score \
	--meta pipeline_version --meta sdk_version \
	--metrics sample_data/metrics.parquet --changes sample_data/changes.csv \
	--owners sample_data/owners.toml \
	--candidate-source sample_data/candidate.parquet --candidate-prediction score --id event_id \
	--offline sample_data/offline.parquet

demo: $(RUNTIME)
	$(BIN)/mlfail triage $(DEMO_ARGS) --no-input; rc=$$?; [ $$rc -le 1 ] || exit $$rc; \
	echo "(mlfail exit code $$rc: 1 = model incident found)" >&2

# The same incident as a self-contained HTML report; report-screenshot also renders one
# scenario without --metrics (tests/scenarios.py null_spike) and screenshots both with headless
# Chromium (Debian's chromium package; installed here if missing) to check what a person sees.
# `make report-screenshot DOCS=1` refreshes docs/img/ (the README's pictures).
report-html: $(RUNTIME)
	mkdir -p out
	$(BIN)/mlfail triage $(DEMO_ARGS) --format html --output out/triage.html --force; \
	rc=$$?; [ $$rc -le 1 ] || exit $$rc

report-screenshot: $(RUNTIME)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/python scripts/report_screenshots.py --out out $(if $(DOCS),--docs)

# README: the captured demo run and the command reference are generated; `make readme`
# rewrites them, tests/test_readme.py fails when they are stale.
readme: $(STAMP)
	$(BIN)/python scripts/sync_readme.py --write

sample-data: $(STAMP)
	$(BIN)/python sample_data/generate.py --out sample_data

# The pre-launch step on the sample: save the reference profile. Dated 2026-09-01 (launch day)
# through SOURCE_DATE_EPOCH so the committed file is reproducible byte for byte.
BASELINE_EPOCH ?= 1788220800
baseline: $(STAMP)
	SOURCE_DATE_EPOCH=$(BASELINE_EPOCH) $(BIN)/mlfail baseline create --force \
		--reference sample_data/reference.parquet --out sample_data/baseline.json \
		--timestamp ts --label is_fraud --prediction score --meta pipeline_version --meta sdk_version \
		--segment geo --segment channel --segment user_segment

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Benchmarks (benchmarks/README.md): data is generated on demand under benchmarks/data/ (git-ignored);
# peers are installed by the runner into benchmarks/.peers-venv (never an mlfail dependency).
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick $(BENCH_ARGS)

# docs/reliability.md: the bad-input corpus table (tests/bad_inputs/test_docs.py checks it).
reliability: $(STAMP)
	$(BIN)/python scripts/reliability_table.py
