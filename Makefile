# The README's two commands: `make book` builds the book, `make test` runs the tests.
# Both create .venv from constraints.txt first (offline-safe: torch==2.13.0 is a CPU wheel).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Notebooks run with notebooks/ as their working directory: make a relative data dir absolute.
ifdef TLNLP_DATA_DIR
export TLNLP_DATA_DIR := $(abspath $(TLNLP_DATA_DIR))
endif

PYTEST_ARGS ?=
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=900

.PHONY: book test unit pair constraints clean smoke-gpu wheel-test

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[book,test]"
	touch $(STAMP)

## make book: execute every chapter (preset from TLNLP_PRESET, else gpu/cpu) and build the HTML
book: $(STAMP)
	$(BIN)/jupyter-book build . --config book/_config.yml --toc book/_toc.yml -W --keep-going
	@echo "HTML: _build/html/index.html"

## make test: unit tests, every docstring example (doctest) and every chapter through nbval at the ci preset
test: $(STAMP)
	TLNLP_PRESET=ci $(BIN)/python -m pytest $(NBVAL) --doctest-modules tlnlp tests notebooks $(PYTEST_ARGS)

## make unit: unit tests only (fast)
unit: $(STAMP)
	$(BIN)/python -m pytest --doctest-modules tlnlp tests $(PYTEST_ARGS)

## make smoke-gpu: every chapter on the gpu preset's code path, model names and data sources but ci sizes
## (TLNLP_SMOKE=1), on this machine's device, against tiny random stand-ins for the hub models and the
## gpu-only data (tests/standins.py). It proves that the code runs, not what it measures.
SMOKE_DIR ?= .cache/smoke-gpu
SMOKE_CHAPTERS ?= $(wildcard notebooks/[0-9]*.md)
smoke-gpu: $(STAMP)
	rm -rf $(SMOKE_DIR) && mkdir -p $(SMOKE_DIR)/out
	$(BIN)/python tests/standins.py $(SMOKE_DIR)/models $(SMOKE_DIR)/data
	set -e; for chapter in $(SMOKE_CHAPTERS); do \
	  echo "::: smoke-gpu $$chapter"; start=$$(date +%s); \
	  ( cd notebooks && TLNLP_PRESET=gpu TLNLP_SMOKE=1 TLNLP_OFFLINE=1 HF_HUB_OFFLINE=1 \
	    TLNLP_MODEL_DIR=$(abspath $(SMOKE_DIR))/models TLNLP_DATA_DIR=$(abspath $(SMOKE_DIR))/data \
	    $(abspath $(BIN))/jupytext --execute --to ipynb -o $(abspath $(SMOKE_DIR))/out/$$(basename $$chapter .md).ipynb $$(basename $$chapter) ) \
	    || { echo "smoke-gpu: $$chapter failed on the gpu code path (see the traceback above)"; exit 1; }; \
	  echo "::: smoke-gpu $$chapter took $$(( $$(date +%s) - start )) s"; \
	done

## make wheel-test: build wheel + sdist, install the wheel in fresh venvs (pinned and newest releases),
## run chapter 1 at ci and the README examples there (.ci/wheel-test)
wheel-test:
	.ci/wheel-test

## make pair: regenerate the output-free .ipynb of every .md chapter (the .md is the source)
pair: $(STAMP)
	$(BIN)/jupytext --to ipynb notebooks/[0-9]*.md

constraints:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^tlnlp' | sed 's/^torch==\(.*\)+cpu/torch==\1/' > constraints.new
	@echo "review constraints.new, then move it onto constraints.txt"

clean:
	rm -rf _build .pytest_cache
