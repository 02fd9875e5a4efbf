"""The DMD model: decoupling, HomoGD / HeteroGD units, cross-modal attention, losses."""

from dmdlab.model.config import ArchConfig, DMDConfig, GDConfig, LossConfig
from dmdlab.model.dmd import DMD
from dmdlab.model.outputs import (DecoupledOutput, DMDOutput, EdgesOutput, HeteroOutput, HomoOutput,
                                  LossBreakdown)

__all__ = ["ArchConfig", "DMDConfig", "GDConfig", "LossConfig", "DMD", "DMDOutput", "DecoupledOutput",
           "HomoOutput", "HeteroOutput", "EdgesOutput", "LossBreakdown"]
