# The two commands anyone needs: `make demo` and `make test`. Both set up everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 5000
# The demo's email links point at the port it serves (BASE_URL's default is port 5000's address).
DEMO_ENV = DEMO=1 BASE_URL=http://127.0.0.1:$(PORT)
TEST_PG ?= postgresql://postgres@127.0.0.1:5432/test
SCAN_SECONDS ?= 60
LOAD_SECONDS ?= 60
LOAD_PG ?= postgresql://postgres@127.0.0.1:5432/load
LOAD_WORKERS ?= 4
BENCH_CONTRACTS ?= 5000

.PHONY: demo test test-pg install clean-demo bench scan load screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Install, migrate the embedded SQLite database, seed the demo member, serve on $(PORT).
demo: install
	$(DEMO_ENV) $(BIN)/flask --app app db upgrade
	$(DEMO_ENV) $(BIN)/flask --app app seed-demo
	@echo "Open http://127.0.0.1:$(PORT) — test mode, emails in the local inbox (Inbox in the header)."
	@echo "Background jobs (auto-release, reminders, reconciliation) run every 30 s while the demo runs."
	$(DEMO_ENV) $(BIN)/flask --app app jobs run-due --every 30 > instance/jobs.log 2>&1 & \
	  JOBS=$$!; trap 'kill $$JOBS 2>/dev/null' EXIT INT TERM; \
	  $(DEMO_ENV) $(BIN)/flask --app app run --host 127.0.0.1 --port $(PORT)

## Install and run the whole suite (SQLite; PostgreSQL too when TEST_DATABASE_URL is set).
test: install
	$(BIN)/python -m pytest

## The suite on the local PostgreSQL (what CI runs second).
test-pg: install
	TEST_DATABASE_URL=$(TEST_PG) $(BIN)/python -m pytest

## wapiti against gunicorn on a fresh seeded SQLite db, as a member and as a verified client
## ($(SCAN_SECONDS) s each); fails on any finding. Needs Debian's wapiti.
scan: install
	$(BIN)/python -m tests.tools.scan --seconds $(SCAN_SECONDS)

## Members and clients at once against gunicorn ($(LOAD_WORKERS) workers) on PostgreSQL $(LOAD_PG) (emptied
## first) for $(LOAD_SECONDS) s; fails on any 5xx, a ledger problem or a reconciliation mismatch.
load: install
	$(BIN)/python -m tests.tools.load --seconds $(LOAD_SECONDS) --database $(LOAD_PG) --workers $(LOAD_WORKERS)

## Seed a shop of $(BENCH_CONTRACTS) contracts (a temp SQLite file, or DATABASE_URL: emptied first) and time its
## pages against an empty route: median, p95, SQL statements, bytes; the table, and JSON in bench/results.json.
bench: install
	BENCH_CONTRACTS=$(BENCH_CONTRACTS) $(BIN)/python -m bench.bench

## The README's screenshots: the demo set-up on a temporary SQLite database, one contract with fixed data walked
## through Debian's Chromium (builder, proposal, fund page, receipt, signed agreement); docs/screenshots/readme-*.png.
screenshots: install
	$(BIN)/python -m tests.tools.screenshots

clean-demo:
	rm -f instance/directcontracts.sqlite3 instance/secret_key instance/test-gateway.json* instance/jobs.log
