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
# # 01 · The data: three modalities of one opinion
#
# DMD predicts the **sentiment** of a short video clip (a number in [-3, 3]) from three
# modalities: what is said (**L**anguage), how the face moves (**V**ision) and how the voice
# sounds (**A**udio). The benchmarks CMU-MOSI and CMU-MOSEI ship as *MMSA pickles*: for each
# split (train / valid / test), one feature sequence per clip and modality.
#
# This notebook loads such a file (or the built-in data, which has the same layout), looks at
# its shapes and labels, and plots one clip's three modalities.
#
# **Training: none.** This notebook only reads data: in class mode it generates the built-in
# MOSI-size data into dmdlab's cache the first time (seconds) and fits ridge baselines
# (seconds).

# %% tags=["parameters"]
MODE = "class"     # "class": MOSI-size built-in data, minutes per run on a laptop CPU; "smoke": tiny, seconds, not meaningful; "paper": the official protocol on DATASET
DATASET = None     # paper mode: path of an MMSA pickle, e.g. "data/MOSI/aligned_50.pkl"; None: the built-in data
PRESET = "mosi"    # the paper's hyper-parameters: "mosi" or "mosei"
SEEDS = None       # None: the mode's number of seeds (smoke 2, class 3, paper 5)

# %%
from dmdlab.data.baseline import ridge_baseline
from dmdlab.notebook import setup
from dmdlab.viz import SampleDisplay
from dmdlab.widgets import SampleExplorer

nb = setup(MODE, dataset=DATASET, preset=PRESET, seeds=SEEDS)
data = nb.data
nb

# %% [markdown]
# ## What the file holds
#
# `data.spec` is read from the arrays themselves: feature widths d_m and sequence lengths T_m.
# In an *aligned* file the three sequences share one time axis (one step per word); in an
# *unaligned* file vision and audio run at their own frame rates and carry lengths.

# %%
data.spec

# %%
data.sizes

# %% [markdown]
# Loading never executes code from the pickle (a restricted unpickler), and non-finite
# feature values (COVAREP audio has `-inf`) are replaced; the load report counts them.

# %%
print(data.report)

# %% [markdown]
# ## Labels
#
# Each clip's label is the mean of several annotators' scores in [-3, 3]. The paper's
# Acc-2 ignores clips labelled exactly 0; Acc-7 rounds to the 7 integers.

# %%
train = data.splits["train"]
labels = train.labels
print(f"{len(labels)} training clips, mean {labels.mean():+.2f}, {100 * (labels == 0).mean():.1f}% exactly neutral")
print(f"first clip: {str(train.ids[0])!r}: {str(train.raw_text[0])!r} -> {labels[0]:+.2f}")

# %% [markdown]
# ## One clip, three modalities
#
# Rows are feature channels (standardised over time so they share one colour scale), columns
# time steps. In the built-in data, vision reacts at the frames of sentiment words (a smile or
# a frown) and audio carries arousal, not polarity — as in the real data, language is by far
# the most informative modality.

# %%
SampleDisplay.from_split(train, 0, note=nb.note,
                         caption="look for: vision rows jump at the sentiment words of the transcript").plot()

# %% [markdown]
# Pick any clip (the split and its position):

# %%
SampleExplorer(data, note=nb.note,
               caption="look for: the same clip's words, frames and audio side by side; padding is not drawn")

# %% [markdown]
# ## How much does each modality know on its own?
#
# A ridge regression on time-pooled features, per modality and on all three. The gap between
# language and the other two is what DMD's graph distillation is built around: a strong
# modality can teach the weaker ones (notebook 05).

# %%
ridge_baseline(data).round(3)

# %% [markdown]
# ## Exercise
#
# Run `ridge_baseline` on the training split's clips that contain a negator (`"not"` or `"never"`
# in `train.raw_text`) and on the others. Which modality loses most on negated clips, and why
# can a time-pooled linear model not read "not good" correctly? (In class mode, language's
# Acc-2 drops well below its overall value on those clips; vision, which shows the *true*
# sentiment, does not.)

