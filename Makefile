# Pnyx: two commands on a fresh machine.
#   make run   - create the environment, install, migrate SQLite, seed the demo on first start, serve :8000
#   make test  - install with the test tools and run the whole suite (SQLite and, when reachable, PostgreSQL)
#   make events - regenerate docs/events.md, the catalogue of the public log's entry types, from the code
#   make auditor - the standalone auditor: python3 -I -S dist/pnyx-audit.pyz URL --key KEY (docs/audit.md)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PNYX_DATA_DIR ?= var

.PHONY: run install install-dev test test-fast lint bench clean check-sandbox events auditor

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,train]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Local jobs run in bubblewrap (docs/adr/0007-local-sandbox.md). Without it the server still starts and
# refuses local jobs with the same advice; PNYX_SANDBOX=off runs L1 jobs unsandboxed (development only).
check-sandbox:
	@if [ "$${PNYX_SANDBOX:-on}" = "off" ]; then \
	  echo "pnyx: PNYX_SANDBOX=off: local jobs run UNSANDBOXED (L1 only); development use only"; \
	elif ! command -v bwrap >/dev/null 2>&1; then \
	  echo "pnyx: bubblewrap (bwrap) is not installed; local jobs will be refused until it is."; \
	  echo "      Debian/Ubuntu: sudo apt-get install bubblewrap    Fedora: sudo dnf install bubblewrap"; \
	  echo "      or, for development only (L1 jobs, unsandboxed): PNYX_SANDBOX=off make run"; \
	elif ! bwrap --unshare-all --die-with-parent --ro-bind / / true 2>/dev/null; then \
	  echo "pnyx: bwrap is installed but cannot create a sandbox here (user namespaces disabled?):"; \
	  bwrap --unshare-all --ro-bind / / true || true; \
	fi

run: install check-sandbox
	$(BIN)/pnyx db upgrade
	$(BIN)/pnyx log keygen --if-missing
	$(BIN)/pnyx demo
	$(BIN)/pnyx serve

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install-dev check-sandbox
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: install-dev
	$(BIN)/python -m pytest -x -q -m "not slow and not portal"

events: install
	$(BIN)/pnyx log catalogue --output docs/events.md

auditor: install
	mkdir -p dist && $(BIN)/pnyx audit bundle --out dist/pnyx-audit.pyz

bench: install-dev
	$(BIN)/python -m benchmarks.log_append
	$(BIN)/python -m benchmarks.log_proofs
	$(BIN)/python benchmarks/scheduler_cycle.py
	$(BIN)/python benchmarks/sim_speed.py
	$(BIN)/python benchmarks/sim_quality.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
