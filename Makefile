# The two commands of the README, and a few more. Each one installs what it needs first.
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
PYTHON ?= python3

.PHONY: run test install nginx chromium postgres dev bench lint wheel

$(VENV)/.installed: pyproject.toml
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || $(MAKE) --no-print-directory nginx
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# setuptools warns on every editable install that folders named like the package may
	@# shadow it (the checkout is that folder): noise at each first `make run`
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
	@# the checkout's own bytecode, as pip writes it for an installed wheel: every process of a
	@# run imports these modules, and where PYTHONDONTWRITEBYTECODE is set each one would
	@# compile them again (~0.2 CPU-s a process); only modules changed since are compiled
	@$(BIN)/python -m compileall -q assetbook project tests

nginx:              ## the front that switches served models without dropping requests
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light; \
	else echo "Assetbook serves models behind nginx: run 'sudo apt-get install nginx-light'"; \
	  exit 1; fi

chromium:           ## the headless browser of the UI test
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "The UI test drives a headless browser: run 'sudo apt-get install chromium'"; \
	  exit 1; fi

postgres:           ## the shared services' tests start their own PostgreSQL cluster
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	else echo "The shared services' tests start PostgreSQL: run 'sudo apt-get install postgresql'"; \
	  exit 1; fi

run: install        ## land the default data and run the whole pipeline
	$(BIN)/assetbook run

test: install       ## the whole test suite (real Dagster, kernels, servers, a browser)
	@command -v chromium >/dev/null || $(MAKE) --no-print-directory chromium
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	  || $(MAKE) --no-print-directory postgres
	$(BIN)/python -m pytest

dev: install        ## the Dagster UI and daemon on http://127.0.0.1:3000
	$(BIN)/assetbook dev

wheel: install      ## dist/assetbook-*.whl: the framework, with the loans example for `init`
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation -w dist .

bench: install      ## benchmarks; they print ratios
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

lint: install
	$(BIN)/ruff check assetbook project tests bench
