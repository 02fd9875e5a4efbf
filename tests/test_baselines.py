"""The comparison table's baselines (dmdlab/model/baselines.py): one contract test per re-run row
on the built-in tiny data (shapes, finite values, gradients), LF-LSTM against its equations,
the measured reasons of a row not re-run, and the table against the published numbers."""

from __future__ import annotations

import pytest
import torch

from dmdlab import paper
from dmdlab.data.spec import DataSpec
from dmdlab.model import VARIANTS, build_model, get_variant
from dmdlab.model.baselines import (BASELINE_MODELS, BASELINES, LateFusionLSTM, MMSABaseline, clip_lengths, mmsa_args,
                                    padding_in_front)
from dmdlab.model.variants import label

# MFM reads only the memory of MFM's inner MFN encoder, never that MFN's own output layers (MMSA's MFM)
NO_GRADIENT = {"mfm": ("mmsa.Model.mfn_encoder.out_fc",)}
EXTRA_TERMS = {"mfm": {"reconstruction", "mmd"}}


def _batch(dataset, size: int = 16):
    return next(iter(dataset.splits["train"].batches(size, shuffle=False)))


@pytest.mark.parametrize("name", list(BASELINE_MODELS))
def test_baseline_contract(name, tiny_dataset, tiny_unaligned_dataset):
    """Aligned and unaligned tiny data: prediction (B, 1), finite losses with the model's own terms,
    and a finite gradient on every parameter that should learn (nonzero on all but a few biases)."""
    for dataset in (tiny_dataset, tiny_unaligned_dataset):
        torch.manual_seed(0)
        model = build_model(get_variant(name), dataset.spec).train()
        assert model.text_encoder is None
        batch = _batch(dataset)
        out = model.forward_batch(batch)
        assert out.prediction.shape == (len(batch), 1) and torch.isfinite(out.prediction).all()
        losses = model.loss(out, batch.labels)
        assert set(losses.terms) == {"task"} | EXTRA_TERMS.get(name, set())
        assert losses.total.dim() == 0 and all(torch.isfinite(v) for v in losses.terms.values())
        losses.total.backward()
        silent = []
        for parameter_name, p in model.named_parameters():
            if not p.requires_grad:                      # TFN's fixed output range and shift
                continue
            if parameter_name.startswith(NO_GRADIENT.get(name, ())):
                assert p.grad is None, f"{parameter_name} should get no gradient"
                continue
            assert p.grad is not None and torch.isfinite(p.grad).all(), f"{parameter_name} got no gradient"
            silent += [parameter_name] if p.grad.abs().sum() == 0 else []
        assert all(n.endswith("bias") for n in silent), silent   # an L1 bias gradient can sum to 0 by balance


def test_baselines_train_and_reload_through_the_trainer(tiny_dataset_path, tmp_path):
    """A baseline is a variant like any other: the trainer trains it, writes its run, and its checkpoint
    rebuilds the same model (the same test predictions)."""
    from dmdlab.checkpoint import load_checkpoint
    from dmdlab.training.config import TrainConfig
    from dmdlab.training.resolve import load_data
    from dmdlab.training.trainer import evaluate, train

    config = TrainConfig(max_epochs=1, batch_size=64, grad_accumulation=1, eval_test_each_epoch=False, seed=1111,
                         progress=False, num_threads=1)
    run = train(tiny_dataset_path, get_variant("tfn"), config, tmp_path / "tfn")
    assert run.variant == "tfn" and 0 <= run.metrics["test"]["Non0_acc_2"] <= 1
    model, _ = load_checkpoint(tmp_path / "tfn" / "best.pt")
    assert isinstance(model, MMSABaseline)
    test = evaluate(model, load_data(tiny_dataset_path).splits["test"], with_loss=False)
    assert test.metrics["MAE"] == pytest.approx(run.metrics["test"]["MAE"], abs=1e-5)


def test_lf_lstm_is_its_equations(tiny_dataset, tiny_unaligned_dataset):
    """ŷ = W₂ ReLU(W₁ [h_L; h_V; h_A] + b₁) + b₂, h_m the LSTM state after modality m's last valid
    step (the file's lengths, else the last before the zero padding): each clip computed alone on
    its unpadded sequences matches the batched model, on aligned and unaligned data."""
    for dataset in (tiny_dataset, tiny_unaligned_dataset):
        torch.manual_seed(0)
        model = build_model(get_variant("lf_lstm"), dataset.spec).eval()
        assert isinstance(model, LateFusionLSTM)
        batch = _batch(dataset, 6)
        predicted = model.forward_batch(batch).prediction
        with torch.no_grad():
            for i in range(len(batch)):
                unpadded = {m: x[i, :_last_nonzero(x[i]) + 1] for m, x in
                            (("l", batch.text), ("v", batch.vision), ("a", batch.audio))}
                if batch.vision_lengths is not None:
                    unpadded["v"] = batch.vision[i, :batch.vision_lengths[i]]
                    unpadded["a"] = batch.audio[i, :batch.audio_lengths[i]]
                else:                                   # aligned: one length, the longest of the three
                    t = max(len(x) for x in unpadded.values())
                    unpadded = {m: x[i, :t] for m, x in (("l", batch.text), ("v", batch.vision), ("a", batch.audio))}
                h = [model.lstm[m](x.unsqueeze(0))[1][0].reshape(-1) for m, x in unpadded.items()]   # each h_T
                y = model.out(torch.relu(model.fusion(torch.cat(h))))
                torch.testing.assert_close(predicted[i], y, rtol=1e-5, atol=1e-6)


def _last_nonzero(x: torch.Tensor) -> int:
    return int(torch.nonzero(x.abs().sum(-1) > 0).max())


def test_padding_moves_in_front_of_each_clip():
    """The MMSA adapter's input layout: each clip's valid steps end at the last step, its zero padding
    comes first; the lengths come from the file where it has them, else from the trailing zeros."""
    x = torch.zeros(2, 5, 3)
    x[0, :2], x[1, :4] = 1.0, 2.0
    x[1, 1] = 0.0                                  # a zero step inside the clip is not padding
    lengths = clip_lengths(x, x, x)
    assert lengths["l"].tolist() == [2, 4] and lengths["v"].tolist() == [2, 4]
    moved = padding_in_front(x, lengths["l"])
    assert moved[0, :3].abs().sum() == 0 and torch.equal(moved[0, 3:], x[0, :2])
    assert moved[1, 0].abs().sum() == 0 and torch.equal(moved[1, 1:], x[1, :4])
    given = clip_lengths(x[:, :4], x, x, vision_lengths=torch.tensor([5, 1]), audio_lengths=torch.tensor([3, 3]))
    assert given["v"].tolist() == [5, 1] and given["a"].tolist() == [3, 3] and given["l"].tolist() == [2, 4]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the measured reason is a CPU-only failure")
def test_mmsa_mctn_is_not_a_per_clip_model_here(tiny_dataset):
    """Why MCTN is not re-run: MMSA 2.2.1's MCTN fails on a CPU (a hard-coded 'cuda'), and with that
    device patched its prediction for a clip changes with the other clips of the batch."""
    from MMSA.models.singleTask.MCTN import MCTN

    args = mmsa_args("mctn", tiny_dataset.spec)
    args.output_dim = tiny_dataset.spec.text_dim       # MCTN translates into the text width
    torch.manual_seed(0)
    model = MCTN(args).eval()
    batch = _batch(tiny_dataset, 8)
    targets = batch.labels.view(-1, 1)
    with pytest.raises(AssertionError, match="CUDA"):
        model(batch.text, batch.audio, batch.vision, targets, None)
    for seq2seq in (model.seq2seq1, model.seq2seq2):
        seq2seq.device = "cpu"
    with torch.no_grad():
        _, whole = model(batch.text, batch.audio, batch.vision, targets, None)
        _, half = model(batch.text[:4], batch.audio[:4], batch.vision[:4], targets[:4], None)
    assert not torch.allclose(whole[:4], half, atol=1e-6)


def test_the_table_matches_the_paper_and_the_registry():
    """Every row has published numbers in dmdlab.paper; every re-run row is a registered variant with
    the paper's label; every row not re-run says why."""
    published = {row.model for row in paper.RESULTS}
    assert [row.label for row in BASELINES] == list(dict.fromkeys(
        row.model for row in paper.RESULTS if row.model != "DMD" and row.dataset == paper.MOSI))
    for row in BASELINES:
        assert row.label in published and row.source and row.notes
        if row.available:
            assert row.variant in VARIANTS and label(row.variant) == row.label
        else:
            assert row.implementation == "none" and row.mmsa is None
    assert {row.variant for row in BASELINES if row.available} == set(BASELINE_MODELS) | {"mult"}


def test_baselines_refuse_data_they_cannot_read():
    text_only = DataSpec(text_dim=12, audio_dim=None, vision_dim=None, text_len=8, audio_len=None, vision_len=None,
                         aligned=True)
    with pytest.raises(ValueError, match="no vision and audio .*'tfn'"):
        build_model(get_variant("tfn"), text_only)
    spec = DataSpec(text_dim=12, audio_dim=5, vision_dim=7, text_len=8, audio_len=8, vision_len=8, aligned=True)
    with pytest.raises(ValueError, match="'lf_lstm' reads the pre-extracted `text` features"):
        build_model(get_variant("lf_lstm").replace(arch={"text_encoder": "/some/bert"}), spec)


def test_reproduce_comparison_end_to_end(tiny_dataset_path, tmp_path, capsys):
    """`reproduce comparison` (smoke mode, 2 seeds, 1 epoch) trains every available row and DMD, and prints
    per row ours, the published number, ours − published and the paired difference from DMD; the numbers
    are those of the runs it wrote, and the rows not re-run keep their published numbers."""
    import numpy as np

    from dmdlab import runs, stats
    from dmdlab.cli import main
    from dmdlab.comparison import COMPARISON, comparison_table, differences

    out = tmp_path / "comparison"
    code = main(["reproduce", "comparison", "--data", str(tiny_dataset_path), "--seeds", "2", "--mode", "smoke",
                 "--epochs", "1", "--jobs", "1", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    run_set = runs.load(out / "*" / "seed*")
    trained = sorted({(run.variant, run.seed) for run in run_set})
    assert trained == sorted((v, s) for v in COMPARISON for s in (1111, 1112))
    assert all(run.config["train"]["max_epochs"] == 1 and run.config["train"]["selection_metric"] == "MAE"
               for run in run_set)
    table = comparison_table(run_set)
    assert table.to_string() in printed and "not re-run here:" in printed and "MCTN: MMSA 2.2.1" in printed
    for row in BASELINES:
        published = paper.lookup(row.label)
        if published is None:          # MICA: published on unaligned data only
            assert row.label not in table.index.get_level_values("model")
            continue
        cell = table.loc[(row.label, "Acc-2")]
        assert cell["published"] == f"{published.acc2:.1f}"
        assert (cell["ours"] == "not re-run") is (not row.available)
    frame = run_set.metrics
    tfn, dmd = (frame[frame.variant == v].sort_values("seed")["Non0_acc_2"].to_numpy() * 100 for v in ("tfn", "dmd"))
    expected = stats.paired_difference(tfn, dmd)
    assert table.loc[("TFN", "Acc-2"), "− DMD"] == expected.text(1)
    assert table.loc[("TFN", "Acc-2"), "ours − published"] == stats.signed(np.mean(tfn) - 73.9, 1)
    forest = differences(run_set).set_index(["variant", "metric"])
    assert forest.loc[("tfn", "Acc-2"), "mean"] == pytest.approx(expected.mean)
    assert set(forest.index.get_level_values("variant")) == set(COMPARISON) - {"dmd"}
    from dmdlab.viz import ComparisonForestDisplay

    figure = ComparisonForestDisplay.from_runs(run_set).plot()
    assert [label.split(" (")[0] for label in figure.data[0].y] == [row.label for row in BASELINES if row.available]


@pytest.mark.parametrize("name", list(BASELINE_MODELS))
def test_baselines_read_utterance_level_features(name):
    """One step per modality (the real utterance-level CMU-MOSI): every baseline runs forward and backward."""
    spec = DataSpec(text_dim=12, audio_dim=5, vision_dim=7, text_len=1, audio_len=1, vision_len=1, aligned=True)
    torch.manual_seed(0)
    model = build_model(get_variant(name), spec).train()
    out = model(torch.randn(4, 1, 12), torch.randn(4, 1, 7), torch.randn(4, 1, 5))
    losses = model.loss(out, torch.tensor([2.5, -1.0, 0.5, 3.0]))
    assert out.prediction.shape == (4, 1) and torch.isfinite(losses.total)
    losses.total.backward()


def test_a_missing_mmsa_is_one_clear_line(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "MMSA.models.AMIO", None)      # the import fails as without the package
    spec = DataSpec(text_dim=12, audio_dim=5, vision_dim=7, text_len=8, audio_len=8, vision_len=8, aligned=True)
    with pytest.raises(ValueError, match=r"'tfn' is MMSA's model class, but MMSA is not installed .*mmsa==2\.2\.1"):
        build_model(get_variant("tfn"), spec)
