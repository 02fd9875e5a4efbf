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
# # 06 · Separability: what decoupling does to the feature spaces
#
# The paper's t-SNE figure makes a claim about the two spaces:
#
# - the **homogeneous** features of L, V and A should *mix across modalities* and group by
#   **sentiment** (they are meant to be modality-irrelevant);
# - the **heterogeneous** features should group by **modality** (modality-exclusive).
#
# Without decoupling (w/o FD) neither structure should be clean. Each test clip gives three
# points per space, one per modality. t-SNE and UMAP are pictures; the **silhouette score**
# (in the original feature space, +1 tight separate groups, 0 mixed) puts a number on each
# claim. Hover a point to see its clip id and transcript.
#
# Quick mode trains tiny models for 2 epochs on synthetic data: the maps show the
# procedure, not the paper's result.

# %% tags=["parameters"]
MODE = "class"     # "class": MOSI-size built-in data, minutes per run on a laptop CPU; "smoke": tiny, seconds, not meaningful; "paper": the official protocol on DATASET
DATASET = None     # paper mode: path of an MMSA pickle, e.g. "data/MOSI/aligned_50.pkl"; None: the built-in data
PRESET = "mosi"    # the paper's hyper-parameters: "mosi" or "mosei"
SEEDS = None       # None: the mode's number of seeds (smoke 2, class 3, paper 5)
SPLITS = ["test", "valid"]  # the splits offered (the first is drawn below)
MAX_CLIPS = 300    # at most this many clips (3 points each) per map

# %%
from dmdlab.notebook import setup
from dmdlab.viz import FeatureSet, SeparabilityDisplay
from dmdlab.widgets import SeparabilityExplorer

nb = setup(MODE, dataset=DATASET, preset=PRESET, seeds=SEEDS)
models = {"DMD": nb.model("dmd"), "w/o FD": nb.model("wo_fd")}
features = {}  # split -> model -> the clips' features in both spaces
for split in SPLITS:
    clips = range(min(MAX_CLIPS, len(nb.data.splits[split])))
    features[split] = {name: FeatureSet.from_model(model, nb.data.splits[split], indices=clips)
                       for name, model in models.items()}

# %% [markdown]
# ## t-SNE, the paper's colouring
#
# Rows: DMD, then w/o FD. Left: the homogeneous space coloured by sentiment class; right:
# the heterogeneous space coloured by modality. Panel titles carry the silhouette of the
# colouring shown.

# %%
maps = {}  # t-SNE / UMAP maps by (features, method, parameter), shared by the views below
tsne = SeparabilityDisplay(features[SPLITS[0]], method="tsne", perplexity=30, cache=maps)
tsne.plot()

# %% [markdown]
# All four silhouettes per model. The claim in numbers: for DMD, homo *by class* above homo
# *by modality*, and hetero *by modality* high; for w/o FD, less of both.

# %%
tsne.scores_.round(3)

# %% [markdown]
# ## UMAP
#
# UMAP keeps more of the global layout than t-SNE. (Its first fit in a session compiles code
# with numba: 15–30 s; later fits take a few seconds.)

# %%
SeparabilityDisplay(features[SPLITS[0]], method="umap", n_neighbors=15, cache=maps).plot()

# %% [markdown]
# ## Explore
#
# Pick the split, switch t-SNE / UMAP, change perplexity or neighbours, recolour. Every map
# is cached (the maps above included), so going back to a setting is instant.

# %%
SeparabilityExplorer(features, perplexity=30, n_neighbors=15, cache=maps)
