# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · The paper's tables and figures, one cell each
#
# Point `DATASET` at an MMSA pickle (the paper: CMU-MOSI aligned, and CMU-MOSEI) and set
# `QUICK = False`: every run is trained once with the official protocol and `SEEDS` seeds,
# kept under `OUT`, and each cell below redraws one table or figure from those runs. In quick
# mode everything runs on the tiny built-in data in seconds — the procedure, not the numbers.
#
# Notebooks 04–07 explain each piece; this one only reproduces.

# %% tags=["parameters"]
QUICK = True       # True: tiny data and models, 1 seed, 1 epoch per run
DATASET = None     # full mode: path of an MMSA pickle; None: built-in MOSI-size data
PRESET = "mosi"    # "mosi" or "mosei" hyper-parameters
EPOCHS = None      # full mode: at most this many epochs per run (None: the protocol's)
SEEDS = 5          # full mode: seeds 1111 …; quick mode uses 1
OUT = "runs/notebooks"

# %%
from dmdlab.notebook import setup
from dmdlab.paper import edges_frame
from dmdlab.train.experiments import TABLES
from dmdlab.viz import (AttentionDisplay, EdgesDisplay, FeatureSet, ResultsTableDisplay, SeparabilityDisplay,
                        UnimodalGapDisplay, paper_table)

nb = setup(QUICK, dataset=DATASET, preset=PRESET, epochs=EPOCHS, seeds=1 if QUICK else SEEDS, out=OUT, quick_epochs=1)
variants = list(dict.fromkeys(TABLES["main"] + TABLES["ablation"] + TABLES["unimodal"]))
runs = nb.runs(variants)
setting = "aligned" if nb.data.spec.aligned else "unaligned"


def of(*names):
    """The runs of the named variants."""
    return [run for run in runs if run.variant in names]


nb

# %% [markdown]
# ## Table: comparison on CMU-MOSI (Acc-7 / Acc-2 / F1, %), MulT and DMD beside the published rows

# %%
ResultsTableDisplay.from_runs(of(*TABLES["main"]), paper=paper_table("CMU-MOSI", setting),
                              metrics=("Acc-7", "Acc-2", "F1"), title=f"comparison ({setting})").plot()

# %% [markdown]
# ## Table: ablations (w/o FD, w/o HomoGD, w/o HeteroGD, w/o CA; MulT with and without GD)

# %%
ResultsTableDisplay.from_runs(of(*TABLES["ablation"]), paper=paper_table("CMU-MOSI", setting),
                              paper_only_rows=False, title="ablations").plot()

# %% [markdown]
# ## Figure 3: the unimodal gap (L, V, A alone vs fused)

# %%
UnimodalGapDisplay.from_runs(of(*TABLES["unimodal"]), metric="Acc-2").plot()

# %% [markdown]
# ## Figure: t-SNE of the homogeneous space (by sentiment) and the heterogeneous space (by modality), DMD vs w/o FD

# %%
test = nb.data.splits["test"]
clips = range(min(300, len(test)))
SeparabilityDisplay({"DMD": FeatureSet.from_model(nb.model("dmd"), test, indices=clips),
                     "w/o FD": FeatureSet.from_model(nb.model("wo_fd"), test, indices=clips)}).plot()

# %% [markdown]
# ## Supplementary Table 1: the six edges of each GD-unit, mean ± std over seeds, beside the paper's (MOSEI)

# %%
EdgesDisplay.from_runs(of("dmd"), reference=edges_frame()).plot("table")

# %% [markdown]
# ## Figure: the graph edges of each GD-unit

# %%
EdgesDisplay.from_runs(of("dmd")).plot("graph")

# %% [markdown]
# ## Figure: cross-modal attention between words and frames (V → L, last layer, mean over heads)

# %%
AttentionDisplay.from_model(nb.model("dmd"), test, indices=range(4), direction="v->l").plot()
