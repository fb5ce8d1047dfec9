# The two commands of the README, and a few more. Each one installs what it needs first.
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
PYTHON ?= python3

.PHONY: run test install dev bench lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install        ## land the default data and run the whole pipeline
	$(BIN)/assetbook run

test: install       ## the whole test suite (real Dagster, kernels, servers)
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest

dev: install        ## the Dagster UI and daemon on http://127.0.0.1:3000
	$(BIN)/assetbook dev

bench: install      ## benchmarks; they print ratios
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

lint: install
	$(BIN)/ruff check project tests bench
