# Targets CI calls: system-deps, test. Everything installs into .venv from the hashed lock.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO_HOME ?= $(CURDIR)/.demo-home
# llama.cpp is compiled once from source (pip caches the wheel); portable x86-64, two jobs.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: install system-deps demo test test-fast lint lock clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements/lock.txt requirements/nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/lock.txt
	$(BIN)/pip install --quiet --require-hashes --no-deps --ignore-requires-python -r requirements/nodeps.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Debian packages some tests need (root): strace (egress proof), chromium (browser tests),
# postgresql (audit database tests). Tests that need a missing one skip and name it.
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace chromium postgresql

# Ingest the demo corpus, then serve the web UI with a demo admin (password printed, or APPLIANCE_DEMO_PASSWORD).
demo: install
	APPLIANCE_HOME="$(DEMO_HOME)" $(BIN)/appliance demo
	APPLIANCE_HOME="$(DEMO_HOME)" $(BIN)/appliance serve --demo-admin

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check appliance ingestion ui tests deploy
	$(BIN)/ruff format --check appliance ingestion ui tests deploy
	$(BIN)/mypy

# Re-resolve requirements/base.in and rewrite the hashed lock (needs the package registry).
lock:
	rm -rf /tmp/appliance-lock-venv
	$(PYTHON) -m venv /tmp/appliance-lock-venv
	/tmp/appliance-lock-venv/bin/pip install --quiet -r requirements/base.in --report /tmp/appliance-lock-report.json
	$(PYTHON) deploy/write_lock.py /tmp/appliance-lock-report.json > requirements/lock.txt

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache .ruff_cache .mypy_cache
