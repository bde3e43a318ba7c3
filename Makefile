# Every target makes its own virtualenv when it is missing: a fresh clone needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
BIND_HOST ?= 127.0.0.1
export BIND_HOST
export PORT

# Slow suites (load, fuzzing, faults) run in CI (CI=true) and with `make test-all`.
PYTEST_SELECT := $(if $(filter true 1,$(CI)),,-m "not slow")
PYTEST_WORKERS ?= auto

.PHONY: help install install-test run test test-all lint openapi bench clean

help:
	@echo "make run       start the service on SQLite (http://127.0.0.1:$(PORT)), lesson quizzes loaded"
	@echo "make test      lint, type-check and run the test suite"
	@echo "make test-all  the suite including slow suites"
	@echo "make openapi   regenerate openapi.yaml from the code"
	@echo "make lint      ruff, mypy and the import contracts (lint-imports)"
	@echo "make bench     performance ratios against bare baselines (bench/README.md)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

# Development mode: without PUBLIC_BASE_URL, the URLs the service writes come from the request.
run: export APP_ENV ?= development
run: $(VENV)/.installed-run
	$(BIN)/flask --app service db upgrade
	$(BIN)/flask --app service seed
	exec $(BIN)/gunicorn --config gunicorn.conf.py "service:create_app()"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_SELECT)

test-all: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS)

openapi: $(VENV)/.installed-run
	$(BIN)/flask --app service openapi write openapi.yaml

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache test-artifacts
