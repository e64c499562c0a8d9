# cotrench: every target installs what it needs, and only what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000

APT_DB := postgresql postgresql-15-postgis-3 postgresql-15-pgrouting postgresql-contrib
APT_TOOLS := python3-venv gdal-bin
APT_BROWSER := chromium fonts-noto-cjk poppler-utils

.PHONY: help demo test bench db-start db-stop clean lint apt-db apt-all venv

help:
	@echo "make demo      install, start PostGIS, load the sample city, serve on http://$(HOST):$(PORT)/"
	@echo "make test      install and run the whole suite"
	@echo "make bench     run the benchmarks (results go to BENCHMARKS.md by hand)"
	@echo "make db-start  start the project's PostGIS (when DATABASE_URL is unset)"
	@echo "make db-stop   stop it"
	@echo "make clean     stop PostGIS and remove the venv, the cluster and caches"

apt-db:
	@scripts/ensure-apt.sh $(APT_DB) $(APT_TOOLS)

apt-all:
	@scripts/ensure-apt.sh $(APT_DB) $(APT_TOOLS) $(APT_BROWSER)

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,bench]'
	@touch $@

db-start: apt-db venv
	@if [ -z "$$DATABASE_URL" ]; then $(BIN)/cotrench db start; else echo "using DATABASE_URL"; fi

db-stop:
	@if [ -x $(BIN)/cotrench ]; then $(BIN)/cotrench db stop; fi

demo: apt-all venv db-start
	$(BIN)/cotrench demo load --base-url http://$(HOST):$(PORT)
	@echo "cotrench is serving the sample city at http://$(HOST):$(PORT)/ (API docs at /docs)"
	$(BIN)/cotrench serve --host $(HOST) --port $(PORT)

test: apt-all venv lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: apt-all venv db-start
	$(BIN)/python -m bench

clean: db-stop
	rm -rf $(VENV) .pg .stamps .pytest_cache .mypy_cache .ruff_cache .hypothesis artifacts bench/out
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
