"""Seeds x variants -> tables in the paper's layout, beside the published numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from dmdlab import paper, runs
from dmdlab.orchestration.experiments import (TABLES, EpochBar, reproduce, results_table, run_experiment, seed_list, summarize)


def _fake_run(variant: str, seed: int, acc2: float, mae: float, aligned: bool = True) -> runs.Run:
    metrics = {name: 0.5 for name in ("Has0_acc_2", "Has0_F1_score", "Non0_F1_score", "Mult_acc_5", "Mult_acc_7", "Corr")}
    metrics.update(Non0_acc_2=acc2, MAE=mae)
    config = {"name": f"{variant}-seed{seed}", "variant": variant, "seed": seed, "train": {"seed": seed, "max_epochs": 3},
              "spec": {"aligned": aligned}, "dataset": {"name": "synth_mosi.pkl"}}
    return runs.Run(config=config, history=pd.DataFrame(), metrics={"test": metrics, "best_epoch": 2, "epochs": 3})


def test_summary_is_mean_and_sample_std_per_variant_in_first_seen_order():
    run_set = [_fake_run("wo_fd", 1, 0.70, 1.0), _fake_run("dmd", 1, 0.80, 0.9), _fake_run("wo_fd", 2, 0.74, 1.2)]
    summary = summarize(run_set)
    assert list(summary.index) == ["wo_fd", "dmd"]
    assert summary.loc["wo_fd", ("Non0_acc_2", "mean")] == pytest.approx(0.72)
    assert summary.loc["wo_fd", ("Non0_acc_2", "std")] == pytest.approx(0.0282842712)  # ddof=1
    assert summary.loc["wo_fd", ("seeds", "n")] == 2 and pd.isna(summary.loc["dmd", ("MAE", "std")])


def test_table_prints_this_run_beside_the_paper_naming_the_data():
    table = results_table([_fake_run("dmd", 1, 0.80, 0.9), _fake_run("dmd", 2, 0.82, 0.8), _fake_run("wo_ca", 1, 0.7, 1.0)])
    assert list(table.index) == [("DMD", "this run"), ("DMD", "paper"), ("w/o CA", "this run")]
    ours, published = table.loc[("DMD", "this run")], table.loc[("DMD", "paper")]
    assert ours["Acc-2"] == "81.0 ± 1.4" and ours["MAE"] == "0.850 ± 0.071"
    assert "synth_mosi.pkl (aligned)" in ours["data"] and "2 seeds" in ours["data"]
    assert published["Acc-7"] == "45.6" and published["Acc-2"] == "86.0" and published["MAE"] == "–"
    assert published["data"] == "CMU-MOSI (aligned, BERT text)"
    unaligned = results_table([_fake_run("dmd", 1, 0.8, 0.9, aligned=False)])
    assert unaligned.loc[("DMD", "paper"), "Acc-7"] == "41.9" and "GloVe" in unaligned.loc[("DMD", "paper"), "data"]


def test_paper_module_holds_the_published_rows():
    dmd = paper.lookup("DMD", paper.MOSI, "aligned")
    assert (dmd.acc7, dmd.acc2, dmd.f1, dmd.text_features) == (45.6, 86.0, 86.0, "BERT")
    assert paper.lookup("MulT", paper.MOSI, "unaligned").acc2 == 81.1
    mosei = paper.results(dataset=paper.MOSEI)
    assert mosei.loc[0, "acc2"] == 84.7 and mosei.loc[0, "f1_std"] == 0.150
    assert paper.edges_frame().loc["L→V", "homo"] == 0.330
    assert len(paper.results(setting="aligned", dataset=paper.MOSI)) == 12


def test_seed_list_and_tables():
    assert seed_list(3) == [1111, 1112, 1113] and seed_list([7, 8]) == [7, 8]
    assert TABLES["demo"] == ("dmd", "wo_fd", "wo_homogd", "wo_heterogd", "wo_ca", "unimodal_l", "unimodal_v", "unimodal_a")
    with pytest.raises(ValueError, match="unknown table 'nope'"):
        reproduce("nope", None)


def test_run_experiment_trains_each_variant_and_seed_then_reuses_them(tiny_dataset, tmp_path, tiny_config, tiny_train):
    config = tiny_train.replace(max_epochs=1)
    first = run_experiment(tiny_dataset, ("dmd", "unimodal_l"), seeds=2, base_config=tiny_config, train_config=config,
                           out_dir=tmp_path, progress=False)
    assert [(run.variant, run.seed) for run in first] == [("dmd", 1111), ("dmd", 1112), ("unimodal_l", 1111),
                                                          ("unimodal_l", 1112)]
    assert (tmp_path / "unimodal_l" / "seed1112" / runs.METRICS).is_file()
    stamp = (tmp_path / "dmd" / "seed1111" / runs.METRICS).stat().st_mtime_ns
    again = run_experiment(tiny_dataset, ("dmd",), seeds=1, base_config=tiny_config, train_config=config,
                           out_dir=tmp_path, progress=False)
    assert (tmp_path / "dmd" / "seed1111" / runs.METRICS).stat().st_mtime_ns == stamp  # read back, not retrained
    assert again[0].test_metrics == first[0].test_metrics
    table = results_table(first)
    assert list(table.index.get_level_values(0)) == ["DMD", "DMD", "unimodal L"]


def test_a_finished_run_with_other_settings_is_not_reused(tiny_dataset, tmp_path, tiny_config, tiny_train):
    config = tiny_train.replace(max_epochs=1)
    run_experiment(tiny_dataset, ("unimodal_v",), seeds=1, base_config=tiny_config, train_config=config,
                   out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"other settings \(lr\)"):
        run_experiment(tiny_dataset, ("unimodal_v",), seeds=1, base_config=tiny_config,
                       train_config=config.replace(lr=1e-3), out_dir=tmp_path, progress=False)


def test_mosei_tables_print_the_mosei_row():
    table = results_table([_fake_run("dmd", 1, 0.8, 0.9)], paper_dataset=paper.MOSEI)
    published = table.loc[("DMD", "paper")]
    assert published["Acc-2"] == "84.7" and published["Acc-7"] == "–" and published["data"].startswith("CMU-MOSEI")


def test_epoch_bar_counts_each_runs_epochs_once_and_the_rest_when_a_run_ends():
    bar = EpochBar({0: 3, 4: 3}, progress=False, expected_seconds=120)
    bar.report((0, 1))
    bar.report((0, 2))
    bar.report((0, 2))       # a retried task reports an epoch again: counted once
    bar.report(None)         # a tick: nothing counted
    assert sum(bar.done.values()) == 2
    bar.run_done(4)          # stopped early after no reported epoch: its 3 epochs are done
    bar.run_done(0)
    assert sum(bar.done.values()) == bar.bar.total == 6 and bar.finished == 2
    bar.close()


def test_runs_report_their_epochs_as_they_finish(tiny_dataset, tmp_path, tiny_config, tiny_train, monkeypatch):
    reported, report = [], EpochBar.report
    monkeypatch.setattr(EpochBar, "report", lambda self, item: reported.append(item) or report(self, item))
    run_experiment(tiny_dataset, ("dmd",), seeds=2, base_config=tiny_config, train_config=tiny_train.replace(max_epochs=2),
                   out_dir=tmp_path, progress=True)
    assert reported == [(0, 1), (0, 2), (1, 1), (1, 2)]   # in this process: each epoch as it ends, run after run


@pytest.mark.slow
def test_ray_tasks_report_through_a_queue_while_the_driver_waits():
    from dmdlab.orchestration.cluster import Cluster, engine

    def report_twice(channel):   # defined here: Ray sends it by value (the workers cannot import this module)
        import time

        channel.put(("job", 1))
        channel.put(("job", 2))
        time.sleep(2.5)          # the driver polls the queue about once a second while it waits
        return "done"

    seen = []
    with engine(Cluster(num_cpus=1)) as workers:
        channel = workers.channel(seen.append)
        workers.submit("job", report_twice, channel)
        assert workers.next_done() == ("job", "done")
    assert [item for item in seen if item is not None] == [("job", 1), ("job", 2)]


def test_beside_published_prints_both_acc2_conventions_and_the_published_figure():
    from dmdlab.orchestration.experiments import beside_published

    first, second = _fake_run("dmd", 1, 0.80, 0.9), _fake_run("dmd", 2, 0.70, 1.1)
    second.metrics["test"]["Has0_acc_2"] = 0.7
    interrupted = _fake_run("dmd", 3, 0.1, 9.0)
    interrupted.metrics = {}                                                  # no test yet: left out
    table = beside_published([first, second, interrupted, _fake_run("unimodal_l", 1, 0.6, 1.2)], paper.UTTERANCE_MOSI)
    assert list(table.index) == ["DMD", "unimodal L", "MMMU-BA (contextual inter-modal attention), published"]
    assert table.loc["DMD", "Acc-2 has-0"] == "60.0 ± 14.1" and table.loc["DMD", "Acc-2 non-0"] == "75.0 ± 7.1"
    assert table.loc["DMD", "seeds"] == 2 and table.loc["unimodal L", "Acc-2 has-0"] == "50.0"
    published = table.iloc[-1]
    assert published["Acc-2 has-0"] == "82.31" and published["Acc-2 non-0"] == "–"   # its own convention only
    assert paper.UTTERANCE_MOSI.metric == "Has0_acc_2" and "EMNLP 2018" in paper.UTTERANCE_MOSI.source
    with pytest.raises(ValueError, match="no finished runs"):
        beside_published([interrupted], paper.UTTERANCE_MOSI)


def test_reproduce_runs_only_the_rows_asked_for(tiny_dataset, tmp_path, tiny_config, tiny_train):
    assert TABLES["real"] == ("dmd", "wo_fd", "wo_homogd", "wo_heterogd", "mult", "unimodal_l", "unimodal_v",
                              "unimodal_a")
    with pytest.raises(ValueError, match="--variants wo_ca: not a row of table 'real'"):
        reproduce("real", tiny_dataset, variants=("dmd", "wo_ca"))
    result = reproduce("real", tiny_dataset, seeds=2, epochs=1, base_config=tiny_config, train_config=tiny_train,
                       out_dir=tmp_path, progress=False, variants=("unimodal_l", "dmd"))
    assert [(run.variant, run.seed) for run in result.runs] == [("dmd", 1111), ("dmd", 1112), ("unimodal_l", 1111),
                                                                ("unimodal_l", 1112)]
    assert list(result.significance.index) == ["unimodal L"]
