"""The data layer: MMSA pickles (loaded safely), raw transcripts, the built-in dataset.

- :func:`load_mmsa` reads an MMSA processed pickle into an :class:`MMSADataset` (three
  :class:`Split` s, the :class:`DataSpec` read from the arrays, a :class:`LoadReport`);
  ``Split.batches`` yields :class:`Batch` es of torch tensors.
- :mod:`dmdlab.data.safe_pickle`: the restricted unpickler (untrusted files run nothing).
- :func:`load_label_csv`, :func:`tokenize_text`: MMSA ``label.csv`` and ``text_bert``.
- :mod:`dmdlab.data.synth`: the built-in dataset (``make_dataset``, ``write_dataset``).
- :mod:`dmdlab.data.baseline`: ridge regression per modality on time-pooled features.
"""

from dmdlab.modalities import SPLITS
from dmdlab.data.dataset import Batch, LoadReport, MMSADataset, NonFiniteCount, Split
from dmdlab.data.errors import DatasetError
from dmdlab.data.mmsa import load_mmsa, spec_from_split
from dmdlab.data.safe_pickle import safe_load
from dmdlab.data.spec import DataSpec
from dmdlab.data.text import load_label_csv, tokenize_text

__all__ = [
    "SPLITS", "Batch", "DataSpec", "DatasetError", "LoadReport", "MMSADataset", "NonFiniteCount", "Split",
    "load_label_csv", "load_mmsa", "safe_load", "spec_from_split", "tokenize_text",
]
