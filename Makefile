# Course labs: set-up, release, smoke runs, grading demo and tests.
# Every target installs what it needs first (into .venv).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SHARED_DATA := $(abspath ../shared/data)
# Pre-seeded datasets beside the checkout (developer machines and CI), if present.
export COURSE_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)/MANIFEST.tsv),$(SHARED_DATA),)
# TensorFlow build: the GPU one when an NVIDIA driver is present, else the smaller CPU one.
TF_EXTRA := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo tf || echo tf-cpu)

.PHONY: setup sandbox music-tools demo test test-fast smoke release lint benchmark colab-check colab-compare clean
.PHONY: slurm-up slurm-down

setup: $(VENV)/.installed sandbox music-tools

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,$(TF_EXTRA)]"
	touch $@

# bubblewrap isolates student kernels when grading; installed when we are root on Debian/Ubuntu.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null; \
	  else echo "note: install bubblewrap to grade in a sandbox (see README)"; fi; }

# abc2midi (package abcmidi, under 1 MB) turns Lab 7's ABC tunes into MIDI, as in the course, and timidity
# (with its free sound font) plays them; without them the lab uses its own parser and shows no audio player.
# Installed when we are root on Debian/Ubuntu; the playback test needs both.
music-tools:
	@{ command -v abc2midi && command -v timidity; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && apt-get install -y -qq abcmidi timidity) >/dev/null; \
	  else echo "note: install abcmidi and timidity to convert and play Lab 7's tunes (optional)"; fi; }

release: setup
	$(PY) -m grader release

smoke: setup
	$(PY) -m grader smoke

demo: setup
	$(PY) -m grader demo

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

# A single-node Slurm on this machine (as root; installs slurm and munge with apt) to try deploy/slurm/'s recipes:
# `make slurm-up`, then `export SLURM_CONF=/run/course-slurm/slurm.conf` and sbatch; `make slurm-down` stops it.
slurm-up:
	deploy/slurm/local/cluster.sh up

slurm-down:
	deploy/slurm/local/cluster.sh down

lint: setup
	$(VENV)/bin/ruff check course_utils grader tests benchmarks

# Every lab and the grading notebook in Colab's runtime (../shared/colab/pip-freeze.gpu.txt, with the local
# Python): see the README's "Colab's runtime as a test environment". Reuses build/colab/ between runs.
COLAB_FREEZE ?= $(abspath ../shared/colab/pip-freeze.gpu.txt)
colab-check: setup
	$(PY) -m grader.colab_runtime check --freeze $(COLAB_FREEZE)

# What a new Colab freeze (NEW=<path or URL>) changes for the labs.
colab-compare: setup
	$(PY) -m grader.colab_runtime compare $(NEW) --current $(COLAB_FREEZE)

benchmark: setup
	$(PY) benchmarks/lab1.py
	$(PY) benchmarks/grading.py

clean:
	rm -rf build grading dist .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +
