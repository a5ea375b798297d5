# Two commands for a fresh machine: `make run` and `make test`. Both are idempotent.
VENV    := .venv
PY      := $(VENV)/bin/python
FLASK   := $(VENV)/bin/flask --app wsgi
STAMP   := $(VENV)/.installed
PORT    ?= 5000
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: setup system-deps run serve migrate test test-sqlite test-postgres bench clean

setup: system-deps $(STAMP)

system-deps:
	@scripts/system-deps.sh

$(STAMP): requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $(STAMP)

migrate: setup
	$(FLASK) db upgrade

run: export APP_ENV ?= development
run: migrate
	$(FLASK) demo seed
	$(FLASK) run --host 127.0.0.1 --port $(PORT) --no-debugger --no-reload --with-threads

test: setup test-sqlite test-postgres

test-sqlite:
	$(PY) -m pytest -q

# The database-backed tests again on PostgreSQL. CI sets REQUIRE_POSTGRES=1 so an absent server fails the run.
test-postgres:
	@if $(PY) scripts/pg_ready.py "$(PG_TEST_URL)"; then \
		QIANYUE_TEST_DATABASE_URL="$(PG_TEST_URL)" $(PY) -m pytest -q -m db; \
	elif [ "$$REQUIRE_POSTGRES" = "1" ]; then \
		echo "PostgreSQL at $(PG_TEST_URL) is not reachable" >&2; exit 1; \
	else \
		echo "SKIPPED: PostgreSQL at $(PG_TEST_URL) is not reachable; only SQLite was tested"; \
	fi

bench: setup
	$(PY) bench/engine.py
	$(PY) bench/documents.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
