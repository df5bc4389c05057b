# nips2019: the two commands a reader needs are `make book` and `make test`.
# Everything runs inside .venv, created on demand from requirements.txt.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Two notebooks / test files in parallel on a 2-core machine, one torch thread each.
JOBS   ?= 2
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export PYDEVD_DISABLE_FILE_VALIDATION = 1

.PHONY: help setup book book-strict test unit notebooks lab bench clean

help:
	@echo "make setup   create $(VENV) and install the pinned environment (only when needed)"
	@echo "make book    execute every notebook (full size) and render the book to _build/html"
	@echo "make test    unit tests + doctests, every notebook under nbval (quick mode), strict book build"
	@echo "make lab     JupyterLab on http://127.0.0.1:8888 (notebooks in book/)"
	@echo "make bench   time the core kernels against baselines -> benchmarks/results.md"
	@echo "make clean   remove build outputs and caches (keeps $(VENV))"

setup: $(STAMP)

# Re-install only when the venv is missing or the pinned requirements / package metadata changed.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	@touch $@

# Full-size execution of every notebook, $(JOBS) at a time, into the execution cache that the render
# reads (scripts/execute_book.py: unchanged notebooks are not re-run; a failing cell fails the build
# and names the notebook). Then the render (-W: any Sphinx warning fails it), a check that every
# chapter shows its figures, and a headless-browser check of every page (maths typeset, images load,
# no error outputs, no sideways scrolling; screenshots in _build/screenshots).
# MPLBACKEND is unset for the kernels: a non-interactive backend (Agg) would drop every figure.
BOOK_ENV := env -u MPLBACKEND NIPS2019_QUICK=0 NIPS2019_PROGRESS=0
BROWSER_CHECK_FLAGS ?=

book: setup
	$(BOOK_ENV) $(BIN)/python scripts/execute_book.py --jobs $(JOBS)
	$(BOOK_ENV) $(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python scripts/check_book.py _build/html
	$(BIN)/python scripts/browser_check.py --html _build/html $(BROWSER_CHECK_FLAGS)
	@echo "Book built: file://$(CURDIR)/_build/html/index.html"

# Strict, non-executing build: broken cross-references, citations or toc entries fail it.
book-strict: setup
	$(BIN)/jupyter-book config sphinx . > /dev/null
	$(BIN)/sphinx-build -q -b html -W -n --keep-going -c . -D nb_execution_mode=off \
	    -d _build/strict/doctrees . _build/strict/html; status=$$?; rm -f conf.py; exit $$status
	$(BIN)/python scripts/browser_check.py --html _build/strict/html --no-screenshots $(BROWSER_CHECK_FLAGS)

unit: setup
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile -q -m "not slow" tests nips2019

notebooks: setup
	NIPS2019_QUICK=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadfile -q --nbval-lax book -p no:cacheprovider

test: setup
	@start=$$(date +%s); \
	NIPS2019_QUICK=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadfile -q -m "not slow" tests nips2019 --nbval-lax book && \
	$(MAKE) --no-print-directory book-strict && \
	echo "make test: all passed in $$(( $$(date +%s) - start )) s"

lab: setup
	$(BIN)/jupyter lab --no-browser --ip 127.0.0.1 --allow-root --notebook-dir=.

bench: setup
	$(BIN)/python -m benchmarks.run -o benchmarks/results.md

clean:
	rm -rf _build .pytest_cache .jupyter_cache conf.py
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
