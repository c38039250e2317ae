# scimsvc — `make` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install run lint test clean dist

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "scimsvc needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1). Try: make PYTHON=python3.12 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP) ## Create the virtualenv in .venv and install scimsvc with its test tools

run: install ## Set up, create the SQLite database in instance/, and serve on 127.0.0.1:8000 (HOST=, PORT=)
	$(BIN)/scimsvc init
	$(BIN)/scimsvc serve --host $(HOST) --port $(PORT)

lint: install ## Check that imports flow one way (the import-linter contracts in setup.cfg)
	$(BIN)/lint-imports --no-cache

test: install lint ## Check the import contracts, then run the test suite (SQLite; needs nothing else installed)
	$(BIN)/python -m pytest

dist: install ## Build the wheel to install on servers: dist/scimsvc-VERSION-py3-none-any.whl
	rm -rf dist build
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	@ls dist/*.whl

clean: ## Remove the virtualenv, caches and dist/ (keeps instance/)
	rm -rf $(VENV) .pytest_cache build dist *.egg-info

# PostgreSQL: the same suite, each test in a schema of its own in this database.
SCIMSVC_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PG_STAMP := $(VENV)/.postgres-stamp

$(PG_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	@touch $(PG_STAMP)

.PHONY: test-postgres
test-postgres: $(PG_STAMP) ## Run the test suite on PostgreSQL (SCIMSVC_TEST_DATABASE_URL=...)
	SCIMSVC_TEST_DATABASE_URL='$(SCIMSVC_TEST_DATABASE_URL)' $(BIN)/python -m pytest

# Benchmark (not part of `make test`): a real `scimsvc serve` with N users; see docs/performance.md.
N ?= 10000
DB ?=
PEER ?=
BENCH_ARGS ?=

.PHONY: bench
bench: install ## Benchmark a real server with N users (N=10000; DB=postgresql+psycopg://...; PEER=1 adds scim2-server)
	@mkdir -p bench-results
	$(BIN)/python -m tests.bench.run --users $(N) $(if $(DB),--db '$(DB)') $(if $(PEER),--peer) \
		--out bench-results/bench-$(N)$(if $(DB),-postgresql).json $(BENCH_ARGS)
	$(BIN)/python -m tests.bench.webhooks --users $(WEBHOOK_N) $(if $(DB),--db '$(DB)') \
		--out bench-results/webhooks-$(WEBHOOK_N)$(if $(DB),-postgresql).json
	$(BIN)/python -m tests.bench.groups --members 50000 $(if $(DB),--db '$(DB)') \
		--out bench-results/groups-50000$(if $(DB),-postgresql).json

# The Google Workspace sync alone: first, no-change and 1 %-changed syncs of N users from the fake Directory API.
.PHONY: bench-google
bench-google: install ## Benchmark the Google Workspace sync of N users (N=10000; DB=...): time, peak RSS, no-change writes nothing
	@mkdir -p bench-results
	$(BIN)/python -m tests.bench.run --google --users $(N) $(if $(DB),--db '$(DB)') \
		--out bench-results/google-$(N)$(if $(DB),-postgresql).json

# Webhooks alone: seed throughput with and without a webhook, and idle delivery latency.
WEBHOOK_N ?= 3000

.PHONY: bench-webhooks
bench-webhooks: install ## Benchmark webhooks: seed cost of a webhook and idle latency (WEBHOOK_N=3000; DB=...)
	@mkdir -p bench-results
	$(BIN)/python -m tests.bench.webhooks --users $(WEBHOOK_N) $(if $(DB),--db '$(DB)') \
		--out bench-results/webhooks-$(WEBHOOK_N)$(if $(DB),-postgresql).json

.PHONY: bench-groups
bench-groups: install ## Only the Groups phase: member changes on a 50,000-member group, list groups
	@mkdir -p bench-results
	$(BIN)/python -m tests.bench.groups --members 50000 $(if $(DB),--db '$(DB)') \
		--out bench-results/groups-50000$(if $(DB),-postgresql).json
