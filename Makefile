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

.PHONY: book test unit pair constraints clean

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

## make pair: regenerate the output-free .ipynb of every .md chapter (the .md is the source)
pair: $(STAMP)
	$(BIN)/jupytext --to ipynb notebooks/[0-9]*.md

constraints:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^tlnlp' | sed 's/^torch==\(.*\)+cpu/torch==\1/' > constraints.new
	@echo "review constraints.new, then move it onto constraints.txt"

clean:
	rm -rf _build .pytest_cache
