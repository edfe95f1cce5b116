# The two commands anyone needs: `make demo` and `make test`. Both set up everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 5000
# The demo's email links point at the port it serves (BASE_URL's default is port 5000's address).
DEMO_ENV = DEMO=1 BASE_URL=http://127.0.0.1:$(PORT)
TEST_PG ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: demo test test-pg install clean-demo bench

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

clean-demo:
	rm -f instance/directcontracts.sqlite3 instance/secret_key instance/test-gateway.json* instance/jobs.log
