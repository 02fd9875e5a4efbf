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
# # 04 · Ablations: which part of DMD matters?
#
# The paper removes one part at a time:
#
# | variant | what is removed |
# |---|---|
# | w/o FD | feature decoupling: both branches read the shallow features directly |
# | w/o HomoGD | the graph-distillation unit of the homogeneous space |
# | w/o HeteroGD | the graph-distillation unit of the heterogeneous space |
# | w/o CA | cross-modal attention: each modality attends to itself instead |
#
# Each variant is a named transform of the same base configuration
# (`dmdlab.model.variants`), trained with the same protocol and seeds; the table gives the
# mean ± std over seeds beside the paper's DMD row, and the claims report says, for each
# ablation, whether DMD's advantage is larger than the seed-to-seed noise. In class mode
# (the default) the runs are the class workbench's: the built-in MOSI-size data, 3 seeds,
# 3 epochs at lr 2e-3 — `python -m dmdlab workbench` trains them all once (about half an
# hour on 2 CPU cores); otherwise the cells below train what they need. Smoke mode shows the
# procedure only.
#
# **Training, before it starts.** In class mode this notebook reads DMD, its four ablations
# and the three unimodal models (3 seeds each: 24 runs) from dmdlab's cache; the ones missing
# are trained here, one after another: about 36 min on 2 CPU cores from an empty cache, about
# 22 min after `make demo`. Train them beforehand (two at a time): `python -m dmdlab
# workbench --mode class`. The cell that trains says which runs and why before it starts, and
# a bar counts their epochs.

# %% tags=["parameters"]
MODE = "class"     # "class": MOSI-size built-in data, minutes per run on a laptop CPU; "smoke": tiny, seconds, not meaningful; "paper": the official protocol on DATASET
DATASET = None     # paper mode: path of an MMSA pickle, e.g. "data/MOSI/aligned_50.pkl"; None: the built-in data
PRESET = "mosi"    # the paper's hyper-parameters: "mosi" or "mosei"
SEEDS = None       # None: the mode's number of seeds (smoke 2, class 3, paper 5)
VARIANTS = ["dmd", "wo_fd", "wo_homogd", "wo_heterogd", "wo_ca"]

# %%
from dmdlab.model.variants import get_variant
from dmdlab.notebook import setup
from dmdlab.viz import ResultsTableDisplay, paper_table

nb = setup(MODE, dataset=DATASET, preset=PRESET, seeds=SEEDS)
nb

# %% [markdown]
# What a variant changes, as configuration switches (compare with `dmd`):

# %%
base = nb.model_config
for name in VARIANTS[1:]:
    variant = get_variant(name, base)
    changed = {f"{part}.{key}": value for part in ("arch", "loss", "gd")
               for key, value in vars(getattr(variant, part)).items() if value != getattr(getattr(base, part), key)}
    print(f"{name:12s} {changed}")

# %%
runs = nb.runs(VARIANTS)
runs.metrics[["variant", "seed", "best_epoch", "Mult_acc_7", "Non0_acc_2", "Non0_F1_score", "MAE", "Corr"]].round(3)

# %% [markdown]
# ## The table beside the paper
#
# Acc-7, Acc-2 and F1 in percent (the paper's non-0 Acc-2/F1), MAE and Corr; Δ is ours minus
# the paper's where `dmdlab.paper` holds a published number (the DMD row; the paper's
# ablation numbers are not held, so the other rows show ours only).

# %%
setting = "aligned" if nb.data.spec.aligned else "unaligned"
table = ResultsTableDisplay.from_runs(runs, paper=paper_table("CMU-MOSI", setting), paper_only_rows=False,
                                      title=f"ablations on {nb.data.path.name}", note=nb.note,
                                      caption="look for: the DMD row against each w/o row, and each row's ± (seed noise)")
table.table_

# %%
table.plot("bars", metric="Acc-2")

# %% [markdown]
# Each row minus DMD, paired by seed: mean [95 % interval], the paired t-test's p, and `*`
# where the interval excludes 0 (points of % for Acc-7, Acc-2 and F1).

# %%
from dmdlab.orchestration.experiments import significance

significance(runs)

# %% [markdown]
# ## The claim, measured
#
# DMD should beat every ablation and the best unimodal model (chosen on validation MAE). The report below is computed from the runs in the cache: the measured value is a
# mean with a 95 % interval over seeds (paired by seed when two models are compared), beside
# its control and the paper's statement. *inside seed noise* means the interval contains 0:
# these seeds cannot tell. (It trains the runs it needs that are not in the cache yet.)

# %%
from dmdlab.notebook import claims

claims(nb, "beats")

# %% [markdown]
# ## Exercise
#
# Which claims does the report call *inside seed noise*? Re-run the workbench with more seeds
# (`python -m dmdlab workbench --seeds 5`, then `SEEDS = 5` here) and see which intervals shrink
# enough to decide. Then look at `runs.metrics` per seed: is one seed responsible for most of a
# difference?

