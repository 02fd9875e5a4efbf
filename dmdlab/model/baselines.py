"""The baselines of the paper's comparison table, as dmdlab variants trained by dmdlab's trainer.

DMD's comparison table (CVPR 2023) copies every other row from the method's own paper:
different protocols, seeds, features and checkpoint selection. Here each row that runs on
this stack becomes a variant trained under dmdlab's one protocol (the same data, splits,
seeds, optimizer and validation-only selection as DMD), so its difference from DMD can be
measured with paired seeds (``python -m dmdlab reproduce comparison``).

:data:`BASELINES` is the one table of the rows: the paper's label, the variant that re-runs
it (or None with the reason it is not re-run), the implementation and what differs from
the original paper. Three kinds of row:

- **MMSA** (github.com/thuiar/MMSA, the ``mmsa`` package pinned at 2.2.1): MMSA's model
  class, built by MMSA's own ``AMIO`` wrapper (which adds MMSA's average-pool word
  alignment for the models that need aligned sequences), with MMSA's MOSI hyper-parameters
  from its ``config_regression.json``, read from the installed package
  (:func:`mmsa_args`). :class:`MMSABaseline` is the thin adapter: a ``Batch``'s features →
  MMSA's (text, audio, vision) arguments, MMSA's output → :class:`BaselineOutput`.
- **dmdlab**: written here from its paper (LF-LSTM: :class:`LateFusionLSTM`) or an existing
  variant (MulT: ``mult``).
- **not re-run**: the published number only, with the reason.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib import resources

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dmdlab.data.spec import DataSpec
from dmdlab.model.config import DMDConfig
from dmdlab.model.outputs import DecoupledOutput, DMDOutput, LossBreakdown

__all__ = ["Baseline", "BASELINES", "BASELINE_MODELS", "baseline", "as_baseline", "mmsa_args", "MMSABaseline",
           "LateFusionLSTM", "BaselineOutput", "MMSA_VERSION", "clip_lengths", "padding_in_front"]

MMSA_VERSION = "2.2.1"
"""The ``mmsa`` release whose model classes and configs the MMSA rows use (pinned in pyproject.toml)."""

MMSA_DATASET = "mosi"
"""The dataset whose hyper-parameters are read from MMSA's config_regression.json (its MOSI values)."""


@dataclass(frozen=True)
class Baseline:
    """One row of the paper's comparison table besides DMD."""

    label: str                  # the paper's row label, the key of its published numbers in dmdlab.paper
    variant: str | None         # the dmdlab variant that re-runs it; None: not re-run here
    source: str                 # the method's own paper
    implementation: str         # "MMSA <class>", "dmdlab" or "none"
    notes: str                  # re-run: what differs from the original paper; not re-run: why not
    mmsa: str | None = None     # MMSA's model key (AMIO and config_regression.json), for the MMSA rows

    @property
    def available(self) -> bool:
        """Re-run here (a variant trains it)."""
        return self.variant is not None


_ONE_PROTOCOL = ("trained with dmdlab's protocol (optimizer, learning rate, batch size, epochs, seeds and "
                 "validation-only selection as DMD's), not MMSA's per-model learning rate and batch size; ")
_PADDING = ("each clip's zero padding moved in front of its sequence (MMSA's recurrent models read their last "
            "state, which would otherwise follow the padding); ")

BASELINES: tuple[Baseline, ...] = (
    Baseline("EF-LSTM", "ef_lstm", "early-fusion LSTM baseline (Williams et al., Recognizing Emotions in Video "
             "Using Multimodal DNN Feature Fusion, 2018)", "MMSA EF_LSTM",
             _ONE_PROTOCOL + _PADDING + "the three feature sequences concatenated per step (unaligned data: "
             "MMSA's average-pool alignment to the text length) into a 4-layer LSTM, hidden 128, dropout 0.5 "
             "(MMSA's MOSI config).",
             "ef_lstm"),
    Baseline("LF-LSTM", "lf_lstm", "late-fusion LSTM baseline (Zadeh et al., Memory Fusion Network, AAAI 2018; "
             "Tsai et al., MulT, ACL 2019)", "dmdlab",
             _ONE_PROTOCOL + "written here (MMSA's LF_DNN is a DNN on time-averaged audio and vision, not an LSTM): "
             "one LSTM per modality (hidden 128) read at the modality's last valid step (the file's lengths, else "
             "the last step before the trailing zero padding), the three states concatenated, "
             "a ReLU layer and a linear output; hidden size and dropout as MMSA's EF_LSTM."),
    Baseline("TFN", "tfn", "Zadeh et al., Tensor Fusion Network for Multimodal Sentiment Analysis, EMNLP 2017",
             "MMSA TFN", _ONE_PROTOCOL + _PADDING + "audio and vision averaged over time (MMSA's "
             "'need_normalized', padded frames included as in MMSA's loader), text through an LSTM on the "
             "pre-extracted text features instead of "
             "GloVe; MMSA's MOSI hidden sizes (128, 32, 128), text_out 32, post-fusion 64.", "tfn"),
    Baseline("LMF", "lmf", "Liu et al., Efficient Low-rank Multimodal Fusion with Modality-Specific Factors, ACL 2018",
             "MMSA LMF", _ONE_PROTOCOL + _PADDING + "audio and vision averaged over time as for TFN; rank 3, "
             "hidden sizes (128, 16, 128) (MMSA's MOSI config); MMSA's separate factor learning rate is not "
             "used.", "lmf"),
    Baseline("MFM", "mfm", "Tsai et al., Learning Factorized Multimodal Representations, ICLR 2019", "MMSA MFM",
             _ONE_PROTOCOL + _PADDING + "loss as MMSA's MFM trainer: L1 + the weighted reconstruction terms + "
             "lda_mmd × MMD; unaligned data: MMSA's average-pool alignment; MMSA's MOSI sizes.", "mfm"),
    Baseline("RAVEN", None, "Wang et al., Words Can Shift, AAAI 2019", "none",
             "not in MMSA 2.2.1 and not written here (it needs word-aligned acoustic and visual sub-sequences "
             "per word, which the MMSA file layout does not carry)."),
    Baseline("MCTN", None, "Pham et al., Found in Translation, AAAI 2019", "none",
             "MMSA 2.2.1's MCTN does not run here: its Seq2Seq allocates on the hard-coded device 'cuda' (measured "
             "on torch 2.13 CPU: 'Torch not compiled with CUDA enabled'), and it feeds batch-first tensors to "
             "time-first LSTMs, so its recurrences run across the clips of a batch and a clip's prediction "
             "depends on the other clips in its batch (not a per-clip model; tests/test_baselines.py shows it)."),
    Baseline("MulT", "mult", "Tsai et al., Multimodal Transformer for Unaligned Multimodal Language Sequences, "
             "ACL 2019", "dmdlab", "dmdlab's own MulT variant (the cross-modal branch DMD builds on; docs/model.md)."),
    Baseline("PMR", None, "Lv et al., Progressive Modality Reinforcement, CVPR 2021", "none",
             "not in MMSA 2.2.1; not written here in the time this table had."),
    Baseline("MISA", None, "Hazarika et al., MISA, ACM MM 2020", "none",
             "MMSA 2.2.1's MISA requires use_bert=True and projects a hard-coded 768-wide BERT output: it needs "
             "bert-base-uncased weights, which dmdlab never downloads; it cannot read the pre-extracted text "
             "features."),
    Baseline("FDMER", None, "Yang et al., Disentangled Representation Learning for Multimodal Emotion Recognition, "
             "ACM MM 2022", "none", "not in MMSA 2.2.1; not written here in the time this table had."),
    Baseline("MICA", None, "the unaligned table's MICA row", "none",
             "not in MMSA 2.2.1; not written here."),
)
"""The comparison table's rows besides DMD, in the paper's order."""


def baseline(label: str) -> Baseline:
    """The row called ``label`` ("TFN")."""
    for row in BASELINES:
        if row.label == label:
            return row
    raise ValueError(f"The 'label' parameter must be one of {[row.label for row in BASELINES]}. Got {label!r}.")


def as_baseline(c: DMDConfig) -> DMDConfig:
    """A baseline variant's config: every DMD part switched off (the config only carries the
    variant name; the baseline's own hyper-parameters come from :func:`mmsa_args`)."""
    return c.replace(arch={"decoupling": False, "homo_branch": False, "hetero_heads": False},
                     gd={"homo": False, "hetero": False}, loss={"auxiliary_task": False})


def mmsa_args(key: str, spec: DataSpec):
    """MMSA's ``args`` for model ``key``: its MOSI hyper-parameters from the installed package's
    config_regression.json (commonParams, then datasetParams.mosi), with the widths and lengths
    of ``spec`` and regression output."""
    from easydict import EasyDict

    configs = json.loads(resources.files("MMSA").joinpath("config", "config_regression.json").read_text())
    if key not in configs:
        raise ValueError(f"MMSA {MMSA_VERSION}'s config_regression.json has no model {key!r}.")
    args = EasyDict({**configs[key]["commonParams"], **configs[key]["datasetParams"][MMSA_DATASET]})
    args.update(model_name=key, dataset_name=MMSA_DATASET, train_mode="regression", num_classes=1,
                feature_dims=[spec.text_dim, spec.audio_dim, spec.vision_dim],   # MMSA's order: text, audio, vision
                seq_lens=[spec.text_len, spec.audio_len, spec.vision_len], device=torch.device("cpu"))
    return args


@dataclass
class BaselineOutput(DMDOutput):
    """A baseline's forward pass: the prediction, and the weighted extra loss terms of its own
    objective (MFM's reconstruction and MMD), added to the task L1 by ``loss``."""

    extra_losses: dict[str, Tensor] = field(default_factory=dict)


def _check_inputs(config: DMDConfig, spec: DataSpec) -> None:
    if config.arch.text_encoder is not None:
        raise ValueError(f"The baseline {config.variant!r} reads the pre-extracted `text` features; it has no text "
                         f"encoder. Got arch.text_encoder={config.arch.text_encoder!r}: leave it unset.")
    if spec.text_dim is None:
        raise ValueError(f"The baseline {config.variant!r} reads the pre-extracted `text` features, but the data has "
                         "none (text_dim=None).")
    if spec.audio_dim is None or spec.vision_dim is None:
        raise ValueError(f"The data has no vision and audio (a text-only file), but the baseline {config.variant!r} "
                         "reads L, V and A: train the text-only variant unimodal_l on it.")


def trailing_padding(x: Tensor) -> Tensor:
    """(B,) the steps of each clip up to its last step with a nonzero feature (at least 1): MMSA
    files pad each clip's sequence with zeros at its end."""
    steps = torch.arange(1, x.shape[1] + 1, device=x.device)                      # (T,)
    return ((x.abs().sum(-1) > 0) * steps).amax(1).clamp(min=1)                    # (B,)


def clip_lengths(text: Tensor, vision: Tensor, audio: Tensor, vision_lengths: Tensor | None = None,
                 audio_lengths: Tensor | None = None) -> dict[str, Tensor]:
    """Each modality's valid steps per clip, (B,) by 'l', 'v', 'a': the file's lengths where it has
    them (unaligned vision and audio), else the steps before the trailing zero padding; aligned
    sequences (one length T) share one length, the longest of the three."""
    given = {"v": vision_lengths, "a": audio_lengths}
    inputs = {"l": text, "v": vision, "a": audio}
    if text.shape[1] == vision.shape[1] == audio.shape[1] and vision_lengths is None and audio_lengths is None:
        joint = torch.stack([trailing_padding(x) for x in inputs.values()]).amax(0)   # (B,)
        return dict.fromkeys(inputs, joint)
    return {m: trailing_padding(x) if given.get(m) is None else given[m].to(x.device).long().clamp(1, x.shape[1])
            for m, x in inputs.items()}


def padding_in_front(x: Tensor, lengths: Tensor) -> Tensor:
    """(B, T, d) with each clip's sequence rolled so that its ``lengths`` valid steps end at the last
    step and its padding comes first: a recurrent model's final state then follows the clip's last
    word, not the padding after it."""
    t = x.shape[1]
    shift = t - lengths.clamp(1, t)                                                  # (B,)
    index = (torch.arange(t, device=x.device).unsqueeze(0) - shift.unsqueeze(1)) % t   # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class _Baseline(nn.Module):
    """What the trainer needs of a model besides ``forward``: ``forward_batch``, ``loss`` and ``text_encoder``."""

    text_encoder = None       # the baselines read pre-extracted text features
    notes: list[str] = []

    def __init__(self, config: DMDConfig, spec: DataSpec) -> None:
        super().__init__()
        _check_inputs(config, spec)
        self.config, self.spec = config, spec

    def forward_batch(self, batch, *, return_attention: bool = False) -> BaselineOutput:
        """``forward`` on a ``dmdlab.data.Batch``; ``return_attention`` gives no maps (no attention here)."""
        return self(batch.text, batch.vision, batch.audio, vision_lengths=batch.vision_lengths,
                    audio_lengths=batch.audio_lengths)

    def gd_units(self) -> dict:
        return {}

    def loss(self, output: BaselineOutput, labels: Tensor, *, detailed: bool = False) -> LossBreakdown:
        """Task L1 of the prediction (the protocol's loss) plus the baseline's own weighted terms."""
        terms = OrderedDict(task=F.l1_loss(output.prediction, labels.reshape(-1, 1).to(output.prediction.dtype)))
        terms.update(output.extra_losses)
        return LossBreakdown(total=sum(terms.values()), terms=terms)


class MMSABaseline(_Baseline):
    """An MMSA model class behind dmdlab's model contract: ``MMSABaseline(get_variant("tfn"), spec)``."""

    def __init__(self, config: DMDConfig, spec: DataSpec, *, text_encoder_config: dict | None = None) -> None:
        super().__init__(config, spec)
        try:
            from MMSA.models.AMIO import AMIO   # importing MMSA also imports its trainer and pynvml (no GPU call)
        except ModuleNotFoundError as error:
            raise ValueError(f"The baseline {config.variant!r} is MMSA's model class, but MMSA is not installed "
                             f"({error}): pip install mmsa=={MMSA_VERSION} (a dependency of dmdlab).") from None

        self.row = next(row for row in BASELINES if row.variant == config.variant)
        self.args = mmsa_args(self.row.mmsa, spec)
        self.mmsa = AMIO(self.args)     # MMSA's wrapper: its average-pool alignment where the model needs it

    def forward(self, text: Tensor, vision: Tensor, audio: Tensor, *, vision_lengths: Tensor | None = None,
                audio_lengths: Tensor | None = None) -> BaselineOutput:
        """text (B, T_L, d_L) features, vision (B, T_V, d_V), audio (B, T_A, d_A); lengths (B,) of the
        unaligned frames → the prediction (B, 1). Each sequence's padding is moved in front of it
        (``padding_in_front``): MMSA's recurrent models read their last state. Models MMSA feeds
        time-averaged audio and vision ('need_normalized') get the mean over all frames, as MMSA's
        loader computes it."""
        lengths = clip_lengths(text, vision, audio, vision_lengths, audio_lengths)
        text, vision, audio = (padding_in_front(x, lengths[m]) for m, x in (("l", text), ("v", vision), ("a", audio)))
        if self.args.get("need_normalized"):
            audio, vision = audio.mean(1, keepdim=True), vision.mean(1, keepdim=True)     # (B, 1, d)
        self.args.device = text.device                   # MFM allocates its recurrent states on args.device
        result = self.mmsa(text, audio, vision)          # MMSA's argument order: text, audio, vision
        extra = {}
        if isinstance(result, tuple):                    # MFM: (prediction, reconstruction, MMD, missing)
            prediction, reconstruction, mmd, _ = result
            extra = {"reconstruction": reconstruction, "mmd": self.args.lda_mmd * mmd}
        else:
            prediction = result["M"]
        return BaselineOutput(prediction=prediction.reshape(-1, 1), decoupled=DecoupledOutput(shallow={}),
                              extra_losses=extra)


class LateFusionLSTM(_Baseline):
    """LF-LSTM: h_m = LSTM_m(X_m) read at the last valid step of modality m;
    ŷ = W₂ ReLU(W₁ [h_L; h_V; h_A] + b₁) + b₂ (with dropout before each linear map)."""

    HIDDEN, DROPOUT = 128, 0.5    # MMSA's EF_LSTM MOSI hidden size and dropout

    def __init__(self, config: DMDConfig, spec: DataSpec, *, text_encoder_config: dict | None = None) -> None:
        super().__init__(config, spec)
        h = self.HIDDEN
        self.lstm = nn.ModuleDict({m: nn.LSTM(spec.dims[m], h, batch_first=True) for m in ("l", "v", "a")})
        self.fusion = nn.Linear(3 * h, h)
        self.out = nn.Linear(h, 1)
        self.dropout = nn.Dropout(self.DROPOUT)

    def forward(self, text: Tensor, vision: Tensor, audio: Tensor, *, vision_lengths: Tensor | None = None,
                audio_lengths: Tensor | None = None) -> BaselineOutput:
        """text (B, T_L, d_L), vision (B, T_V, d_V), audio (B, T_A, d_A); lengths (B,) of the unaligned
        frames → the prediction (B, 1), from each LSTM's state at its modality's last valid step
        (``clip_lengths``: the file's lengths, else the steps before the trailing zero padding)."""
        lengths = clip_lengths(text, vision, audio, vision_lengths, audio_lengths)
        finals = []
        for m, x in (("l", text), ("v", vision), ("a", audio)):
            states, _ = self.lstm[m](x)                                                 # (B, T_m, h)
            finals.append(states[torch.arange(x.shape[0], device=x.device), lengths[m] - 1])   # (B, h)
        fused = F.relu(self.fusion(self.dropout(torch.cat(finals, dim=-1))))            # (B, h)
        return BaselineOutput(prediction=self.out(self.dropout(fused)), decoupled=DecoupledOutput(shallow={}))


BASELINE_MODELS: dict[str, type[_Baseline]] = {
    **{row.variant: MMSABaseline for row in BASELINES if row.mmsa is not None},
    "lf_lstm": LateFusionLSTM,
}
"""Variant name → model class, for the baselines that are not DMD variants (MulT is one)."""
