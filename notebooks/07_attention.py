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
# # 07 · Cross-modal attention: which words look at which frames
#
# In the heterogeneous branch each modality *queries* the other two (MulT's cross-modal
# transformer). For the direction V → L, the language steps are the queries and the vision
# frames the keys: row t of the map is how text step t spreads its attention over the frames
# (each row sums to 1).
#
# Two things to keep in mind while reading the maps:
#
# - **Words are approximate.** Attention runs over the outputs of a temporal convolution:
#   text step t summarises input steps t … t+k−1 (k the kernel, 5 on MOSI). The labels show
#   the word at the centre of that window (hover for the whole window), counting input step
#   0 as [CLS], as in MMSA's BERT features; BERT word pieces can shift later words by a step.
#   Where the text is not token features the step index is the honest label.
# - **The causal mask.** The official configuration masks the future in every layer: early
#   queries see only the first keys, and a query that sees one key gives it all its weight.
#   The strongest pairs are therefore ranked by *lift* (weight × the number of keys the query
#   may see; 1 means uniform), and forced rows are left out.
#
# **Training, before it starts.** In class mode this notebook reads DMD's runs (3 seeds) from
# dmdlab's cache; the ones missing are trained here: about 6 min on 2 CPU cores from an empty
# cache, nothing after `make demo` (`python -m dmdlab demo` trains them beforehand). Its
# claims cell runs the trained and untrained models over the test split (a bar counts them).

# %% tags=["parameters"]
MODE = "class"     # "class": MOSI-size built-in data, minutes per run on a laptop CPU; "smoke": tiny, seconds, not meaningful; "paper": the official protocol on DATASET
DATASET = None     # paper mode: path of an MMSA pickle, e.g. "data/MOSI/aligned_50.pkl"; None: the built-in data
PRESET = "mosi"    # the paper's hyper-parameters: "mosi" or "mosei"
SEEDS = None       # None: the mode's number of seeds (smoke 2, class 3, paper 5)
SPLIT = "test"
CLIPS = 8          # the clips offered in the sample picker

# %%
from dmdlab.notebook import setup
from dmdlab.viz import AttentionDisplay
from dmdlab.widgets import AttentionExplorer

nb = setup(MODE, dataset=DATASET, preset=PRESET, seeds=SEEDS)
model = nb.model("dmd")
attention = AttentionDisplay.from_model(model, nb.data.splits[SPLIT], indices=range(CLIPS), direction="v->l",
                                        layer=-1, head="mean", sample=0, note=nb.note,
                                        caption="look for: sentiment words (rows) weighting the frames where they are spoken")
attention.directions

# %% [markdown]
# ## Words × frames: V → L, last layer, mean over heads

# %%
attention.plot()

# %%
attention.top_pairs_.round(3)

# %% [markdown]
# One head instead of the mean, and another direction: audio steps querying the words
# (L → A):

# %%
attention.select(head=0).plot()

# %%
attention.select(direction="l->a").plot()

# %% [markdown]
# ## Explore
#
# Any clip, direction, layer and head (or the mean over heads); the strongest pairs follow.

# %%
AttentionExplorer(attention)

# %% [markdown]
# ## The claim, measured
#
# The built-in data knows where the evidence is: each sentiment word's visual burst sits on the frames where the word is spoken. So attention can be checked against the truth: for each sentiment word, the weight on its own frames divided by the mean weight on the other frames it may see (1 = no preference), trained against untrained. The report below is computed from the runs in the cache: the measured value is a
# mean with a 95 % interval over seeds (paired by seed when two models are compared), beside
# its control and the paper's statement. *inside seed noise* means the interval contains 0:
# these seeds cannot tell. (It trains the runs it needs that are not in the cache yet.)

# %%
from dmdlab.notebook import claims

claims(nb, "attention")

# %% [markdown]
# ## Exercise
#
# Pick a clip with a negation ("not good") in the explorer. Does the word "good" look at its
# own frames, where the face shows the *true* (negative) sentiment? Compare with the same clip
# before training: `AttentionDisplay.from_model(DMD(nb.model_config, nb.data.spec).eval(), ...)`
# (`from dmdlab.model import DMD`). Which structure is there from the start (the causal mask,
# position), and which did training add?

