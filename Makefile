# Two commands on a fresh machine: `make demo` and `make test`. Everything else is set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup venv docker image browser demo test lint bench clean

$(STAMP): pyproject.toml requirements.lock
	@echo "==> creating the virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

docker:
	@scripts/ensure-docker.sh

image: venv docker
	@$(BIN)/labloop sandbox build

# The browser tests drive Debian's chromium (Playwright's own browser download is not reachable).
browser:
	@test -x /usr/bin/chromium || { echo "==> installing chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

setup: image browser

demo: setup
	$(BIN)/labloop demo

lint: venv
	$(BIN)/ruff check agents sandbox services tests benchmarks tasks
	$(BIN)/mypy

test: setup browser lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/sandbox.py

clean:
	rm -rf $(VENV) .labloop .pytest_cache .mypy_cache .ruff_cache
