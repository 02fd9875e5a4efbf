"""The one resolve step: (data, preset, overrides, variant, mode[, text encoder]) → (dataset, DMDConfig, TrainConfig).

Every command, the workbench, the notebooks, ``claims``, tune, the experiments and the
trainer build their configs and load their data here, in one order:

1. the model config: the preset (``DMDConfig.preset``), then the mode's architecture
   (:mod:`dmdlab.modes`: smoke mode's tiny model), then the ``--set`` overrides (a text
   encoder is one: ``arch.text_encoder``), then the variant (:func:`dmdlab.model.get_variant`);
2. the data, loaded once, with the text input that config reads (``arch.text_input``: the
   pre-extracted features, or the ``text_bert`` token ids for a BERT text encoder);
3. the protocol: the mode's (the official one without a mode), unless one is given.

Widths and sequence lengths are not part of the config: the model reads them from the data's
``DataSpec``, so the data's alignment changes nothing here. A saved run's data is loaded by
:func:`run_data`, with the text input its saved model config reads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dmdlab.data import MMSADataset
from dmdlab.model.config import DMDConfig, apply_overrides
from dmdlab.training.config import TrainConfig


@dataclass(frozen=True)
class Resolved:
    """What :func:`resolve` returns; unpacks as ``dataset, model_config, train_config``."""

    dataset: MMSADataset
    model_config: DMDConfig
    train_config: TrainConfig

    def __iter__(self):
        return iter((self.dataset, self.model_config, self.train_config))


def build_model_config(preset: str = "mosi", overrides: Sequence[str] = (), variant: str | None = None, *,
                       mode: str | None = None, text_encoder: str | os.PathLike | None = None) -> DMDConfig:
    """The preset, with ``mode``'s architecture, the ``overrides`` (``["arch.d=8"]``) and a
    ``text_encoder`` folder applied; with ``variant``, that variant derived from it, else the base
    the variants of a table derive from."""
    from dmdlab.model.variants import get_variant
    from dmdlab.modes import get_mode

    base = DMDConfig.preset(preset)
    if mode is not None:
        base = base.replace(arch=get_mode(mode).arch)
    if text_encoder is not None:
        overrides = [*overrides, f"arch.text_encoder={text_encoder}"]
    base = apply_overrides(base, overrides)
    return base if variant is None else get_variant(variant, base)


def load_data(data, model_config: DMDConfig | None = None, **load) -> MMSADataset:
    """``data`` as is when it is a dataset; a path loaded with the text input ``model_config``
    reads (the features without a config). ``load``: more ``load_mmsa`` options (``expect=spec``)."""
    if not isinstance(data, (str, os.PathLike)):
        return data
    from dmdlab.data import load_mmsa

    text = model_config.arch.text_input if model_config is not None else "features"
    return load_mmsa(data, text=text, **load)


def resolve(data, *, preset: str = "mosi", overrides: Sequence[str] = (), variant: str | None = None,
            mode: str | None = None, text_encoder: str | os.PathLike | None = None,
            train_config: TrainConfig | None = None) -> Resolved:
    """``data`` (a path or an ``MMSADataset``) loaded once, with its model config (:func:`build_model_config`)
    and protocol: ``train_config``, else ``mode``'s (:mod:`dmdlab.modes`), else the official one."""
    from dmdlab.modes import get_mode

    config = build_model_config(preset, overrides, variant, mode=mode, text_encoder=text_encoder)
    dataset = load_data(data, config)
    if train_config is None:
        train_config = TrainConfig(**(get_mode(mode).protocol if mode is not None else {}))
    return Resolved(dataset, config, train_config)


def run_data(run_config: dict, path: str | os.PathLike | None = None) -> MMSADataset:
    """The dataset a run was trained on (``run_config``: its config.json): ``path``, else the file
    the run names, loaded with the text input its saved model config reads."""
    path = path or (run_config.get("dataset") or {}).get("path")
    if not path or not Path(path).is_file():
        raise FileNotFoundError(f"the runs' dataset file {str(path)!r} is not there; pass the data.")
    return load_data(path, DMDConfig.from_dict(run_config["model"]))
