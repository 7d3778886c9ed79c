# Two commands on a fresh machine:  `make run`  (the product)  and  `make test`  (everything CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
PYTEST_WORKERS ?= 2

.PHONY: run test lint typecheck unit install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)

## make run: install, migrate, create the demo workspace once, serve on http://127.0.0.1:8000
run: $(RUN_STAMP)
	$(BIN)/commandcentre demo
	$(BIN)/commandcentre serve

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

unit: $(DEV_STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

## make test: lint, type check and every test (SQLite and PostgreSQL, browser included)
test: lint typecheck unit

bench: $(DEV_STAMP)
	$(BIN)/python bench/import_speakers.py
	$(BIN)/python bench/discovery.py
	$(BIN)/python bench/matching_quality.py
	$(BIN)/python bench/runtime_throughput.py
	$(BIN)/python bench/scheduler_lag.py
	$(BIN)/python bench/compose_cost.py
	$(BIN)/python bench/drafting_pipeline.py
	$(BIN)/python bench/prompt_economy.py
	$(BIN)/python bench/orchestration.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
