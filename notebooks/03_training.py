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
# # 03 · Training, on a GPU when there is one
#
# The official protocol: Adam (lr 1e-4), batch 16 with gradients accumulated over 10
# batches, gradient values clipped at 0.6, the learning rate halved when the validation
# loss stops improving, the best epoch chosen on validation MAE, early stop after 10 epochs
# without improvement, then one test with the best checkpoint.
#
# `device="auto"` picks CUDA, then Apple's MPS, then the CPU. Nothing else changes in the
# code: the model creates its tensors on its input's device. What changes on a GPU:
#
# - `precision="auto"` trains under **bf16 autocast** on CUDA (fp32 elsewhere): faster, with
#   numbers that differ slightly from an fp32 run (set `precision="fp32"` to compare).
# - larger evaluation batches (`eval_batch_size`) are free; the training batch stays 16 to
#   keep the protocol.
# - on a CPU, `num_threads` caps torch's threads (on a small shared machine, 1–2 is fastest).
#
# Without a GPU this notebook falls back to the CPU and says so; quick mode is made for that.
#
# **Training, before it starts.** In class mode this notebook reads DMD's runs (3 seeds) from
# dmdlab's cache; the ones missing are trained here, one after another: about 6 min on 2 CPU
# cores from an empty cache, nothing after `make demo`. Train them beforehand with `python -m
# dmdlab demo` (or `python -m dmdlab workbench --mode class`, which trains what every
# notebook reads). The exercise at the end trains one more short run.

# %% tags=["parameters"]
MODE = "class"     # "class": MOSI-size built-in data, minutes per run on a laptop CPU; "smoke": tiny, seconds, not meaningful; "paper": the official protocol on DATASET
DATASET = None     # paper mode: path of an MMSA pickle, e.g. "data/MOSI/aligned_50.pkl"; None: the built-in data
PRESET = "mosi"    # the paper's hyper-parameters: "mosi" or "mosei"
SEEDS = None       # None: the mode's number of seeds (smoke 2, class 3, paper 5)

# %%
from dmdlab.notebook import setup
from dmdlab.training.trainer import resolve_device
from dmdlab.viz import CurvesDisplay, EdgeEvolutionDisplay
from dmdlab.widgets import CurvesExplorer

nb = setup(MODE, dataset=DATASET, preset=PRESET, seeds=SEEDS)
device = resolve_device("auto")
if device.type == "cpu":
    print("No GPU here: training on the CPU (class mode: a few minutes per run; paper mode: hours per run).")
else:
    print(f"Training on {device}")
nb

# %%
train_config = nb.train_config.replace(device="auto", num_threads=None if device.type != "cpu" else nb.train_config.num_threads)
train_config

# %% [markdown]
# ## Train
#
# A run is a folder: configs, `history.csv` (one row per epoch), the best checkpoint, the
# final metrics and per-clip predictions and edges. Finished runs are read back instead of
# trained again.

# %%
nb.train_config = train_config
run = nb.runs(["dmd"])[0]
run

# %% [markdown]
# ## Curves
#
# Every loss term per split, every metric per split and the learning rate; the dotted line
# marks the epoch with the best validation MAE (the checkpoint that is tested).

# %%
CurvesDisplay.from_run(run, note=nb.note,
                       caption="look for: validation MAE falls in the first epochs; the dotted line is the tested epoch").plot()

# %%
CurvesExplorer.from_run(run, note=nb.note, caption="look for: each loss term's share of the fall; train against valid")

# %% [markdown]
# The graph edges are logged every epoch too (mean over the validation clips):

# %%
EdgeEvolutionDisplay.from_run(run, note=nb.note,
                             caption="look for: how far the edges move from their start, against the prior's pull").plot()

# %% [markdown]
# ## Results of the best checkpoint
#
# In the MMSA conventions: Acc-2 / F1 "non-0" (clips labelled 0 left out: the paper's
# numbers) and "has-0", Acc-5 / Acc-7, MAE, Pearson correlation. Fractions, not percent.

# %%
run.metrics_frame.round(4)

# %%
run.env

# %% [markdown]
# ## Exercise
#
# Train the same model with the official protocol's learning rate and accumulation for the
# same number of epochs: `nb.runs(["dmd"])` after
# `nb.train_config = nb.train_config.replace(lr=1e-4, grad_accumulation=10)` and
# `nb.out = nb.out.parent / "official-lr"` (a new folder: the cache refuses to mix protocols).
# How far does the validation MAE get in 3 epochs, and why does one optimizer step per ten
# batches need many more epochs?

