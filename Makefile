# Two commands: `make demo` and `make test`. Both do all set-up on a fresh machine.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
SYSSTAMP := $(VENV)/.system-deps
APT_PKGS := xvfb xauth libxcb-icccm4 libxcb-keysyms1 chromium

.PHONY: all demo test lint weights system-deps install clean bench

all: test

# Debian packages: a virtual X display for napari's Qt tests, Chromium for the notebook browser test.
$(SYSSTAMP): | $(VENV)/bin/python
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

system-deps: $(SYSSTAMP)

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# torch first, from the local CPU wheel, so pip never pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[napari,notebook,dask,dev]"
	@touch $@

install: $(STAMP) $(SYSSTAMP)

weights: $(STAMP)
	$(VENV)/bin/liif weights fetch edsr-baseline

demo: install weights
	$(PY) -m liif_plugin.demo

# Lint and format check (ruff) and static types (pyright, basic mode, on liif_plugin): part of `make test`.
LINT_DIRS := liif_plugin napari_plugin tests benchmarks scripts
lint: install
	$(PY) -m ruff check $(LINT_DIRS)
	$(PY) -m ruff format --check $(LINT_DIRS)
	$(VENV)/bin/pyright

test: install weights lint
	$(PY) -m pytest -ra --durations=60

bench: install weights
	$(PY) benchmarks/speed.py
	$(PY) benchmarks/quality.py gains

clean:
	rm -rf $(VENV) demo_output .pytest_cache
