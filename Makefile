# Two commands on a fresh machine with only python3:  make run  |  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint bench-push clean

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
	$(BIN)/python -m pytest

## Commit-to-client push latency across two replicas (bounded: about a minute, loopback only).
bench-push: $(INSTALLED)
	$(BIN)/python ops/bench/push.py --clients 100 --rates 50,200 --seconds 10

lint: $(INSTALLED)
	$(BIN)/ruff check src tests migrations ops
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .tableorder .pytest_cache .mypy_cache .ruff_cache
