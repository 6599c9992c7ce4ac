# finsync: the README's commands. Needs only python3 (3.11), git and make.
VENV        ?= .venv
PYTHON      ?= python3
export FINSYNC_HOME ?= $(CURDIR)/.finsync

.PHONY: setup browser prometheus servers demo test unit screenshots ui lint bench clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.installed

## 1. Set up and run the main job on the embedded default (demo data, DAG run by Airflow).
demo: setup
	$(VENV)/bin/finsync demo run

## Debian's Chromium, which the browser test drives (tests/integration/test_budget_ui.py).
browser:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

## Debian's Prometheus and promtool, which the metrics tests run (tests/integration/test_metrics.py).
prometheus:
	@test -x /usr/bin/prometheus -a -x /usr/bin/promtool || { \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends prometheus; }

## Debian's PostgreSQL server and Redis, which the CeleryExecutor tests start (tests/celery:
## the warehouse and Airflow's metadata database over TLS, the Celery broker).
servers:
	@test -n "$$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null)" -a -x /usr/bin/redis-server || { \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends postgresql redis-server; }

## 2. Set up and run the whole test suite.
test: setup browser prometheus servers
	$(VENV)/bin/ruff check src dags plugins tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy src/finsync
	$(VENV)/bin/sqlfluff lint include/sql --quiet --processes 1
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadgroup

## The edit-test loop: ruff, the import contracts (.importlinter) and the fast tests
## (tests/unit, tests/dags; no Airflow services, no protocol servers, the SQL checks on the
## embedded PostgreSQL). `make test` before a commit.
unit: setup
	$(VENV)/bin/ruff check src dags plugins tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest -q tests/unit tests/dags

## The tutorial's screenshots (docs/img), taken by the onboarding browser test.
screenshots: setup browser
	DOCS_SCREENSHOTS=$(CURDIR)/docs/img $(VENV)/bin/python -m pytest -q \
		tests/integration/test_budget_ui.py -k test_onboarding_a_customer_from_the_page

## 3. The Airflow UI (and scheduler) on the embedded default: http://localhost:8080
ui: setup
	$(VENV)/bin/finsync ui

bench: setup
	$(VENV)/bin/python bench/planning_financials
	$(VENV)/bin/python bench/planning_compliance
	$(VENV)/bin/python bench/budget_sync
	$(VENV)/bin/python bench/budget_api

clean:
	-$(VENV)/bin/finsync db stop
	rm -rf $(VENV) .finsync
