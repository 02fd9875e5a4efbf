# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · A BERT text encoder, and the first result on real data
#
# The paper feeds DMD's language branch with a **fine-tuned BERT** (the official code trains
# it with the rest, at the same learning rate). dmdlab takes any
# BERT-family model found on disk (nothing is downloaded): the model reads the file's
# `text_bert` rows (token ids, attention mask, segment ids) through it instead of
# pre-extracted `text` features.
#
# This notebook
#
# 1. trains the BERT variant — in *paper* mode (official preset and protocol, encoder
#    fine-tuned) on a dataset file you name, or in *class* mode (the default) on the built-in
#    MOSI-size data tokenized for the encoder, with the class protocol (about 10 minutes for
#    one run with all-MiniLM-L6-v2 on 2 CPU cores);
# 2. turns real transcripts (an MMSA `label.csv`) into a dataset file and trains the
#    **text-only** variant on real CMU-MOSI, beside a published text-only BERT figure.
#
# `MODE = "smoke"` runs both parts in seconds with a tiny random BERT (not meaningful: the
# figures say so); in class and paper mode part 2 reads the runs of the README's real-data
# command (`make mosi-text`).
#
# **Training, before it starts.** In class mode part 1 trains one BERT run (all-MiniLM-L6-v2
# fine-tuned, 3 epochs) the first time, about 10 min on 2 CPU cores, and reads it from
# dmdlab's cache afterwards; the workbench does not train it. Part 2 reads the runs of `make
# mosi-text` and trains nothing.

# %% tags=["parameters"]
MODE = "class"          # "class": built-in MOSI-size data + MiniLM, class protocol; "smoke": tiny BERT, seconds; "paper": DATASET, official protocol
DATASET = None          # paper mode: an MMSA pickle with text_bert (and vision/audio for DMD); None: the built-in data
PRESET = "mosi"
TEXT_ENCODER = None     # a local BERT-family folder or cached model name; None: the offline all-MiniLM-L6-v2
FREEZE_TEXT = False     # True keeps the encoder's weights fixed (the paper fine-tunes it)
VARIANT = "dmd"         # "dmd" needs vision and audio; "unimodal_l" reads text only
SEEDS = None           # None: the mode's number of seeds (part 1 trains the first)
LABELS = None           # an MMSA label.csv of CMU-MOSI; None: data/mosi_label.csv when present
REAL_RUNS = None        # the runs of `make mosi-text`; None: runs/mosi_text in the repository

# %%
from pathlib import Path

import dmdlab
from dmdlab import paper, runs
from dmdlab.notebook import bert_setup, real_label_csv
from dmdlab.viz import CurvesDisplay

nb = bert_setup(MODE, dataset=DATASET, text_encoder=TEXT_ENCODER, preset=PRESET, seeds=SEEDS, freeze=FREEZE_TEXT)
nb

# %% [markdown]
# ## 1 · The BERT variant in paper mode
#
# The model config names the encoder; its hidden size replaces the text width d_L. Everything
# else (decoupling, both GD-units, the protocol) is as in the other notebooks.

# %%
nb.model_config.arch

# %%
run = nb.runs([VARIANT], seeds=nb.seeds[:1])[0]
run.metrics_frame.round(4)

# %% [markdown]
# Every loss term and metric per epoch; the dotted line marks the epoch with the best
# validation MAE, whose checkpoint was tested:

# %%
CurvesDisplay.from_run(run, note=nb.note,
                       caption="look for: how fast the fine-tuned encoder lowers the validation MAE").plot()

# %% [markdown]
# The run folder records which encoder it started from: its path, its transformers config and a
# sha256 of its weights. The checkpoint holds the fine-tuned encoder, so the model reloads from
# `best.pt` alone, without the original folder.

# %%
{key: value for key, value in run.config["text_encoder"].items() if key != "config"}

# %%
model, spec = run.load_model()
type(model.text_encoder.model).__name__, model.text_encoder.hidden_size

# %% [markdown]
# ## 2 · Real transcripts: CMU-MOSI, text only
#
# `python -m dmdlab data build` turns an MMSA `label.csv` (id, transcript, label, fold) into
# a dataset file with `text_bert`, `raw_text`, ids and labels. Without a features file the
# result has no vision or audio: only the text-only variant trains on it (the others say so
# in one line). In smoke mode a slice of the table (200 / 40 / 60 clips) trains one epoch of
# the tiny model, in dmdlab's cache: a check of the path, not a result.

# %%
import pandas as pd

from dmdlab.data.build import build_dataset
from dmdlab.orchestration.experiments import run_experiment, summarize

labels = real_label_csv(LABELS)
print(labels or "no CMU-MOSI label.csv found: set LABELS to run this part")

# %%
real_runs = Path(REAL_RUNS) if REAL_RUNS else Path(dmdlab.__file__).resolve().parents[1] / "runs" / "mosi_text"
if labels is not None and MODE == "smoke":
    work = nb.out.parent / "mosi_slice"
    work.mkdir(parents=True, exist_ok=True)
    table = pd.read_csv(labels)
    table = pd.concat([table[table["mode"] == mode].head(n) for mode, n in (("train", 200), ("dev", 40), ("test", 60))])
    table.to_csv(work / "label.csv", index=False)
    if not (work / "mosi_slice.pkl").is_file():
        print(build_dataset(work / "label.csv", nb.model_config.arch.text_encoder, work / "mosi_slice.pkl"))
    real = run_experiment(work / "mosi_slice.pkl", ["unimodal_l"], seeds=[1111],
                          base_config=nb.model_config.replace(arch={"padding_masks": True}),
                          train_config=nb.train_config.replace(max_epochs=1), out_dir=work / "runs")
elif real_runs.is_dir():
    real = [run for run in map(runs.read_run, runs.find(real_runs)) if run.finished]
else:
    real = None
    print(f"no runs under {real_runs}: run the README's real-data command (make mosi-text) first")

# %% [markdown]
# The text-only variant's test metrics, mean ± std over seeds (Acc-2 and F1 both ways: "non-0"
# leaves out the clips labelled 0, "has-0" counts 0 as positive; MAE and Corr on the raw scale):

# %%
METRICS = ["Has0_acc_2", "Has0_F1_score", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE", "Corr"]
summarize(real, METRICS).round(4) if real else None

# %% [markdown]
# A published text-only BERT figure on CMU-MOSI (BERT-base fine-tuned; dmdlab's run uses
# all-MiniLM-L6-v2, a 6-layer distilled BERT, so expect lower numbers):

# %%
pd.DataFrame([vars(row) for row in paper.TEXT_ONLY])
