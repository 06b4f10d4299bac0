# Entry points. `make plan` is the main job (offline plan of the sandbox stack); `make test` runs
# the whole suite (lint, type check, pytest). Both create .venv and install on first use; `make
# test` also installs the system tools the tests run (tools/system-deps.sh).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
SOURCES := rollout_rules infra components policies rollout_cli

.PHONY: plan test test-fast drill lint typecheck pytest install tools system-tools setup bench clean

# pip byte-compiles what it installs but not an editable project; compile the project's sources
# too, so that where PYTHONDONTWRITEBYTECODE is set (CI) no process compiles them again (a plan
# or a pack start spends about 5 % of its time on it). Edited sources recompile as usual.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[cli,test]'
	$(BIN)/python -m compileall -q $(SOURCES)
	touch $(STAMP)

$(CHECKOV_VENV)/.installed: tools/checkov-requirements.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r tools/checkov-requirements.txt
	touch $@

install: $(STAMP)

tools: $(CHECKOV_VENV)/.installed system-tools

# promtool, amtool and the Prometheus and Alertmanager servers: installed with apt-get where it
# exists and they are missing; elsewhere one line says what to install.
system-tools:
	bash tools/system-deps.sh

# Every install at once: the two virtualenvs and the system tools do not depend on each other,
# and each pip install keeps about one core busy (on a fresh clone, 230 s and 100 s one after
# the other, 240 s together).
setup:
	@$(MAKE) --no-print-directory -j3 install tools

plan: $(STAMP)
	$(BIN)/rollout plan --stack sandbox

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES) tests benchmarks tools
	$(BIN)/ruff format --check $(SOURCES) tests benchmarks tools

typecheck: $(STAMP)
	$(BIN)/mypy

# Across every core (pytest-xdist); plans are shared between the workers (tests/conftest.py).
# worksteal: an idle worker takes queued tests from a busy one, so no core waits on the last
# long module.
PYTEST := CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(BIN)/pytest -q -n auto --dist worksteal
pytest: $(STAMP) tools
	$(PYTEST)

# Installs (all at once), lint (seconds); then the type check runs beside pytest: mypy is one
# process on one core and pytest's workers leave about a quarter of the machine idle (waiting on
# servers), so the two together take about pytest's time. mypy's report is printed after
# pytest's; either failing fails the target.
test: setup
	@$(MAKE) --no-print-directory lint
	@$(BIN)/mypy > $(VENV)/mypy.log 2>&1 & mypy=$$!; \
	$(PYTEST); pytest=$$?; \
	wait $$mypy; typecheck=$$?; \
	echo "mypy:"; cat $(VENV)/mypy.log; \
	test $$pytest -eq 0 -a $$typecheck -eq 0

# The edit loop: everything not marked slow (no whole-program plans, processes, external tools or
# AWS emulation).
test-fast: $(STAMP)
	$(BIN)/pytest -q -n auto --dist worksteal -m "not slow and not drill"

# Rollback drills (one per fault) with real Prometheus, Alertmanager and a moto server; bounded
# by real alert timing, so not part of `make test`.
drill: $(STAMP) system-tools
	$(BIN)/pytest -q -m drill tests/rollout_cli/drill

# Speed and memory, each figure measured side by side in one run (see README, Benchmarks).
bench: $(STAMP)
	$(BIN)/python benchmarks/plan_time.py
	$(BIN)/python benchmarks/policy_check.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache
