"""Plotly views of DMD: training curves, results tables, graph edges, separability,
cross-modal attention, the unimodal gap, the comparison table's forest plot and a clip's raw
modalities.

Every view is a scikit-learn style ``*Display``: the constructor takes plain inputs
(DataFrames, arrays) and computes once; ``from_*`` class methods build those inputs from a
run, a model or a model output; ``plot()`` returns a plotly figure, also kept as
``figure_``. Nothing here imports ipywidgets (see :mod:`dmdlab.widgets`).
"""

from dmdlab.viz.attention import AttentionDisplay
from dmdlab.viz.comparison import ComparisonForestDisplay
from dmdlab.viz.curves import CurvesDisplay
from dmdlab.viz.edges import EdgeEvolutionDisplay, EdgesDisplay
from dmdlab.viz.samples import SampleDisplay
from dmdlab.viz.separability import FeatureSet, SeparabilityDisplay, project, sentiment_classes, silhouette
from dmdlab.viz.tables import ResultsTableDisplay, output_shapes, paper_table
from dmdlab.viz.unimodal import UnimodalGapDisplay

__all__ = [
    "AttentionDisplay", "ComparisonForestDisplay", "CurvesDisplay", "EdgeEvolutionDisplay", "EdgesDisplay", "FeatureSet", "ResultsTableDisplay",
    "SampleDisplay", "SeparabilityDisplay", "UnimodalGapDisplay", "output_shapes", "paper_table", "project", "sentiment_classes",
    "silhouette",
]
