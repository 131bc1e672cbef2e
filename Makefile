VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo simulate-demo test test-fast lint bench

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0            # CPU wheel first, never a CUDA build
	$(PY) -m pip install -q -e '.[text,image,s3,postgres,dev]'
	touch $(STAMP)

install: $(STAMP)   ## create .venv with torch (CPU) and labella[text,image,dev]

demo: $(STAMP)      ## start the server with a demo project (offline; data in $$LABELLA_DATA_DIR or ~/.labella)
	HF_HUB_OFFLINE=1 $(VENV)/bin/labella serve --demo

simulate-demo: $(STAMP)  ## offline simulation of active learning on bundled digits
	HF_HUB_OFFLINE=1 $(VENV)/bin/labella demo

test: $(STAMP)      ## the whole suite (slow tests included; Postgres/browser ones skip without their services)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-fast: $(STAMP) ## skip slow / browser / postgres tests
	$(PY) -m pytest -q -m "not slow and not browser and not postgres"

lint: $(STAMP)     ## ruff + mypy
	$(VENV)/bin/ruff check labella tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/label_efficiency.py
