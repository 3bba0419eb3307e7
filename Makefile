# Two commands on a fresh machine with only python3:  make run  |  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
INSTALLED := $(VENV)/.installed

.PHONY: install lock run test topology-test topology-memory lint bench bench-push bench-scale clean

# The contract tools (redocly, spectral, asyncapi, openapi-ts, tsc) pinned by tools/package-lock.json; the
# tests call them from tools/node_modules/.bin. Installed again when the lock changes.
NODE_TOOLS := tools/node_modules/.installed

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

$(NODE_TOOLS): tools/package.json tools/package-lock.json
	$(call need_debian,npm,nodejs npm)
	SCARF_ANALYTICS=false npm ci --prefix tools --no-audit --no-fund --loglevel=error
	touch $@

install: $(INSTALLED)

## Pin what the suite passed with: rewrite constraints.txt from .venv (after `make test` passes).
lock: $(INSTALLED)
	{ sed -n '/^#/p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

## Start the service with the demo store (embedded PostgreSQL under ./.tableorder/ unless DATABASE_URL is set).
run: $(INSTALLED)
	$(BIN)/tableorder serve --demo --host $(HOST) --port $(PORT)

## The whole suite against real PostgreSQL (embedded, or DATABASE_URL) and real uvicorn processes.
test: $(INSTALLED) $(NODE_TOOLS)
	$(call need_debian,chromium,chromium)
	$(call need_debian_file,/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc,fonts-noto-cjk)
	$(BIN)/python -m pytest -m "not topology"

## The production topology as processes: PostgreSQL primary + streaming replica, two backends, nginx
## with nginx/nginx.conf over TLS, and its faults; once with EVENT_BUS=postgres, once with EVENT_BUS=nats
## (a nats-server) and PgBouncer in transaction mode in front of the primary (installs nginx, openssl
## and pgbouncer with apt when missing).
topology-test: $(INSTALLED)
	$(call need_debian,nginx,nginx)
	$(call need_debian,openssl,openssl)
	$(call need_debian_file,/usr/sbin/pgbouncer,pgbouncer)
	$(call need_debian,chromium,chromium)
	$(BIN)/python -m pytest -m topology tests/test_topology.py

RUNTIME := .venv-runtime/.installed
$(RUNTIME): pyproject.toml constraints.txt
	$(PYTHON) -m venv .venv-runtime
	.venv-runtime/bin/python -m pip install --quiet --upgrade pip
	.venv-runtime/bin/python -m pip install --quiet -c constraints.txt -e .
	touch $@

# Debian packages a target needs: installed with apt when missing and we are root (CI, this sandbox),
# otherwise the target says what to install.
define need_debian
	@command -v $(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2); \
	  else echo "$(1) is needed: sudo apt-get install -y $(2)"; exit 1; fi; }
endef
# The same for a package known by a file it installs (a font has no command).
define need_debian_file
	@test -e $(1) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2); \
	  else echo "$(1) is needed: sudo apt-get install -y $(2)"; exit 1; fi; }
endef
## The service side by side with the floor (wrk, loopback, about 6 minutes); writes docs/benchmarks.md.
bench: $(INSTALLED) $(RUNTIME)
	$(call need_debian,wrk,wrk)
	$(BIN)/python ops/bench/run.py --rounds 3 --seconds 10

## Commit-to-client push latency across two replicas (bounded: about a minute, loopback only).
bench-push: $(INSTALLED) $(RUNTIME)
	$(BIN)/python ops/bench/push.py --clients 100 --rates 50,200 --seconds 10

## Order commits/s, 100 stores and 32 writers, per-commit NOTIFY against the relay (and no NOTIFY, the
## ceiling), then push latency at 200 orders/s with the relay on both buses (a nats-server is started);
## bounded: about 5 minutes, loopback only. Writes its section of docs/benchmarks.md.
bench-scale: $(INSTALLED) $(RUNTIME)
	$(BIN)/python ops/bench/scale.py --rounds 3 --seconds 10 --buses postgres,nats --push-rounds 2

## RSS of each backend worker in the topology after a minute of mixed traffic through nginx.
topology-memory: $(INSTALLED) $(RUNTIME)
	$(call need_debian,nginx,nginx)
	TOPOLOGY_BACKEND_PYTHON=$(CURDIR)/.venv-runtime/bin/python $(BIN)/python ops/topology/memory.py --seconds 60

lint: $(INSTALLED) $(NODE_TOOLS)
	$(BIN)/ruff check src tests migrations ops
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_contract_lint.py

clean:
	rm -rf $(VENV) .venv-runtime .tableorder .pytest_cache .mypy_cache .ruff_cache tools/node_modules
