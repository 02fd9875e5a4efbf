# The README's commands. Each target installs what it needs first (idempotent), so each
# works alone on a fresh machine with Python >= 3.10 and the package registries.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Single-threaded BLAS/OpenMP/numba: on 2 cores t-SNE/UMAP are ~10x faster this way.
THREADS := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: setup demo test lab browser clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# torch is pinned to 2.13.0 in pyproject.toml (never a range: it would pull CUDA wheels)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

## The main job on the built-in dataset.
demo: setup
	$(THREADS) $(BIN)/python -m dmdlab demo

## The whole test suite (installs Chromium for the real-browser test when it can).
test: setup browser
	$(THREADS) $(BIN)/python -m pytest $(PYTEST_ARGS)

## JupyterLab on the notebooks, on this machine only (127.0.0.1). JupyterLab refuses to
## run as root without --allow-root (containers often run as root): added only for root.
LAB_UID ?= $(shell id -u)
LAB_ARGS := --ip=127.0.0.1 $(if $(filter 0,$(LAB_UID)),--allow-root)
lab: setup
	$(THREADS) $(BIN)/jupyter lab notebooks $(LAB_ARGS)

browser:
	@bash scripts/install-browser.sh

clean:
	rm -rf $(VENV) runs artifacts .pytest_cache
