# Targets CI calls: system-deps, test. Everything installs into .venv from the hashed lock.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO_HOME ?= $(CURDIR)/.demo-home
# llama.cpp is compiled once from source (pip caches the wheel); portable x86-64, two jobs.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: install system-deps demo test test-fast lint lock clean wheelhouse offline-test mutants

install: $(VENV)/.installed

$(VENV)/.installed: requirements/lock.txt requirements/dev-lock.txt requirements/nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/lock.txt
	$(BIN)/pip install --quiet --require-hashes --no-deps --ignore-requires-python -r requirements/nodeps.txt
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev-lock.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Debian packages some tests need (root): strace (egress proof), chromium (browser tests),
# postgresql (audit database tests), shellcheck and nginx-light (deploy/ tests). Tests that need a missing
# one skip and name it.
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace chromium postgresql shellcheck nginx-light

# Ingest the demo corpus, then serve the web UI with a demo admin (password printed, or APPLIANCE_DEMO_PASSWORD).
demo: install
	APPLIANCE_HOME="$(DEMO_HOME)" $(BIN)/appliance demo
	APPLIANCE_HOME="$(DEMO_HOME)" $(BIN)/appliance serve --demo-admin

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

# Plant each bug of tests/mutants.py's fixed list in a copy of the tree and run the fast tests that guard it;
# fails if any bug survives. Not part of make test (a few minutes).
mutants: install
	$(BIN)/python tests/mutants.py

# The air-gapped bundle (deploy/README.md): every locked wheel, a portable llama-cpp-python wheel,
# torch's CPU build, the appliance's own wheel and a manifest, in offline_wheels/.
wheelhouse:
	deploy/build-wheelhouse.sh --python $(PYTHON)

# Build a bundle, install it with no network (unshare -n), self-test, back up and restore, install
# again over it and find the data kept. About 7 minutes here; also part of make test.
offline-test: install
	$(BIN)/python -m pytest -m offline_install -s

lint: install
	$(BIN)/ruff check appliance ingestion ui tests deploy
	$(BIN)/ruff format --check appliance ingestion ui tests deploy
	$(BIN)/mypy

# Re-resolve requirements/base.in (runtime) and dev.in (tools) and rewrite both hashed locks (needs the
# package registry). The offline bundle carries only the runtime lock.
lock:
	rm -rf /tmp/appliance-lock-venv
	$(PYTHON) -m venv /tmp/appliance-lock-venv
	/tmp/appliance-lock-venv/bin/pip install --quiet -r requirements/base.in --report /tmp/appliance-lock-report.json
	/tmp/appliance-lock-venv/bin/pip install --quiet -r requirements/base.in -r requirements/dev.in --report /tmp/appliance-dev-report.json
	$(PYTHON) deploy/write_lock.py /tmp/appliance-lock-report.json > requirements/lock.txt
	$(PYTHON) deploy/write_lock.py /tmp/appliance-dev-report.json --minus /tmp/appliance-lock-report.json > requirements/dev-lock.txt

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache .ruff_cache .mypy_cache
