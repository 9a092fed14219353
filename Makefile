# The course's two commands: `make course` and `make test`.
#   DATA_SOURCE=DIR   take CCP from a local copy instead of the public archive (CI: ../shared/datasets/ccp)
#   TORCH_INDEX=URL   where pip finds torch (e.g. https://download.pytorch.org/whl/cpu for a small CPU build)
# Checks (CI runs them all: .ci/run): `make lint`, `make test` (fast mode), `make test-default`, `make test-student`,
#   `make test-browser` (headless Chromium: JupyterLab, the demo page, the course site; after `make book`),
#   `make test-colab` (the notebooks' Colab lines on a simulated bare host: tools/simulate_colab.py).
#   make student    the student edition (solutions and answers removed) in build/student/
#   make demo       the end-to-end demo as a web page (Voilà) on http://127.0.0.1:$(DEMO_PORT)/, DEMO_KERNELS pages at once
#   make book       the course as a static site in build/book/html (CLOTHLIB_FAST=1 make book: from fast-mode runs)
PYTHON ?= python3
VENV ?= .venv
DATA_SOURCE ?=
TORCH ?= torch==2.14.1 torchvision==0.29.1
TORCH_INDEX ?=
PY := $(VENV)/bin/python
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
NBVAL := --nbval-lax --nbval-current-env -p no:cacheprovider
DEMO_PORT ?= 8866
# Kernels the demo keeps alive at once (one per open page, ~1.1 GB each: README, "The demo as a web page").
DEMO_KERNELS ?= 20
BOOK := build/book
export PYTHONHASHSEED := 0
# Tests draw figures off screen (Agg); `make course` does not: see there.
TESTENV := MPLBACKEND=Agg

.PHONY: course test test-default student test-student lint readme install data clean demo book test-browser test-colab

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# Extras that only some targets need, installed the first time one of them runs.
$(VENV)/.book: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[book]"
	touch $@

$(VENV)/.browser: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[browser]"
	touch $@

data: install
	$(PY) data_scripts/download_ccp.py $(if $(DATA_SOURCE),--source $(DATA_SOURCE))

# The kernels draw with Jupyter's inline backend even where the caller's shell sets MPLBACKEND (Agg would
# leave the executed notebooks and their HTML without a figure). book/execute.py is nbconvert with the kernel
# client's waits polled once a second (a missed ZeroMQ wake-up otherwise stalls a cell for its whole timeout).
course: data
	mkdir -p build
	env -u MPLBACKEND $(PY) book/execute.py --to notebook --execute --ExecutePreprocessor.timeout=1800 \
		--output-dir build $(NOTEBOOKS)
	$(PY) -m jupyter nbconvert --to html --output-dir build $(addprefix build/,$(notdir $(NOTEBOOKS)))
	@echo "Executed notebooks and HTML are in build/"

# Unit tests and every notebook in fast mode (CLOTHLIB_FAST=1: small sizes, the same code paths). The browser
# tests (tests/browser) need Chromium and are `make test-browser`.
test: data
	$(TESTENV) CLOTHLIB_FAST=1 $(PY) -m pytest tests $(NOTEBOOKS) $(NBVAL) --ignore=tests/browser

# Every notebook in default mode, the path students run, with its asserts (shipped numbers reproduce).
test-default: data
	$(TESTENV) CLOTHLIB_FAST=0 $(PY) -m pytest $(NOTEBOOKS) $(NBVAL)

# The student edition: solutions -> raise NotImplementedError(), answers removed (nbgrader's conventions).
student: install
	$(PY) tools/make_student.py --out build/student

# The student edition runs top to bottom in fast mode: each check says "not implemented yet", nothing crashes.
test-student: student data
	$(TESTENV) CLOTHLIB_FAST=1 $(PY) -m pytest build/student/*.ipynb $(NBVAL)

# The end-to-end demo as a web page: app/demo.ipynb served by Voilà on 127.0.0.1 (Ctrl-C stops it). The
# first run builds the shop gallery (the consumer-to-shop set) and caches its features before serving. At most
# DEMO_KERNELS pages at once (app/voila.py; more get "the demo is full"), idle ones culled (app/voila.json).
demo: data
	$(PY) -c "from clothlib import webdemo; webdemo.load_retriever()"
	cd app && $(abspath $(VENV))/bin/voila demo.ipynb --port=$(DEMO_PORT) --CappedKernelManager.max_kernels=$(DEMO_KERNELS)

# The course as a static site (Sphinx + myst-nb) from the notebooks `make course` executed, with the README as
# its front page; publish build/book/html (README: "The course as a website").
book: course $(VENV)/.book
	$(PY) book/assemble.py --executed build --out $(BOOK)/src
	rm -rf $(BOOK)/html
	$(PY) -m sphinx -b html -c book -W --keep-going -q $(BOOK)/src $(BOOK)/html
	@echo "The course site is in $(BOOK)/html (open index.html)"

# A real browser (Debian: apt-get install chromium chromium-driver): JupyterLab runs the notebooks with widgets
# and every widget must render; the demo page answers uploads; every page of the built site loads with no broken
# image or link. Fast mode; figures drawn as a person sees them (no Agg). Screenshots in build/browser/.
test-browser: data $(VENV)/.browser
	env -u MPLBACKEND CLOTHLIB_FAST=1 $(PY) -m pytest tests/browser -m browser -p no:cacheprovider -s

# Colab's first cell for real: a fresh venv holding only torch (this checkout's, exposed read-only) and the test
# runner; notebook 00 in fast mode clones the committed repository, installs it with torch pinned, fetches CCP
# (DATA_SOURCE, else the archive) and runs; then torch must be the untouched original and clothlib the clone.
test-colab: install
	$(TESTENV) $(PY) tools/simulate_colab.py $(if $(DATA_SOURCE),--ccp-source $(DATA_SOURCE))

lint: install
	$(PY) -m ruff check .

# Regenerate the README's and checkpoints/README.md's tables from the results files.
readme: install
	$(PY) tools/render_readme.py

clean:
	rm -rf build
