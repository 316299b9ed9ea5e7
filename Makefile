# One-command set-up: `make run` starts the local tenant, the mfa-app API and the app, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
CHROMIUM ?= /usr/bin/chromium
NGINX ?= /usr/sbin/nginx
APP_PORT ?= 5000
API_PORT ?= 5001
EMULATOR_PORT ?= 8443

.PHONY: run test lint bench browser nginx clean help

help:
	@echo "make run    - set up, then start the local tenant emulator, the mfa-app API and the web app"
	@echo "make test   - set up (venv, packages, Debian's chromium and nginx), then run the whole test suite"
	@echo "make lint   - ruff"
	@echo "make bench  - benchmarks (never part of make test)"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

# Debian's chromium drives the browser tests (Playwright's own download cannot work offline).
browser:
	@test -x $(CHROMIUM) || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# panva's oidc-provider (from npm) for the interop tests: `npm ci` from the committed lockfile whenever
# node_modules is missing or package.json / the lockfile changed. Installs Debian's nodejs and npm if
# they are missing.
INTEROP_OP     := tests/interop/oidc-provider
INTEROP_STAMP  := $(INTEROP_OP)/node_modules/.installed-stamp

$(INTEROP_STAMP): $(INTEROP_OP)/package.json $(INTEROP_OP)/package-lock.json
	@command -v npm >/dev/null || { \
	  echo "Installing Debian's nodejs and npm for the interop tests..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	cd $(INTEROP_OP) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's nginx runs deploy/nginx/ciam-webapp.conf in front of `ciam-webapp serve` (gunicorn) in the proxy tests
# (nginx-light where Debian still ships it, else nginx).
nginx:
	@test -x $(NGINX) || { \
	  echo "Installing Debian's nginx for the proxy tests..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && { DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx-light >/dev/null \
	    || DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx >/dev/null; }; }

run: $(STAMP)
	$(PY) scripts/run_local.py --app-port $(APP_PORT) --api-port $(API_PORT) --emulator-port $(EMULATOR_PORT)

# The suite runs in two processes (pytest-xdist; a test file stays in one), then the check that the
# whole run's logs hold no secret runs on its own, reading what both processes left in a folder of
# this run (tests/conftest.py, CIAM_SUITE_RECORD_DIR). A plain `pytest` runs it all in one process.
TEST_PROCESSES ?= 2

test: $(STAMP) browser nginx $(INTEROP_STAMP)
	$(PY) -m ruff check src tests scripts benchmarks
	@record=$$(mktemp -d) && trap 'rm -rf "$$record"' EXIT && \
	  NGINX=$(NGINX) CIAM_SUITE_RECORD_DIR=$$record $(PY) -m pytest -n $(TEST_PROCESSES) --dist loadfile \
	    --ignore=tests/zz_suite_checks && \
	  NGINX=$(NGINX) CIAM_SUITE_RECORD_DIR=$$record $(PY) -m pytest tests/zz_suite_checks

lint: $(STAMP)
	$(PY) -m ruff check src tests scripts benchmarks

# Debian's wrk is the load generator and valgrind (callgrind) counts instructions; matplotlib and
# pyinstrument come from the `bench` extra (granian, the compared server, is a main dependency: `serve
# --server granian`). About 10 minutes on 2 cores.
bench: $(STAMP)
	@command -v wrk >/dev/null && command -v valgrind >/dev/null && command -v gcc >/dev/null || { \
	  echo "Installing Debian's wrk, valgrind and gcc for the benchmarks..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk valgrind gcc >/dev/null; }
	@$(PY) -c "import matplotlib, pyinstrument, granian" 2>/dev/null || \
	  $(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) instance test-artifacts .pytest_cache $(INTEROP_OP)/node_modules
