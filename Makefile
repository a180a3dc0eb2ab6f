# mlfail — every target creates .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv lint format test demo sample-data baseline clean

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
