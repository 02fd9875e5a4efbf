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
# # 02 · The model, stage by stage, on one batch
#
# DMD (Li, Wang & Cui, CVPR 2023) in four steps:
#
# 1. **Shallow temporal features**: a 1-D convolution per modality maps each (T_m, d_m)
#    sequence to width d.
# 2. **Feature decoupling**: one *shared* encoder (the same weights for L, V, A) gives
#    *homogeneous* (modality-irrelevant) features; one *private* encoder per modality gives
#    *heterogeneous* (modality-exclusive) ones. Decoders reconstruct the input from both.
# 3. **Two graph-distillation units (GD-units)**: in each space, every modality is a node and
#    six directed edges (V→L, A→L, L→V, A→V, L→A, V→A) say how much each modality learns from
#    each other one. In the heterogeneous space, cross-modal attention first lets each
#    modality read the others.
# 4. **Fusion**: gated features of both spaces → one prediction.
#
# We build a small DMD and follow one batch through it, printing every shape.
#
# **Training: none.** The model here is untrained (it is built from the data in a second);
# nothing is written to the cache.

# %% tags=["parameters"]
MODE = "class"     # "class": MOSI-size built-in data, minutes per run on a laptop CPU; "smoke": tiny, seconds, not meaningful; "paper": the official protocol on DATASET
DATASET = None     # paper mode: path of an MMSA pickle, e.g. "data/MOSI/aligned_50.pkl"; None: the built-in data
PRESET = "mosi"    # the paper's hyper-parameters: "mosi" or "mosei"
SEEDS = None       # None: the mode's number of seeds (smoke 2, class 3, paper 5)
BATCH = 4          # clips in the batch we follow

# %%
import torch

from dmdlab.model import DMD
from dmdlab.notebook import setup
from dmdlab.viz import EdgesDisplay, output_shapes

nb = setup(MODE, dataset=DATASET, preset=PRESET, seeds=SEEDS)
config = nb.model_config
config.arch

# %% [markdown]
# The sequence lengths and feature widths come from the data (`spec`), never from the
# dataset's name. An untrained model is enough to see the shapes:

# %%
torch.manual_seed(0)
model = DMD(config, nb.data.spec).eval()
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
batch = nb.data.splits["train"].batch(range(BATCH))
{"text": tuple(batch.text.shape), "vision": tuple(batch.vision.shape), "audio": tuple(batch.audio.shape),
 "labels": tuple(batch.labels.shape)}

# %%
with torch.no_grad():
    out = model.forward_batch(batch, return_attention=True)
shapes = output_shapes(out)

# %% [markdown]
# ## 1–2. Shallow features and decoupling
#
# Conv layouts are (B, d, T'): the convolution has no padding, so T' = T − k + 1.
# `shared` is X^com (homogeneous), `private` X^prt (heterogeneous); `reconstruction` is
# X̂ = D([X^prt; X^com]) and `private_recon` the private encoder applied to X̂ (the cycle
# loss asks it to give X^prt back). `aligned` are the projections the margin loss compares.

# %%
shapes[shapes.stage == "decoupled"]

# %% [markdown]
# ## 3a. The homogeneous branch (HomoGD)
#
# Per modality a residual head gives a logit and a representation (the GD-unit's node
# features); a self-attention transformer per modality, read at its last step and
# concatenated, gives `fusion` (B, 3d).

# %%
shapes[shapes.stage == "homo"]

# %% [markdown]
# ## 3b. The heterogeneous branch (HeteroGD) and cross-modal attention
#
# For each target modality, two cross-modal transformers let it query the other two
# (MulT-style); their outputs are concatenated (2d) and summarised by a memory transformer.
# `features` is h_m, read at the last step. Attention weights come only on request
# (`return_attention=True`): (layers, B, heads, T_query, T_key) per direction.

# %%
shapes[shapes.stage.isin(["hetero", "attention"])]

# %% [markdown]
# ### The transformer layer itself
#
# All twelve transformers are MulT encoders. `dmdlab/model/reference.py` writes one layer the
# way the paper and MulT describe it (`nn.LayerNorm`, `nn.MultiheadAttention`, dropout), top to
# bottom; the model normally runs a faster form of the same computation (`transformer.py`).
# With `arch.reference=True` it is built from the plain layers; given the same weights, it
# predicts the same:

# %%
from dmdlab.model.stacks import convert_state_dict

plain = DMD(config.replace(arch={"reference": True}), nb.data.spec).eval()
plain.load_state_dict(convert_state_dict(model.state_dict(), plain))
print(plain.hetero.cross.encoders["v->l"].layers[0])          # L attending to V, first layer
with torch.no_grad():
    print("largest difference:", (plain.forward_batch(batch).prediction - out.prediction).abs().max().item())

# %% [markdown]
# ## 3c. The graph edges
#
# Each GD-unit scores its six edges from the node embeddings [logit; representation] and
# normalises them jointly per sample (softmax), so a sample's six edges sum to 1. Untrained,
# they are close to uniform (1/6); training moves them (notebook 05).

# %%
shapes[shapes.stage == "edges"]

# %%
EdgesDisplay.from_output(out, sample=0, gd=model, note="untrained model: these edges show the initialisation",
                         caption="look for: every edge near 1/6; the prior (grey) is what the regulariser pulls towards").plot("graph")

# %% [markdown]
# ## 4. Prediction and losses
#
# `loss` returns the total and every named term: the task loss (L1 on 8 predictions), the
# decoupling losses (reconstruction, cycle, orthogonality, margin) and per GD-unit the logit,
# representation and edge-regulariser losses.

# %%
print("prediction", tuple(out.prediction.shape))
losses = model.loss(out, batch.labels)
{name: round(value, 4) for name, value in losses.as_floats().items()}

# %% [markdown]
# ## Exercise
#
# Build `DMD(get_variant("wo_fd", config), nb.data.spec)` (from `dmdlab.model`) and run the
# same batch through it. Which outputs of `output_shapes` disappear, and which loss terms? Then
# count the parameters of each variant: how much of DMD is feature decoupling?

