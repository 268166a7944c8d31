# The two commands a fresh machine needs: `make run` and `make test`. Both make .venv first.
# Python 3.11 (pyproject.toml says why not newer): python3.11 where there is one, else python3.
PYTHON ?= $(shell command -v python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DB ?= sqlite:///var/ntjp.db
HOSP_DB ?= sqlite:///var/hosp.db
TLS ?= var/tls

.PHONY: run check bench test test-quick lint test-sqlite test-postgres cluster cluster-down test-cluster clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Serve FMB on https://127.0.0.1:8443 (bundled sample) and HoSp on https://127.0.0.1:8444 (a generated
## register of 5,000 persons), both with mutual TLS and dev certificates. Ctrl-C stops both.
run: $(STAMP)
	$(BIN)/ntjp-producer certs init $(TLS)
	$(BIN)/ntjp-producer fmb import sample/fmb --db $(DB)
	test -f var/hosp-register.jsonl || ($(BIN)/ntjp-producer hosp generate --count 5000 --seed 1 \
	  > var/hosp-register.jsonl.tmp && mv var/hosp-register.jsonl.tmp var/hosp-register.jsonl)
	$(BIN)/ntjp-producer hosp import var/hosp-register.jsonl --db $(HOSP_DB)
	$(BIN)/ntjp-producer serve --service hosp --db $(HOSP_DB) --tls-dir $(TLS) --bind 127.0.0.1:8444 \
	  --ops-bind 127.0.0.1:9101 & hosp=$$!; \
	  trap 'kill -INT $$hosp 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/ntjp-producer serve --service fmb --db $(DB) --tls-dir $(TLS) --bind 127.0.0.1:8443

## Check the FMB producer that `make run` serves, as a generated consumer reads it (another terminal).
check: $(STAMP)
	$(BIN)/ntjp-producer check https://127.0.0.1:8443 --tls-dir $(TLS)

## Producer against the floor of its own server stack, SQLite then PostgreSQL (fsync on); not part of `test`.
bench: $(STAMP)
	$(BIN)/python bench/stack_bench.py --db sqlite
	NTJP_PG_FSYNC=on scripts/with-postgres.sh $(BIN)/python bench/stack_bench.py --db postgres

## Lint, then the whole suite on SQLite and again on a PostgreSQL server it starts itself.
## Two pytest processes (pytest-xdist, a test module each at a time): most of the suite waits on servers,
## timeouts and TLS handshakes, so two keep this 2-core machine busy. PYTEST_PROCESSES=0 runs in one.
test: lint test-sqlite test-postgres

PYTEST_PROCESSES ?= 2
PARALLEL = $(if $(filter 0,$(PYTEST_PROCESSES)),,-n $(PYTEST_PROCESSES) --dist loadfile)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench deploy/cluster
	$(BIN)/lint-imports

test-sqlite: $(STAMP)
	$(BIN)/pytest $(PARALLEL)

## The quick tier while working: no servers, no whole releases (marker slow); make test runs everything.
test-quick: $(STAMP)
	$(BIN)/pytest -m "not slow"

test-postgres: $(STAMP)
	scripts/with-postgres.sh $(BIN)/pytest $(PARALLEL)

## The production topology on this machine (deploy/README.md): HAProxy, two nodes per service,
## PostgreSQL primary and synchronous standby under Patroni and etcd. Installs what it lacks.
cluster: $(STAMP)
	deploy/cluster up

cluster-down:
	deploy/cluster down

## The topology's promises under load: node kills, a rolling restart, losing the primary (CI runs it).
test-cluster: $(STAMP)
	NTJP_CLUSTER_TESTS=1 $(BIN)/pytest -s tests/cluster

## The restore drill (tests/drill): a 500 000-person register backed up with pgBackRest and restored to a
## moment; prints the time from "restore begins" to "first call answered". Installs what it lacks.
test-drill: $(STAMP)
	NTJP_DRILL_TESTS=1 scripts/with-postgres.sh $(BIN)/pytest -s tests/drill

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache test-artifacts
