"""Modes, the cached workbench, the statistics over seeds and the claims report."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from dmdlab import modes, runs, stats
from dmdlab.claims import Claim, ClaimsReport, burst_focus, claims_report
from dmdlab.cli import main
from dmdlab.data import DatasetError, load_mmsa
from dmdlab.model import DMD, DMDConfig, get_variant
from dmdlab.modalities import EDGE_LABELS


# --------------------------------------------------------------------------- statistics


def test_paired_interval_is_students_t_over_the_differences():
    a, b = [0.80, 0.82, 0.79, 0.85], [0.78, 0.80, 0.80, 0.81]
    interval = stats.paired_difference(a, b)
    d = np.subtract(a, b)
    half = scipy_stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert interval.mean == pytest.approx(d.mean())
    assert (interval.low, interval.high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert interval.p_value == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue)
    assert interval.n == 4


@pytest.mark.parametrize("values, claimed_larger, expected", [
    ([0.1, 0.12, 0.11], True, stats.HOLDS),
    ([0.1, 0.12, 0.11], False, stats.FAILS),
    ([0.1, -0.12, 0.05], True, stats.NOISE),
    ([0.3], True, stats.NOT_MEASURABLE),
    ([], True, stats.NOT_MEASURABLE),
])
def test_verdicts(values, claimed_larger, expected):
    assert stats.verdict(stats.mean_interval(values), larger_is_claimed=claimed_larger) == expected


def test_unpaired_seeds_are_an_error():
    with pytest.raises(ValueError, match="same number of seeds"):
        stats.paired_difference([1, 2, 3], [1, 2])


# --------------------------------------------------------------------------- modes and variants


def test_modes_and_their_errors(monkeypatch, tmp_path):
    assert modes.MODE_NAMES == ("smoke", "class", "paper")
    assert modes.get_mode("smoke").note == modes.SMOKE_NOTE and modes.get_mode("class").note is None
    with pytest.raises(ValueError, match=r"'mode' parameter must be one of \['smoke', 'class', 'paper'\]. Got 'quick'"):
        modes.get_mode("quick")
    monkeypatch.setenv("DMDLAB_HOME", str(tmp_path / "home"))
    assert modes.cache_dir() == (tmp_path / "home").resolve()
    monkeypatch.delenv("DMDLAB_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert modes.cache_dir() == (tmp_path / "xdg" / "dmdlab").resolve()


def test_edge_prior_variants(tiny_arch):
    base = DMDConfig.preset("mosi")
    uniform = DMD(get_variant("uniform_prior", base).replace(arch=tiny_arch), _spec())
    assert uniform.gd_homo.prior.tolist() == pytest.approx([1 / 6] * 6)
    assert uniform.gd_hetero.prior.tolist() == pytest.approx([1 / 6] * 6)
    assert get_variant("no_edge_reg", base).gd.reg_weight == 0.0
    official = DMD(base.replace(arch=tiny_arch), _spec())
    assert official.gd_homo.prior[2].item() == pytest.approx(0.482, abs=1e-3)


def _spec():
    from dmdlab.data.spec import DataSpec

    return DataSpec(text_dim=32, audio_dim=5, vision_dim=20, text_len=12, audio_len=12, vision_len=12, aligned=True)


# --------------------------------------------------------------------------- ground truth in the built-in data


def test_built_in_data_records_where_the_visual_bursts_are(tiny_dataset):
    split = tiny_dataset.splits["train"]
    opinion, frame_word = split.opinion_words, split.vision_word
    assert opinion.shape == split.text.shape[:2] and frame_word.shape == split.vision.shape[:2]
    assert opinion.any() and (frame_word == -1).any()
    # aligned data: frame t shows token t while the clip lasts, and padding frames are all zero
    valid = frame_word >= 0
    assert (frame_word[valid] == np.nonzero(valid)[1]).all()
    assert not split.vision[~valid].any()
    # the burst is there: along the generator's "smile" direction, vision moves with the sentiment at the
    # recorded sentiment words (measured: 0.95 at them, 0.23 at the other words)
    from dmdlab.data.synth import SCALES, _world

    smile = _world(SCALES["tiny"]).smile
    along = (split.vision @ smile) * np.sign(split.labels)[:, None]   # (N, T_V), signed by the clip's sentiment
    assert along[valid & opinion].mean() > 2 * along[valid & ~opinion].mean() + 0.3


def test_ground_truth_keys_are_validated(tiny_dataset_path, tmp_path):
    with open(tiny_dataset_path, "rb") as stream:
        raw = pickle.load(stream)
    raw["valid"]["vision_word"] = raw["valid"]["vision_word"].copy()
    raw["valid"]["vision_word"][3, 2] = 99
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps(raw))
    with pytest.raises(DatasetError, match=r"split 'valid'.*'vision_word'.*expected values -1 or a token position < 12"):
        load_mmsa(bad)
    for split in raw.values():
        split.pop("opinion_words"), split.pop("vision_word")
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(raw))
    assert load_mmsa(plain).splits["test"].opinion_words is None


# --------------------------------------------------------------------------- claims


def _fake(variant: str, seed: int, acc2: float, mae: float, valid_mae: float = 1.0, edges=None) -> runs.Run:
    metrics = {"Non0_acc_2": acc2, "Non0_F1_score": acc2, "MAE": mae}
    config = {"name": f"{variant}-seed{seed}", "variant": variant, "seed": seed, "train": {"max_epochs": 4, "seed": seed},
              "dataset": {"name": "synth_mosi.pkl"}, "model": DMDConfig.preset("mosi").to_dict()}
    edge_rows = pd.DataFrame([{"split": "test", "unit": unit, "edge": label, "mean": value, "std": 0.0}
                              for unit, values in (edges or {}).items() for label, value in zip(EDGE_LABELS, values)])
    return runs.Run(config=config, history=pd.DataFrame(), edges=edge_rows,
                    metrics={"test": metrics, "valid": {"MAE": valid_mae}, "best_epoch": 2, "epochs": 4})


def test_comparison_claims_pair_by_seed_and_orient_towards_dmd(tiny_dataset):
    run_set = []
    for seed, (dmd_acc, fd_acc) in zip((1, 2, 3), ((0.80, 0.70), (0.82, 0.71), (0.79, 0.72))):
        run_set += [_fake("dmd", seed, dmd_acc, 0.8), _fake("wo_fd", seed, fd_acc, 0.9 + 0.01 * seed),
                    _fake("unimodal_l", seed, dmd_acc + 0.05, 0.7, valid_mae=0.9),
                    _fake("unimodal_v", seed, 0.9, 0.5, valid_mae=1.5)]
    report = claims_report(run_set, tiny_dataset, groups=("beats",), progress=False)
    table = report.table
    assert table.loc["beats/wo_fd/Acc-2", "verdict"] == stats.HOLDS
    assert table.loc["beats/wo_fd/MAE", "verdict"] == stats.HOLDS            # w/o FD's MAE is higher: DMD better
    assert table.loc["beats/wo_fd/Acc-2", "measured"].startswith("+9.3 [")
    # the best unimodal model is chosen on validation (unimodal L), never on test (unimodal V looks better there)
    assert "beats/unimodal_l/Acc-2" in table.index and not any("unimodal_v" in key for key in table.index)
    assert table.loc["beats/unimodal_l/Acc-2", "verdict"] == stats.FAILS
    assert table.loc["beats/wo_ca/Acc-2", "verdict"] == stats.NOT_MEASURABLE  # no runs of it
    assert json.loads(report.to_json())["claims"][0]["claim"] == "beats/wo_fd/Acc-2"


def test_edge_claims_hold_against_the_prior_and_uniform_controls(tiny_dataset):
    favoured = [0.05, 0.05, 0.35, 0.10, 0.35, 0.10]
    run_set = [_fake("dmd", seed, 0.8, 0.8, edges={"homo": np.add(favoured, 0.01 * seed), "hetero": [1 / 6] * 6})
               for seed in (1, 2, 3)]
    run_set += [_fake("uniform_prior", seed, 0.8, 0.8, edges={"homo": np.add([1 / 6] * 6, [0, 0, 0, 0.05 + 0.01 * seed, 0, 0]),
                                                               "hetero": [1 / 6] * 6}) for seed in (1, 2, 3)]
    report = claims_report(run_set, tiny_dataset, groups=("edges",), progress=False)
    homo = report.table.loc["edges/homo"]
    assert homo["verdict"] == stats.HOLDS and homo["measured"].startswith("+0.250")
    assert "prior +0.473" in homo["control"] and "uniform prior -0.070" in homo["control"]
    assert "untrained" in homo["control"]                          # edges of the initial model, from a forward pass
    assert report.table.loc["edges/hetero", "verdict"] == stats.NOISE   # V→A never above the others: 0 ± 0
    # with a uniform prior A→V drifts above L→V and L→A: the dominance is not learned
    assert report.table.loc["edges/homo/uniform_prior", "verdict"] == stats.FAILS


def test_edge_claims_without_the_uniform_prior_control_are_not_measurable(tiny_dataset):
    """The prior alone puts L→V and L→A on top: without the model trained with a uniform prior
    the pattern cannot be told from the prior's pull, so the claim is never 'holds'."""
    favoured = [0.05, 0.05, 0.35, 0.10, 0.35, 0.10]
    run_set = [_fake("dmd", seed, 0.8, 0.8, edges={"homo": np.add(favoured, 0.01 * seed),
                                                        "hetero": [0.05, 0.05, 0.3, 0.05, 0.3, 0.25]})
               for seed in (1, 2, 3)]
    table = claims_report(run_set, tiny_dataset, groups=("edges",), progress=False).table
    for unit in ("homo", "hetero"):
        assert table.loc[f"edges/{unit}", "verdict"] == stats.NOT_MEASURABLE
        assert table.loc[f"edges/{unit}", "measured"].startswith("+")          # still measured, and shown in JSON
        assert "no uniform-prior runs" in table.loc[f"edges/{unit}", "control"]


def test_report_text_keeps_within_100_characters_and_can_name_what_it_cannot_measure():
    interval = stats.mean_interval([0.1, 0.12, 0.11])
    claims = [Claim("beats/wo_fd/Acc-2", "DMD beats w/o FD on Acc-2", "m", interval, control="w/o FD: 78.8 " * 12,
                    paper="DMD better", verdict=stats.HOLDS),
              Claim("beats/wo_ca/Acc-2", "DMD beats w/o CA on Acc-2", "m", stats.mean_interval([]), verdict=stats.NOT_MEASURABLE),
              Claim("beats/wo_ca/MAE", "DMD beats w/o CA on MAE", "m", stats.mean_interval([]), verdict=stats.NOT_MEASURABLE)]
    report = ClaimsReport(claims, "somewhere", ["a note " * 30])
    full = report.to_string()
    assert max(len(line) for line in full.splitlines()) <= 100
    assert "DMD beats w/o CA on MAE" in full
    short = report.to_string(measured_only=True, settle="`python -m dmdlab workbench` measures them.")
    assert max(len(line) for line in short.splitlines()) <= 100
    assert "DMD beats w/o FD on Acc-2" in short and "[holds]" in short
    assert "DMD beats w/o CA on" not in short                              # left out, named once without its metric
    assert "not measurable here (2 rows, left out above): DMD beats w/o CA." in " ".join(short.split())
    assert "`python -m dmdlab workbench` measures them." in " ".join(short.split())
    assert len(json.loads(report.to_json())["claims"]) == 3                # the JSON keeps everything


def test_signed_numbers_never_print_minus_zero():
    assert stats.signed(-0.0004, 2) == "0.00" and stats.signed(0.0, 3) == "0.000"
    assert stats.signed(-0.006, 2) == "-0.01" and stats.signed(0.5, 1) == "+0.5"
    assert stats.mean_interval([-0.001, 0.001, -0.002]).text(2) == "0.00 [0.00, 0.00]"


def test_teacher_claim_compares_the_vision_world_with_the_standard_one_by_seed():
    """V→L and V→A rise in the vision world for DMD (holds), not for the uniform-prior model (inside noise)."""
    from dmdlab.claims import teacher_claims

    base = [1 / 6] * 6                                     # EDGE_LABELS order: V→L, A→L, L→V, A→V, L→A, V→A
    worlds = {"standard": [], "vision_strongest": []}
    for seed in (1, 2, 3):
        worlds["standard"] += [_fake("dmd", seed, 0.8, 0.8, edges={"homo": base, "hetero": base}),
                               _fake("uniform_prior", seed, 0.8, 0.8, edges={"homo": base, "hetero": base})]
        shifted = np.add(base, [0.02 + 0.01 * seed, 0, 0, 0, 0, 0.03])
        noisy = np.add(base, [0.01 * (seed - 2), 0, 0, 0, 0, 0])
        worlds["vision_strongest"] += [_fake("dmd", seed, 0.8, 0.8, edges={"homo": shifted, "hetero": base}),
                                       _fake("uniform_prior", seed, 0.8, 0.8, edges={"homo": noisy, "hetero": base})]
    table = {c.claim: c for c in teacher_claims(worlds)}
    dmd = table["worlds/teacher/homo/dmd"]
    assert dmd.verdict == stats.HOLDS and dmd.value.mean == pytest.approx(0.035) and dmd.value.n == 3
    assert "prior -0.473" in dmd.control and "standard" in dmd.control
    assert table["worlds/teacher/homo/uniform_prior"].verdict == stats.NOISE
    assert table["worlds/teacher/hetero/dmd"].verdict == stats.NOISE          # 0 ± 0
    assert teacher_claims({})[0].verdict == stats.NOT_MEASURABLE


def test_decoupling_claims_follow_the_style_dial():
    from dmdlab.claims import decoupling_claims, decoupling_curve, world_claims

    worlds = {}
    for world, gain in (("style_none", 0.0), ("standard", 0.05), ("style_strong", 0.1)):
        worlds[world] = [run for seed in (1, 2, 3) for run in (
            _fake("dmd", seed, 0.8, 0.9 - gain - 0.002 * seed), _fake("wo_fd", seed, 0.78, 0.9 + 0.001 * seed))]
    table = {c.claim: c for c in decoupling_claims(worlds)}
    assert table["worlds/decoupling/style_strong"].verdict == stats.HOLDS
    assert table["worlds/decoupling/trend"].verdict == stats.HOLDS
    assert table["worlds/decoupling/trend"].value.mean == pytest.approx(0.1)
    curve = decoupling_curve(worlds)
    assert curve["style"].tolist() == [0.0, 1.0, 3.0] and curve["mean"].iloc[2] == pytest.approx(0.106)
    assert (curve["low"] < curve["mean"]).all() and (curve["n"] == 3).all()
    report = world_claims({**worlds, "style_strong": []})                # runs missing: said so, never a verdict
    assert report.table.loc["worlds/decoupling/style_strong", "verdict"] == stats.NOT_MEASURABLE
    assert report.table.loc["worlds/decoupling/trend", "verdict"] == stats.NOT_MEASURABLE


def test_burst_focus_reads_the_ground_truth(tiny_dataset, tiny_arch):
    model = DMD(DMDConfig.preset("mosi").replace(arch=tiny_arch), tiny_dataset.spec).eval()
    focus = burst_focus(model, tiny_dataset.splits["test"])
    assert math.isfinite(focus) and focus > 0
    blind = tiny_dataset.splits["test"].subset(range(8))
    blind.opinion_words = None
    assert math.isnan(burst_focus(model, blind))


def test_report_renders_and_never_emits_nan():
    report = ClaimsReport([], "nothing", ["a note"])
    assert "a note" in report.to_string()
    assert json.loads(report.to_json()) == {"source": "nothing", "notes": ["a note"], "claims": []}


# --------------------------------------------------------------------------- the commands


def test_workbench_trains_once_and_prints_the_claims(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["workbench", "--mode", "smoke", "--variants", "dmd", "wo_fd", "--seeds", "2", "--out", str(out),
            "--jobs", "1", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "smoke data: not meaningful" in text and "homogeneous space separates sentiment" in text
    assert "visual burst" in text and "DMD beats w/o FD on Acc-2" in text
    assert sorted(p.name for p in out.iterdir()) == ["dmd", "wo_fd"]
    stamp = (out / "dmd" / "seed1111" / runs.METRICS).stat().st_mtime_ns
    assert main(argv) == 0                                          # second time: read back, not retrained
    assert (out / "dmd" / "seed1111" / runs.METRICS).stat().st_mtime_ns == stamp
    assert main(["claims", str(out), "--json"]) == 0
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {c["claim"] for c in document["claims"]} >= {"homo/sentiment", "hetero/modality", "attention/bursts"}


def test_paper_mode_needs_a_file(capsys):
    assert main(["workbench", "--mode", "paper"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "paper mode trains on a dataset file you name" in err[0]


def test_workbench_on_the_built_in_unaligned_data(tmp_path, capsys, dmdlab_home):
    """--unaligned: the built-in data with audio and vision at their own lengths, cached apart
    from the aligned file; DMD trains on it and the claims report reads it."""
    out = tmp_path / "bench"
    argv = ["workbench", "--mode", "smoke", "--unaligned", "--variants", "dmd", "--seeds", "1", "--out", str(out),
            "--jobs", "1", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "synth_tiny_unaligned_v2.pkl" in text and "DMD" in text
    run = runs.load(out / "dmd" / "seed1111")
    assert run.config["spec"]["aligned"] is False and run.test_metrics
    assert (dmdlab_home / "data" / "synth_tiny_unaligned_v2.pkl").is_file()
    assert main(["workbench", "--mode", "smoke", "--unaligned", "--data", str(out / "x.pkl")]) == 2
    assert "a named file is used as it is" in capsys.readouterr().err


def test_demo_states_its_time_first_prints_only_what_it_measures_and_which_notebooks_are_ready(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--mode", "smoke", "--seeds", "2", "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("demo: trains dmd, wo_fd, unimodal_l in smoke mode") and "Smoke mode: seconds." in " ".join(text.split())
    report = text[text.index("claims of the paper"):text.index("runs under")]
    assert max(len(line) for line in report.splitlines()) <= 100
    # the edge claims' deciding control (uniform prior) is not trained by the demo: named, never 'holds'
    assert "HomoGD: L→V and L→A dominate" not in report.split("not measurable here (")[0]
    assert "HeteroGD: V→A emerges" in " ".join(report.split("not measurable here (")[1].split())
    assert "`python -m dmdlab workbench --mode smoke`" in " ".join(report.split())
    assert "notebooks ready (their runs are cached): 01_data, 02_model, 03_training, 06_separability, 07_attention" in text
    assert "05_edges: 4 runs in the notebook" in text


def test_fixed_numbers_never_print_minus_zero():
    assert stats.fixed(-0.001, 2) == "0.00" and stats.fixed(-0.02, 2) == "-0.02" and stats.fixed(0.27, 2) == "0.27"


def test_workbench_trains_a_world_and_claims_reads_the_worlds_beside_it(capsys, tmp_path, monkeypatch):
    """--world: the dialled world's own data file and run folder (world_folder); claims --worlds reads
    the worlds' cached workbenches beside it and says which runs are missing (a cache of its own: the
    session's holds every world once notebook 11 has run)."""
    from dmdlab.orchestration.workbench import world_folder

    monkeypatch.setenv("DMDLAB_HOME", str(tmp_path / "home"))

    argv = ["workbench", "--mode", "smoke", "--world", "style_none", "--variants", "dmd", "wo_fd", "--seeds", "2",
            "--jobs", "1", "--no-progress"]
    assert main(argv) == 0
    assert "synth_tiny_style_none_v2.pkl" in capsys.readouterr().out
    folder = world_folder("smoke", "style_none")
    assert (folder / "dmd" / "seed1112" / runs.METRICS).is_file()
    assert main(["claims", str(folder), "--worlds", "--json"]) == 0
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    claims = {c["claim"]: c for c in document["claims"]}
    assert claims["worlds/decoupling/style_none"]["seeds"] == 2
    assert claims["worlds/decoupling/trend"]["verdict"] == stats.NOT_MEASURABLE     # no style_strong runs
    assert claims["worlds/teacher/homo/dmd"]["control"] == "runs missing"
    assert main(["claims", str(folder / "dmd"), "--worlds"]) == 2
    assert "not a workbench folder in the cache" in capsys.readouterr().err
