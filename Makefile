# mlfail — every target creates .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv lint format test demo sample-data clean bench bench-quick

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

# The main job on the committed sample data. The incident is real, so mlfail exits 1:
# the demo reports that as "findings" instead of failing make.
demo: $(STAMP)
	$(BIN)/mlfail psi --reference sample_data/reference.parquet --live sample_data/live \
		--timestamp ts --label is_fraud --prediction score --meta pipeline_version --meta sdk_version \
		--by geo ; rc=$$?; [ $$rc -le 1 ] || exit $$rc; echo "(mlfail exit code $$rc: 1 = findings at/above threshold)" >&2

sample-data: $(STAMP)
	$(BIN)/python sample_data/generate.py --out sample_data

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Benchmarks (benchmarks/README.md): data is generated on demand under benchmarks/data/ (git-ignored);
# peers are installed by the runner into benchmarks/.peers-venv (never an mlfail dependency).
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick $(BENCH_ARGS)
