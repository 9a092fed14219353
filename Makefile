# The course's two commands: `make course` and `make test`.
#   DATA_SOURCE=DIR   take CCP from a local copy instead of the public archive (CI: ../shared/datasets/ccp)
#   TORCH_INDEX=URL   where pip finds torch (e.g. https://download.pytorch.org/whl/cpu for a small CPU build)
PYTHON ?= python3
VENV ?= .venv
DATA_SOURCE ?=
TORCH ?= torch==2.14.1 torchvision==0.29.1
TORCH_INDEX ?=
PY := $(VENV)/bin/python
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: course test install data clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

data: install
	$(PY) data_scripts/download_ccp.py $(if $(DATA_SOURCE),--source $(DATA_SOURCE))

course: data
	mkdir -p build
	$(PY) -m jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=1800 \
		--output-dir build $(NOTEBOOKS)
	$(PY) -m jupyter nbconvert --to html --output-dir build $(addprefix build/,$(notdir $(NOTEBOOKS)))
	@echo "Executed notebooks and HTML are in build/"

test: data
	CLOTHLIB_FAST=1 $(PY) -m pytest tests $(NOTEBOOKS) --nbval-lax --nbval-current-env -p no:cacheprovider

clean:
	rm -rf build
