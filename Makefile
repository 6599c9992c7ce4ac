# finsync: the README's commands. Needs only python3 (3.11), git and make.
VENV        ?= .venv
PYTHON      ?= python3
export FINSYNC_HOME ?= $(CURDIR)/.finsync

.PHONY: setup demo test ui lint bench clean

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

## 2. Set up and run the whole test suite.
test: setup
	$(VENV)/bin/ruff check src dags plugins tests bench
	$(VENV)/bin/python -m pytest -q

## 3. The Airflow UI (and scheduler) on the embedded default: http://localhost:8080
ui: setup
	$(VENV)/bin/finsync ui

bench: setup
	$(VENV)/bin/python bench/planning_financials
	$(VENV)/bin/python bench/planning_compliance

clean:
	-$(VENV)/bin/finsync db stop
	rm -rf $(VENV) .finsync
