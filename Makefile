# Two commands on a fresh machine with only python3:  make run  |  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
INSTALLED := $(VENV)/.installed

.PHONY: install run test topology-test topology-memory lint bench bench-push clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(INSTALLED)

## Start the service with the demo store (embedded PostgreSQL under ./.tableorder/ unless DATABASE_URL is set).
run: $(INSTALLED)
	$(BIN)/tableorder serve --demo --host $(HOST) --port $(PORT)

## The whole suite against real PostgreSQL (embedded, or DATABASE_URL) and real uvicorn processes.
test: $(INSTALLED)
	$(BIN)/python -m pytest -m "not topology"

## The production topology as processes: PostgreSQL primary + streaming replica, two backends, nginx
## with nginx/nginx.conf over TLS, and its faults (needs nginx and openssl: apt-get install nginx).
topology-test: $(INSTALLED)
	$(BIN)/python -m pytest -m topology tests/test_topology.py

RUNTIME := .venv-runtime/.installed
$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv .venv-runtime
	.venv-runtime/bin/python -m pip install --quiet --upgrade pip
	.venv-runtime/bin/python -m pip install --quiet -e .
	touch $@

WRK := $(shell command -v wrk 2>/dev/null)
## The service side by side with the floor (wrk, loopback, about 6 minutes); writes docs/benchmarks.md.
bench: $(INSTALLED) $(RUNTIME)
	@test -n "$(WRK)" || (echo "wrk is needed: apt-get install -y wrk" && exit 1)
	$(BIN)/python ops/bench/run.py --rounds 3 --seconds 10

## Commit-to-client push latency across two replicas (bounded: about a minute, loopback only).
bench-push: $(INSTALLED) $(RUNTIME)
	$(BIN)/python ops/bench/push.py --clients 100 --rates 50,200 --seconds 10

## RSS of each backend worker in the topology after a minute of mixed traffic through nginx.
topology-memory: $(INSTALLED) $(RUNTIME)
	TOPOLOGY_BACKEND_PYTHON=$(CURDIR)/.venv-runtime/bin/python $(BIN)/python ops/topology/memory.py --seconds 60

lint: $(INSTALLED)
	$(BIN)/ruff check src tests migrations ops
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .venv-runtime .tableorder .pytest_cache .mypy_cache .ruff_cache
