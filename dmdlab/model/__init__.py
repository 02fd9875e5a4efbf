"""The DMD model: decoupling, HomoGD / HeteroGD units, cross-modal attention, losses.

Files follow the paper's order: ``config`` → ``decoupling`` → ``homo`` → ``hetero`` →
``fusion`` → ``graph_distill`` → ``losses`` → ``dmd`` (assembly); ``layers`` holds the reusable
blocks, ``text`` the text encoders, ``official`` the checkpoint loader, ``variants`` the
named ablations.
"""

from dmdlab.model.config import ArchConfig, DMDConfig, GDConfig, LossConfig
from dmdlab.model.dmd import DMD
from dmdlab.model.official import load_official_state_dicts, official_names, to_official_state_dicts
from dmdlab.model.outputs import (DecoupledOutput, DMDOutput, EdgesOutput, HeteroOutput, HomoOutput,
                                  LossBreakdown)
from dmdlab.model.variants import VARIANTS, get_variant

__all__ = ["ArchConfig", "DMDConfig", "GDConfig", "LossConfig", "DMD", "DMDOutput", "DecoupledOutput",
           "HomoOutput", "HeteroOutput", "EdgesOutput", "LossBreakdown", "VARIANTS", "get_variant",
           "load_official_state_dicts", "official_names", "to_official_state_dicts"]
