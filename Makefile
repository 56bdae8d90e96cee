# Intake: every command a developer needs. `make run` runs the stack, `make test` the whole suite.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS ?= never
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
SRC := shared/src services/fetcher/src services/ingestor/src services/config-api/src

.PHONY: help setup run send-sample replay-dlq test test-unit test-integration test-e2e lint format bench openapi asyncapi

help:
	@echo "make run    - set up what is missing (.venv, .env, database) and run the three services and a dev mailbox"
	@echo "make send-sample - put sample mail into the dev mailbox of a running 'make run'"
	@echo "make test   - the whole test suite against real PostgreSQL, RabbitMQ and Dovecot"
	@echo "make lint   - ruff, mypy --strict, import-linter"
	@echo "make bench  - benchmarks (BENCH=name for one); results in docs/benchmarks.md"
	@echo "make replay-dlq - move dead-lettered messages back to their queue (ARGS=--dry-run to count)"
	@echo "make openapi - regenerate docs/openapi.json after changing the HTTP API"
	@echo "make asyncapi - regenerate docs/asyncapi.yaml after changing a bus contract or the topology"
	@echo "make rotate-secrets - re-encrypt stored secrets with the first key of INTAKE_SECRET_KEY ('new,old')"

setup:
	@deploy/local/bootstrap.sh

# INTAKE_DEV_MAILBOX=off: without the development mailbox (Dovecot on 127.0.0.1:INTAKE_DEV_MAILBOX_PORT, 10143).
run: setup
	@[ "$${INTAKE_DEV_MAILBOX:-on}" = off ] || deploy/local/system-deps.sh run
	@$(UV) run --frozen python -m deploy.local.run

send-sample: setup
	@$(UV) run --frozen python -m deploy.local.send_sample

# Moves what is in intake.dead-letter back to the queue each message died in; ARGS="--dry-run" only counts.
replay-dlq: setup
	$(UV) run --frozen intake-replay-dlq --env-file .env $(ARGS)

test: setup
	@deploy/local/system-deps.sh
	@deploy/local/validation-tools.sh
	$(UV) run --frozen pytest

test-unit: setup
	$(UV) run --frozen pytest tests/unit

test-integration: setup
	$(UV) run --frozen pytest tests/integration

test-e2e: setup
	$(UV) run --frozen pytest tests/e2e

bench: setup
	@deploy/local/system-deps.sh
	$(UV) run --frozen python -m bench $(BENCH)

lint: setup
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy $(SRC)
	$(UV) run --frozen lint-imports

openapi: setup
	$(UV) run --frozen python -m intake.config_api.openapi docs/openapi.json

asyncapi: setup
	$(UV) run --frozen python -m intake.shared.asyncapi docs/asyncapi.yaml

format: setup
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

# Key rotation: set INTAKE_SECRET_KEY=<new>,<old> (in .env or the environment) for every service, run
# this once, then drop the old key. Variables already set win over .env, as with `make run`.
rotate-secrets: setup
	$(UV) run --frozen $(if $(wildcard .env),--env-file .env) intake-config-api rotate-secrets
