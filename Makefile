VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test test-fast lint demo bench

install:            ## create .venv with torch (CPU) and labella[text,image,dev]
	python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[text,image,dev]'

test:               ## the full suite (slow tests included)
	$(PY) -m pytest -q

test-fast:          ## skip slow / browser / postgres tests
	$(PY) -m pytest -q -m "not slow and not browser and not postgres"

lint:
	$(VENV)/bin/ruff check labella tests benchmarks
	$(VENV)/bin/mypy

demo:
	$(VENV)/bin/labella simulate --demo

bench:
	$(PY) benchmarks/label_efficiency.py
