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
# # 05 · The graph edges: who teaches whom
#
# Each GD-unit is a small directed graph over L, V, A. For a sample, the unit embeds each
# modality from its prediction (logit) and its representation, scores the six edges
# i → j from [z_j; z_i] and normalises them jointly (a softmax over the six, so they sum to
# 1). The edge i → j weights a distillation loss that pulls the student j's logit and
# representation towards the teacher i's. A fixed prior favours language as a teacher
# (L→V, L→A; in the heterogeneous unit also V→A), and a regulariser keeps the batch-mean
# edges near it.
#
# The supplementary's Table 1 (CMU-MOSEI, 5 runs) shows the learned edges: language teaches
# most in both units; in the heterogeneous unit vision also teaches audio.

# %% tags=["parameters"]
MODE = "class"     # "class": MOSI-size built-in data, minutes per run on a laptop CPU; "smoke": tiny, seconds, not meaningful; "paper": the official protocol on DATASET
DATASET = None     # paper mode: path of an MMSA pickle, e.g. "data/MOSI/aligned_50.pkl"; None: the built-in data
PRESET = "mosi"    # the paper's hyper-parameters: "mosi" or "mosei"
SEEDS = None       # None: the mode's number of seeds (smoke 2, class 3, paper 5)

# %%
from dmdlab.notebook import setup
from dmdlab.paper import edges_frame
from dmdlab.viz import EdgeEvolutionDisplay, EdgesDisplay
from dmdlab.widgets import EdgesExplorer, SampleEdgesExplorer

nb = setup(MODE, dataset=DATASET, preset=PRESET, seeds=SEEDS)
runs = nb.runs(["dmd"])
runs

# %% [markdown]
# ## Mean ± std over seeds, the supplementary's layout
#
# Rows are the six edges in the official order, columns the two units; each run contributes
# its last epoch's mean validation edges. The paper's MOSEI values are printed beside.

# %%
edges = EdgesDisplay.from_runs(runs, reference=edges_frame())
edges.table_

# %% [markdown]
# As 3 × 3 source → target matrices (the diagonal is empty: a modality does not teach
# itself), and as a graph whose arrow widths follow the weights:

# %%
edges.plot("heatmap")

# %%
edges.plot("graph")

# %% [markdown]
# ## How the edges move during training
#
# The first seed's run, epoch by epoch. Move the slider: the heatmaps keep one colour range
# over all epochs, so colours compare across positions.

# %%
run = runs[0]
EdgeEvolutionDisplay.from_run(run).plot()

# %%
EdgesExplorer.from_run(run)

# %% [markdown]
# ## The edges of one sample
#
# The edges are computed per sample: a clip where vision is informative can weight V as a
# teacher more than the average clip. Pick a test clip:

# %%
model = nb.model("dmd")
SampleEdgesExplorer.from_model(model, nb.data.splits["test"], indices=range(12), reference=edges_frame())
