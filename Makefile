# The course's two commands: `make course` and `make test`.
#   DATA_SOURCE=DIR   take CCP from a local copy instead of the public archive (CI: ../shared/datasets/ccp)
#   TORCH_INDEX=URL   where pip finds torch (e.g. https://download.pytorch.org/whl/cpu for a small CPU build)
# Checks (CI runs them all: .ci/run): `make lint`, `make test` (fast mode), `make test-default`, `make test-student`.
#   make student    the student edition (solutions and answers removed) in build/student/
PYTHON ?= python3
VENV ?= .venv
DATA_SOURCE ?=
TORCH ?= torch==2.14.1 torchvision==0.29.1
TORCH_INDEX ?=
PY := $(VENV)/bin/python
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
NBVAL := --nbval-lax --nbval-current-env -p no:cacheprovider
export PYTHONHASHSEED := 0
# Tests draw figures off screen (Agg); `make course` does not: see there.
TESTENV := MPLBACKEND=Agg

.PHONY: course test test-default student test-student lint readme install data clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

data: install
	$(PY) data_scripts/download_ccp.py $(if $(DATA_SOURCE),--source $(DATA_SOURCE))

# The kernels draw with Jupyter's inline backend even where the caller's shell sets MPLBACKEND (Agg would
# leave the executed notebooks and their HTML without a figure).
course: data
	mkdir -p build
	env -u MPLBACKEND $(PY) -m jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=1800 \
		--output-dir build $(NOTEBOOKS)
	$(PY) -m jupyter nbconvert --to html --output-dir build $(addprefix build/,$(notdir $(NOTEBOOKS)))
	@echo "Executed notebooks and HTML are in build/"

# Unit tests and every notebook in fast mode (CLOTHLIB_FAST=1: small sizes, the same code paths).
test: data
	$(TESTENV) CLOTHLIB_FAST=1 $(PY) -m pytest tests $(NOTEBOOKS) $(NBVAL)

# Every notebook in default mode, the path students run, with its asserts (shipped numbers reproduce).
test-default: data
	$(TESTENV) CLOTHLIB_FAST=0 $(PY) -m pytest $(NOTEBOOKS) $(NBVAL)

# The student edition: solutions -> raise NotImplementedError(), answers removed (nbgrader's conventions).
student: install
	$(PY) tools/make_student.py --out build/student

# The student edition runs top to bottom in fast mode: each check says "not implemented yet", nothing crashes.
test-student: student data
	$(TESTENV) CLOTHLIB_FAST=1 $(PY) -m pytest build/student/*.ipynb $(NBVAL)

lint: install
	$(PY) -m ruff check .

# Regenerate the README's and checkpoints/README.md's tables from the results files.
readme: install
	$(PY) tools/render_readme.py

clean:
	rm -rf build
