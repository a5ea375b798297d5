# Two commands for a fresh machine: `make run` and `make test`. Both are idempotent.
VENV    := .venv
PY      := $(VENV)/bin/python
FLASK   := $(VENV)/bin/flask --app wsgi
STAMP   := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime-installed
PORT    ?= 5000
export PORT  # every command (the server, demo seed's mail) derives BASE_URL from the same PORT
RUN_WORKER ?= 1
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: setup system-deps vendor run serve cluster migrate test test-sqlite test-postgres bench clean translations

# The development venv: the runtime packages (requirements.txt, all that `make serve` installs) and the test tools.
setup: system-deps $(STAMP) vendor

system-deps:
	@scripts/system-deps.sh

$(RUNTIME): requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $(RUNTIME)

$(STAMP): $(RUNTIME) requirements-test.txt
	$(VENV)/bin/pip install --quiet -r requirements-test.txt
	touch $(STAMP)

# bpmn-js, dmn-js, signature_pad and ECharts (exact versions in package-lock.json) copied from node_modules into static/vendor.
# The copies are not committed (.gitignore): they are rebuilt from the lock file, with their licences.
VENDOR     := webapp/static/vendor
VENDOR_STAMP := $(VENDOR)/.installed
vendor: $(VENDOR_STAMP)

$(VENDOR_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || scripts/system-deps.sh nodejs npm
	npm ci --no-audit --no-fund
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/bpmn-js $(VENDOR)/dmn-js $(VENDOR)/echarts
	cp node_modules/bpmn-js/dist/bpmn-modeler.production.min.js node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js \
	   node_modules/bpmn-js/LICENSE $(VENDOR)/bpmn-js/
	cp -r node_modules/bpmn-js/dist/assets $(VENDOR)/bpmn-js/assets
	cp node_modules/dmn-js/dist/dmn-modeler.production.min.js node_modules/dmn-js/LICENSE $(VENDOR)/dmn-js/
	cp -r node_modules/dmn-js/dist/assets $(VENDOR)/dmn-js/assets
	cp node_modules/signature_pad/dist/signature_pad.umd.min.js $(VENDOR)/
	cp node_modules/signature_pad/LICENSE $(VENDOR)/signature_pad.LICENSE
	cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE node_modules/echarts/NOTICE $(VENDOR)/echarts/
	touch $(VENDOR_STAMP)

migrate: setup
	$(FLASK) db upgrade

run: export APP_ENV ?= development
# the server runs background jobs in a thread (RUN_WORKER, README "Background jobs"); the commands before it do not
run: migrate
	$(FLASK) demo seed
	RUN_WORKER=$(RUN_WORKER) $(FLASK) devserver --host 127.0.0.1

# production-like: gunicorn and a job worker on PostgreSQL (scripts/serve says what it needs; README "Deploying")
serve: system-deps $(RUNTIME) vendor
	scripts/serve

# several nodes on one PostgreSQL behind HAProxy on loopback port CLUSTER_PORT (scripts/cluster says what it starts;
# README "Deploying"); e.g. make cluster CLUSTER_ARGS=--seed
CLUSTER_PORT ?= 8080
cluster: system-deps $(RUNTIME) vendor
	$(PY) scripts/cluster --port $(CLUSTER_PORT) $(CLUSTER_ARGS)

# The two passes run side by side (each is mostly one Python process; two cores), each one's output printed whole
# when it ends.
test: setup
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

test-sqlite:
	$(PY) -m pytest -q

# The database-backed tests again on PostgreSQL. CI sets REQUIRE_POSTGRES=1 so an absent server fails the run.
test-postgres:
	@if $(PY) scripts/pg_ready.py "$(PG_TEST_URL)"; then \
		QIANYUE_TEST_DATABASE_URL="$(PG_TEST_URL)" $(PY) -m pytest -q -m "db and not browser"; \
	elif [ "$$REQUIRE_POSTGRES" = "1" ]; then \
		echo "PostgreSQL at $(PG_TEST_URL) is not reachable" >&2; exit 1; \
	else \
		echo "SKIPPED: PostgreSQL at $(PG_TEST_URL) is not reachable; only SQLite was tested"; \
	fi

bench: setup
	$(PY) bench/engine.py
	$(PY) bench/documents.py
	$(PY) bench/pages.py
	$(PY) bench/dashboards.py
	$(PY) bench/dashboards.py --sqlite
	$(PY) bench/register.py

# The message catalogs: re-extract every _()/gettext/lazy_gettext string into the .pot, merge it into
# each locale's .po (creating a missing one), then compile the .mo files. Translate new entries in
# webapp/translations/zh_Hans_CN/LC_MESSAGES/messages.po, run this again, and commit the .pot, .po and .mo files.
# (The Chinese catalog is named zh_Hans_CN because Babel parses the UI's language code zh_CN as that.)
TRANSLATIONS := webapp/translations
LOCALES      := zh_Hans_CN en
PYBABEL      := $(VENV)/bin/pybabel

translations: $(STAMP)
	$(PYBABEL) extract -F babel.cfg -k _l -k lazy_gettext -k _p:1c,2 --ignore-dirs='.* ._ node_modules __pycache__' \
		--sort-by-file --no-wrap --project=Qianyue --copyright-holder=Qianyue -o $(TRANSLATIONS)/messages.pot .
	@for locale in $(LOCALES); do \
		if [ -f $(TRANSLATIONS)/$$locale/LC_MESSAGES/messages.po ]; then \
			$(PYBABEL) update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l $$locale --no-wrap --ignore-obsolete --no-fuzzy-matching || exit 1; \
		else \
			$(PYBABEL) init -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l $$locale --no-wrap || exit 1; \
		fi; \
	done
	@for locale in $(LOCALES); do $(PYBABEL) compile -d $(TRANSLATIONS) -l $$locale --statistics || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts node_modules $(VENDOR)
