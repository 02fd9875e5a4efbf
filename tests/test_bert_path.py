"""BERT end to end: ``data build`` from a label.csv, ``train --text-encoder`` (tiny random BERT),
the encoder recorded and restored, right-sized padding, the one-line errors, and a slice of the
real CMU-MOSI transcripts (skipped where ``../shared`` is absent)."""

from __future__ import annotations

import json
import pickle
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from dmdlab import runs
from dmdlab.cli import main
from dmdlab.data import load_mmsa

FAST = ["--batch-size", "16", "--grad-accumulation", "1", "--threads", "1", "--no-progress", "--epochs", "1"]
WORDS = "good bad not really great movie boring the plot was i loved it hated".split()


def _label_csv(path, ids, seed: int = 0):
    """An MMSA label.csv (id, text, label, mode) for ``ids`` 'video$_$clip', 4:1:2 train/dev/test."""
    rng = np.random.default_rng(seed)
    modes = np.array(["train", "train", "train", "train", "dev", "test", "test"])[np.arange(len(ids)) % 7]
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in ids]
    pd.DataFrame({"id": [i.replace("$_$", "_") for i in ids], "text": texts,
                  "label": rng.uniform(-3, 3, len(ids)).round(2), "mode": modes}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def text_only(tiny_bert, tmp_path_factory):
    """A text-only file built from a 70-clip label.csv with the tiny BERT's tokenizer."""
    folder = tmp_path_factory.mktemp("text_only")
    labels = _label_csv(folder / "label.csv", [f"vid{i % 9}$_${i}" for i in range(70)])
    out = folder / "text.pkl"
    assert main(["data", "build", "--labels", str(labels), "--tokenizer", str(tiny_bert), "--out", str(out)]) == 0
    return out


def test_build_writes_an_mmsa_text_only_file(text_only, capsys):
    data = load_mmsa(text_only)
    assert data.sizes == {"train": 40, "valid": 10, "test": 20}
    split = data["train"]
    assert split.vision is None and split.audio is None and split.text is None
    assert split.text_bert.shape == (40, 3, data.spec.text_len)
    longest = max(int(s.text_bert[:, 1].sum(1).max()) for s in data)
    assert data.spec.text_len == longest                       # padded to the longest transcript, no further
    assert split.ids[0] == "vid0$_$0" and split.raw_text[0].split()[0] in WORDS
    assert data.spec.modalities == ("l",) and data.spec.text_max_id < 30522


def test_text_only_file_in_the_data_commands(text_only, capsys):
    assert main(["data", "inspect", str(text_only)]) == 0
    assert "vision_dim = None" in capsys.readouterr().out
    assert main(["data", "baseline", str(text_only)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no feature arrays to pool" in error and "unimodal_l" in error


def test_build_takes_vision_and_audio_by_clip_id(tiny_bert, tiny_unaligned_dataset_path, tmp_path, capsys):
    source = load_mmsa(tiny_unaligned_dataset_path)
    ids = np.concatenate([s.ids for s in source])[::-1][:60]           # another order, another split
    labels = _label_csv(tmp_path / "label.csv", ids.tolist())
    out = tmp_path / "with_features.pkl"
    assert main(["data", "build", "--labels", str(labels), "--tokenizer", str(tiny_bert), "--out", str(out),
                 "--features", str(tiny_unaligned_dataset_path)]) == 0
    assert "vision and audio from the features file" in capsys.readouterr().out
    built = load_mmsa(out, text="bert")
    where = {clip: (s.name, i) for s in source for i, clip in enumerate(s.ids.tolist())}
    for split in built:
        for i, clip in enumerate(split.ids.tolist()):
            name, j = where[clip]
            np.testing.assert_array_equal(split.vision[i], source[name].vision[j])
            np.testing.assert_array_equal(split.audio_lengths[i], source[name].audio_lengths[j])
    assert built.spec.text_len == source.spec.text_len and not built.spec.aligned


def test_build_errors_are_one_line_and_touch_nothing(tiny_bert, tiny_dataset_path, tmp_path, capsys):
    labels = _label_csv(tmp_path / "label.csv", [f"nowhere$_${i}" for i in range(1, 15)])
    out = tmp_path / "out.pkl"
    out.write_bytes(b"kept")
    assert main(["data", "build", "--labels", str(labels), "--tokenizer", str(tiny_bert), "--out", str(out),
                 "--features", str(tiny_dataset_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and re.search(r"label.csv: 14 clip id\(s\) .* not in the features file .*"
                                                 r"'nowhere\$_\$1'", error), error
    assert out.read_bytes() == b"kept"
    assert main(["data", "build", "--labels", str(labels), "--tokenizer", str(tiny_bert), "--out", str(labels)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is one of the input files" in error


def test_train_with_a_tiny_bert_records_and_restores_the_encoder(text_only, tiny_bert, tmp_path, capsys, tiny_cli):
    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_bert, encoder)
    out = tmp_path / "run"
    assert main(["train", "--data", str(text_only), "--variant", "unimodal_l", "--text-encoder", str(encoder),
                 "--set", "arch.padding_masks=true", "--out", str(out), "--lr", "1e-3", *tiny_cli, *FAST]) == 0
    run = runs.load(out)
    recorded = run.config["text_encoder"]
    assert recorded["path"] == str(encoder) and recorded["finetune"] and recorded["config"]["hidden_size"] == 16
    from dmdlab.model.text import BertTextEncoder

    assert recorded["weights_sha256"] == BertTextEncoder(str(tiny_bert)).weights_sha256()   # the weights it started from
    state = torch.load(out / runs.BEST, weights_only=True)["state_dict"]
    start = BertTextEncoder(str(tiny_bert)).model.state_dict()
    assert not torch.equal(state["text_encoder.model.embeddings.word_embeddings.weight"],
                           start["embeddings.word_embeddings.weight"])                        # fine-tuned
    shutil.rmtree(encoder)   # the checkpoint alone restores the fine-tuned encoder
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["test"] == pytest.approx(run.test_metrics, nan_ok=True)
    from dmdlab.claims import runs_dataset

    data = runs_dataset([run])             # claims reads what the run's model reads: token ids, not features
    assert data.splits["test"].text_bert is not None
    assert main(["claims", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["claims"]


def test_freeze_text_and_text_lr(text_only, tiny_bert, tiny_config):
    from dmdlab.model import get_variant
    from dmdlab.training.config import TrainConfig
    from dmdlab.training.trainer import Trainer

    base = tiny_config.replace(arch={"text_encoder": str(tiny_bert)})
    trainer = Trainer(text_only, get_variant("unimodal_l", base), TrainConfig(text_lr=3e-5, lr=1e-3, grad_accumulation=1, progress=False))
    lrs = [group["lr"] for group in trainer.optimizer.param_groups]
    bert = {id(p) for p in trainer.model.text_encoder.parameters()}
    assert lrs == [1e-3, 3e-5] and {id(p) for p in trainer.optimizer.param_groups[1]["params"]} == bert

    frozen = get_variant("unimodal_l", base.replace(arch={"finetune_text": False}))
    trainer = Trainer(text_only, frozen, TrainConfig(lr=1e-2, grad_accumulation=1, progress=False))
    before = {k: v.clone() for k, v in trainer.model.text_encoder.state_dict().items()}
    trainer.train_epoch()
    after = trainer.model.text_encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert len(trainer.optimizer.param_groups) == 1 and not bert & {id(p) for p in trainer.parameters}


def test_trimmed_padding_is_exact_with_padding_masks(text_only, tiny_bert, tiny_config):
    """The encoder runs on each batch's longest clip only; with padding masks the prediction is unchanged."""
    from dmdlab.model import build_model, get_variant

    data = load_mmsa(text_only)
    config = get_variant("unimodal_l", tiny_config.replace(arch={"text_encoder": str(tiny_bert), "padding_masks": True}))
    torch.manual_seed(0)
    model = build_model(config, data.spec).eval()
    shortest = np.argsort(data["test"].text_bert[:, 1].sum(1), kind="stable")[:8]
    batch = data["test"].batch(shortest, text="bert")
    longest = int(batch.text[:, 1].sum(-1).max())
    assert longest < batch.text.shape[-1]                           # some padding to save
    with torch.no_grad():
        trimmed = model(batch.text, None, None).prediction
        states = model.text_encoder(batch.text, trim=True)
        full = model.text_encoder(batch.text)
    assert states.shape == full.shape and (states[:, longest:] == 0).all()
    valid = batch.text[:, 1].bool()
    torch.testing.assert_close(states[valid], full[valid], atol=1e-5, rtol=1e-5)
    model.text_encoder.forward = lambda text_bert, trim=False: full      # the untrimmed states
    with torch.no_grad():
        torch.testing.assert_close(model(batch.text, None, None).prediction, trimmed, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case, message", [
    ("multimodal on text-only", r"text\.pkl: The data has no vision and audio \(a text-only file\), but variant 'dmd' reads L, V, A: "
                                r"train the text-only variant unimodal_l"),
    ("no text_bert", r"split 'train', key 'text_bert': missing key.*a BERT text encoder reads these token ids: "
                     r"python -m dmdlab data build"),
    ("not a BERT", "not a local BERT-family model"),
    ("small vocabulary", r"text\.pkl: the data's text_bert holds token id \d+, but the text encoder .* has a "
                         r"vocabulary of 50 \(ids 0-49\)"),
])
def test_errors_are_one_clear_line(case, message, text_only, tiny_bert, tiny_dataset_path, tmp_path, capsys, tiny_cli):
    import transformers

    data, encoder, variant = text_only, tiny_bert, "unimodal_l"
    if case == "multimodal on text-only":
        variant = "dmd"
    elif case == "no text_bert":                      # the built-in data have text_bert: a file without it
        with open(tiny_dataset_path, "rb") as stream:
            raw = pickle.load(stream)
        for split in raw.values():
            del split["text_bert"]
        data = tmp_path / "no_text_bert.pkl"
        data.write_bytes(pickle.dumps(raw))
    elif case == "not a BERT":
        encoder = tmp_path / "not_bert"
        encoder.mkdir()
        (encoder / "notes.txt").write_text("no model here")
    else:
        encoder = tmp_path / "small_vocab"
        transformers.BertModel(transformers.BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                                                       num_attention_heads=2, intermediate_size=8)).save_pretrained(encoder)
    capsys.readouterr()
    code = main(["train", "--data", str(data), "--variant", variant, "--text-encoder", str(encoder),
                 "--out", str(tmp_path / "run"), *tiny_cli, *FAST])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1, error
    assert re.search(message, error), error


def test_every_model_command_takes_the_text_encoder_options():
    from dmdlab.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in ("train", "reproduce", "bench", "demo"):
        options = {option for action in commands[name]._actions for option in action.option_strings}
        assert {"--text-encoder", "--freeze-text", "--text-lr"} <= options, name


def test_bench_with_a_text_encoder(text_only, tiny_bert, tiny_overrides):
    from dmdlab.orchestration.bench import bench

    record = bench(text_only, variant="unimodal_l", overrides=(*tiny_overrides,
                   f"arch.text_encoder={tiny_bert}", "arch.padding_masks=true"), threads=1, warmup_batches=1, batch_size=4,
                   device="cpu", isolate=False)
    assert record["train_samples"] == 40 and record["train_samples_per_s"] > 0 and record["eval_samples_per_s"] > 0
    assert record["text_encoder"] == str(tiny_bert) and record["train_peak_rss_mb"] > 0


@pytest.mark.shared
def test_real_mosi_slice_trains(shared_real_dir, tiny_bert, tmp_path, tiny_cli):
    """CI's slice of the real-data result: 300 real CMU-MOSI clips (label.csv order, all three folds),
    the tiny BERT with the real WordPiece vocabulary, one epoch of the text-only variant."""
    table = pd.read_csv(shared_real_dir / "mosi_label.csv")
    sample = pd.concat([table[table["mode"] == mode].head(n) for mode, n in (("train", 200), ("dev", 40),
                                                                             ("test", 60))])
    sample.to_csv(tmp_path / "label.csv", index=False)
    out = tmp_path / "mosi_slice.pkl"
    assert main(["data", "build", "--labels", str(tmp_path / "label.csv"), "--tokenizer", str(tiny_bert),
                 "--out", str(out)]) == 0
    assert main(["train", "--data", str(out), "--variant", "unimodal_l", "--text-encoder", str(tiny_bert),
                 "--set", "arch.padding_masks=true", "--out", str(tmp_path / "run"), *tiny_cli, *FAST]) == 0
    run = runs.load(tmp_path / "run")
    assert run.config["dataset"]["sizes"] == {"train": 200, "valid": 40, "test": 60}
    assert np.isfinite(run.test_metrics["MAE"]) and run.predictions["id"].str.contains(r"\$_\$").all()
    with open(out, "rb") as stream:
        raw = pickle.load(stream)
    assert raw["test"]["raw_text"][0] == sample[sample["mode"] == "test"]["text"].iloc[0]


def test_a_resumed_run_records_its_new_epoch_limit(tiny_dataset, tmp_path, tiny_config):
    """Resuming with another max_epochs (a resumable change) rewrites config.json, so tables say what ran."""
    from dmdlab.training.config import TrainConfig
    from dmdlab.training.trainer import resume, train

    train(tiny_dataset, tiny_config, TrainConfig(max_epochs=1, batch_size=32, grad_accumulation=1, progress=False), tmp_path / "run")
    assert runs.load(tmp_path / "run").config["train"]["max_epochs"] == 1
    run = resume(tmp_path / "run", dataset=tiny_dataset, max_epochs=2)
    assert run.metrics["epochs"] == 2 and runs.load(tmp_path / "run").config["train"]["max_epochs"] == 2


def test_claims_on_a_workbench_trained_with_a_text_encoder(tiny_bert, tmp_path, capsys):
    """The defect of issue 22: `claims DIR` on a workbench trained with --text-encoder loaded the
    data with the default features and failed on a file that has text_bert. The text input now
    follows the runs' model config, so the claims that run the models (decoupling spaces,
    attention) are measured on the token ids."""
    from dmdlab import stats

    data = tmp_path / "tiny_bert.pkl"
    assert main(["data", "synth", "--scale", "tiny", "--tokenizer", str(tiny_bert), "--out", str(data)]) == 0
    bench = tmp_path / "bench"
    assert main(["workbench", "--mode", "smoke", "--data", str(data), "--text-encoder", str(tiny_bert), "--jobs", "1",
                 "--variants", "dmd", "wo_fd", "--out", str(bench), "--no-progress"]) == 0
    assert runs.read_run(bench / "dmd" / "seed1111").config["dataset"]["text"] == "bert"
    capsys.readouterr()
    assert main(["claims", str(bench), "--json"]) == 0
    verdicts = {c["claim"]: c["verdict"] for c in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["claims"]}
    measured = [key for key in verdicts if key.split("/")[0] in ("homo", "hetero", "attention")]
    assert measured and all(verdicts[key] != stats.NOT_MEASURABLE for key in measured), verdicts
