# Two commands on a fresh machine: `make run` (the main job) and `make test` (all tests).
# Both set themselves up through `make setup`: Python 3.10 venv, dependencies, models (cached under ~/.cache/edge-ocr).
SHELL := /bin/bash
VENV := .venv
EDGE := $(VENV)/bin/edge-ocr
REFERENCE ?= $(abspath ../shared/reference)

.PHONY: setup models run test verify bench clean

setup: $(VENV)/.installed models

$(VENV)/.installed: pyproject.toml
	@py="$$(scripts/find-python310.sh)" || exit 1; \
	if [ ! -x $(VENV)/bin/python ] || ! $(VENV)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then \
	  echo "creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV); fi
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q -e ".[test]"
	@touch $@

models: $(VENV)/.installed
	$(EDGE) models build

run: setup
	$(EDGE) run

test: setup
	$(VENV)/bin/python -m pytest -q -rs --durations=15 $(PYTEST_ARGS)

verify: setup
	$(EDGE) models verify --reference $(REFERENCE)

bench: setup
	$(EDGE) bench $(REFERENCE)/images --repeat 2

clean:
	rm -rf $(VENV) models_mobile/build
