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
# In class mode the models are the class workbench's (built-in MOSI-size data, 3 epochs); in
# smoke mode the maps show the procedure, not the paper's result (the figures say so).
#
# **Training, before it starts.** In class mode this notebook reads DMD and w/o FD (3 seeds
# each) from dmdlab's cache; the ones missing are trained here: about 13 min on 2 CPU cores
# from an empty cache, nothing after `make demo`. Then t-SNE and UMAP take about a minute.
# Train the runs beforehand with `python -m dmdlab demo`.

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
tsne = SeparabilityDisplay(features[SPLITS[0]], method="tsne", perplexity=30, cache=maps, note=nb.note,
                           caption="look for: homo (left) grouped by colour = sentiment; hetero (right) by modality")
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
SeparabilityDisplay(features[SPLITS[0]], method="umap", n_neighbors=15, cache=maps, note=nb.note,
                    caption="look for: the same groups as t-SNE's? Structure both maps show is more than a method's artefact").plot()

# %% [markdown]
# ## Explore
#
# Pick the split, switch t-SNE / UMAP, change perplexity or neighbours, recolour. Every map
# is cached (the maps above included), so going back to a setting is instant.

# %%
SeparabilityExplorer(features, perplexity=30, n_neighbors=15, cache=maps, note=nb.note,
                     caption="look for: groups that stay when perplexity or neighbours change; the silhouettes below")

# %% [markdown]
# ## The claim, measured
#
# With decoupling, the homogeneous space should separate sentiment better, and the heterogeneous space the modalities better, than without. The control that matters: the *untrained* DMD — its heterogeneous space already separates by modality, because each modality has its own encoder, so that picture alone proves little. The report below is computed from the runs in the cache: the measured value is a
# mean with a 95 % interval over seeds (paired by seed when two models are compared), beside
# its control and the paper's statement. *inside seed noise* means the interval contains 0:
# these seeds cannot tell. (It trains the runs it needs that are not in the cache yet.)

# %%
from dmdlab.notebook import claims

claims(nb, "homo", "hetero")

# %% [markdown]
# ## Exercise
#
# Colour the homogeneous map by modality instead (the explorer's colour control). If the
# shared space were truly modality-irrelevant, what would you see? Measure it:
# `tsne.scores_` holds the silhouette by modality of the homogeneous space too.

