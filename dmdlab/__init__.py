"""dmdlab: a workbench for Decoupled Multimodal Distilling (DMD, Li et al., CVPR 2023).

Subpackages, in the order a reader meets them:

- ``dmdlab.data``   MMSA pickles (loaded safely), raw transcripts, the built-in dataset.
- ``dmdlab.model``  the DMD model: decoupling, HomoGD / HeteroGD units, cross-modal attention, losses.
- ``dmdlab.training``  the official training protocol (resumable), runs on disk.
- ``dmdlab.orchestration``  many runs: experiments on Ray, tune (Optuna), the workbench, bench.
- ``dmdlab.viz``    plotly views (edges, separability, attention, curves, tables).
- ``dmdlab.widgets`` ipywidgets controls bound to those views.
- ``dmdlab.cli``    ``python -m dmdlab``: one module per command group, shared options in ``dmdlab.cli.options``.
"""

__version__ = "0.1.0"

from dmdlab.modalities import EDGES, MODALITIES, MODALITY_NAMES  # noqa: E402,F401
