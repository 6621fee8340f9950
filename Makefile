# Pnyx: two commands on a fresh machine.
#   make run   - create the environment, install, migrate SQLite, seed the demo on first start, serve :8000
#   make test  - install with the test tools and run the whole suite (SQLite and, when reachable, PostgreSQL)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PNYX_DATA_DIR ?= var

.PHONY: run install install-dev test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[postgres]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/pnyx db upgrade
	$(BIN)/pnyx log keygen --if-missing
	$(BIN)/pnyx demo
	$(BIN)/pnyx serve

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install-dev
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: install-dev
	$(BIN)/python -m pytest -x -q -m "not slow and not portal"

bench: install-dev
	$(BIN)/python -m benchmarks.log_append
	$(BIN)/python -m benchmarks.log_proofs
	$(BIN)/python benchmarks/scheduler_cycle.py
	$(BIN)/python benchmarks/sim_speed.py
	$(BIN)/python benchmarks/sim_quality.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
