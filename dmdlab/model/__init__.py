"""The DMD model: decoupling, HomoGD / HeteroGD units, cross-modal attention, losses.

Files follow the paper's order: ``config`` → ``base`` (inputs to X̃_m) → ``decoupling`` →
``homo`` → ``hetero`` → ``fusion`` → ``graph_distill`` → ``losses`` → ``dmd`` (assembly);
``unimodal`` the one-modality baseline; ``baselines`` the comparison table's baselines (MMSA's
models); ``layers`` and ``reference`` the reusable blocks (``reference``:
the MulT transformer as the paper describes it; ``transformer``: the same made fast; ``stacks``: the switch),
``text`` the text encoders, ``official`` the checkpoint loader, ``variants`` the named
ablations and ``build_model``. docs/model.md maps each paper concept to its file and function.
"""

from dmdlab.model.config import ArchConfig, DMDConfig, GDConfig, LossConfig
from dmdlab.model.dmd import DMD
from dmdlab.model.official import load_official_state_dicts, official_names, to_official_state_dicts
from dmdlab.model.outputs import (DecoupledOutput, DMDOutput, EdgesOutput, HeteroOutput, HomoOutput,
                                  LossBreakdown)
from dmdlab.model.unimodal import UnimodalModel
from dmdlab.model.variants import VARIANTS, build_model, get_variant

__all__ = ["ArchConfig", "DMDConfig", "GDConfig", "LossConfig", "DMD", "DMDOutput", "DecoupledOutput",
           "HomoOutput", "HeteroOutput", "EdgesOutput", "LossBreakdown", "VARIANTS", "get_variant", "build_model",
           "UnimodalModel",
           "load_official_state_dicts", "official_names", "to_official_state_dicts"]
