# Entry points. `make plan` is the main job (offline plan of the sandbox stack); `make test` runs
# the whole suite (lint, type check, pytest). Both create .venv and install on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov

.PHONY: plan test lint typecheck pytest install tools bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(CHECKOV_VENV)/.installed: tools/checkov-requirements.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r tools/checkov-requirements.txt
	touch $@

install: $(STAMP)

tools: $(CHECKOV_VENV)/.installed

plan: $(STAMP)
	$(BIN)/rollout plan --stack sandbox

lint: $(STAMP)
	$(BIN)/ruff check infra components policies tests benchmarks
	$(BIN)/ruff format --check infra components policies tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) tools
	CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/plan_time.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache
