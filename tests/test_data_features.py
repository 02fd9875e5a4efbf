"""Feature tables of your own (``data build --features MODALITY=TABLE --split TABLE``): utterance and
frame level, CSV and .npz, and every refusal of a malformed table in one line naming the file, the
column and the row. A slice of the real utterance-level CMU-MOSI tables when ``../shared`` is there."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from dmdlab.cli import main
from dmdlab.data import load_mmsa

N_CLIPS = 21
IDS = [f"vid{i % 7}_{i}" for i in range(N_CLIPS)]          # the label table's form: <video>_<clip>
MODES = ["train", "train", "train", "dev", "test", "test", "train"]


def _labels(folder):
    rng = np.random.default_rng(0)
    pd.DataFrame({"id": IDS, "text": ["fine words"] * N_CLIPS, "label": rng.uniform(-3, 3, N_CLIPS).round(2),
                  "mode": [MODES[i % 7] for i in range(N_CLIPS)]}).to_csv(folder / "label.csv", index=False)
    return folder / "label.csv"


def _table(folder, name, width, *, ids=IDS, seed=0, frames=None):
    """A CSV feature table: 'id', optional 'frame', then f0..f{width-1}; returns (path, values)."""
    values = np.random.default_rng(seed).normal(size=(len(ids), width)).round(4)
    frame = pd.DataFrame(values, columns=[f"f{j}" for j in range(width)])
    frame.insert(0, "id", ids)
    if frames is not None:
        frame.insert(1, "frame", frames)
    frame.to_csv(folder / name, index=False)
    return folder / name, values


@pytest.fixture
def folder(tmp_path):
    _labels(tmp_path)
    return tmp_path


def _build(folder, *features, extra=(), out="out.pkl"):
    return main(["data", "build", "--labels", str(folder / "label.csv"), "--features", *features,
                 "--out", str(folder / out), *extra])


def test_utterance_tables_build_a_t1_file_with_a_split_table(folder, capsys):
    text, text_values = _table(folder, "text.csv", 6, seed=1)
    audio, audio_values = _table(folder, "audio.csv", 3, ids=IDS[::-1], seed=2)   # any row order
    vision, _ = _table(folder, "vision.csv", 4, seed=3)
    split = pd.DataFrame({"id": IDS, "split": ["test"] * 7 + ["train"] * 10 + ["valid"] * 4})
    split.to_csv(folder / "split.csv", index=False)
    assert _build(folder, f"text={text}", f"audio={audio}", f"vision={vision}",
                  extra=["--split", str(folder / "split.csv")]) == 0
    assert "train 10, valid 4, test 7 clips; text features T_L=1" in capsys.readouterr().out
    data = load_mmsa(folder / "out.pkl")
    assert (data.spec.text_len, data.spec.audio_len, data.spec.vision_len) == (1, 1, 1) and data.spec.aligned
    assert (data.spec.text_dim, data.spec.audio_dim, data.spec.vision_dim) == (6, 3, 4)
    test = data["test"]
    assert test.ids.tolist() == [i.replace("_", "$_$") for i in IDS[:7]]        # the split table decides
    np.testing.assert_allclose(test.text[:, 0], text_values[:7], rtol=1e-6)
    np.testing.assert_allclose(test.audio[:, 0], audio_values[::-1][:7], rtol=1e-6)
    assert test.audio_lengths is None and test.text_bert is None


def test_frame_level_tables_are_ordered_zero_padded_with_lengths(folder):
    rng = np.random.default_rng(4)
    counts = rng.integers(1, 5, N_CLIPS)
    rows = [(clip, frame) for clip, n in zip(IDS, counts) for frame in range(n)]
    order = rng.permutation(len(rows))                                     # rows in any order
    ids = [rows[i][0] for i in order]
    times = [0.1 * rows[i][1] for i in order]
    audio, values = _table(folder, "audio.csv", 2, ids=ids, frames=times)
    np.savez(folder / "vision.npz", id=np.array(ids), frame=np.array(times), features=values * 2)
    text, _ = _table(folder, "text.csv", 5)
    assert _build(folder, f"text={text}", f"audio={audio}", f"vision={folder / 'vision.npz'}") == 0
    data = load_mmsa(folder / "out.pkl")
    assert data.spec.audio_len == counts.max() and not data.spec.aligned
    train = data["train"]
    for i, clip in enumerate(train.ids.tolist()):
        position = [i for i, n in enumerate(IDS) if n.replace("_", "$_$") == clip][0]
        expected = values[[k for k, j in enumerate(order) if rows[j][0] == IDS[position]]]
        frame_of = [rows[j][1] for j in order if rows[j][0] == IDS[position]]
        expected = expected[np.argsort(frame_of)]
        n = counts[position]
        assert train.audio_lengths[i] == n and train.vision_lengths[i] == n
        np.testing.assert_allclose(train.audio[i, :n], expected, rtol=1e-6)
        np.testing.assert_allclose(train.vision[i, :n], 2 * expected, rtol=1e-6)
        assert not train.audio[i, n:].any()                                 # zero-padded


def test_no_text_source_and_a_modality_given_twice_are_refused(folder, capsys):
    audio, _ = _table(folder, "audio.csv", 2)
    assert _build(folder, f"audio={audio}") == 2
    assert "no text: give --tokenizer" in capsys.readouterr().err
    assert _build(folder, f"text={audio}", f"speech={audio}") == 2
    assert "the modality must be one of text, audio, vision" in capsys.readouterr().err
    assert _build(folder, f"text={audio}", f"text={audio}") == 2
    assert "text given twice" in capsys.readouterr().err


def _write(folder, text: str, name="bad.csv"):
    (folder / name).write_text(text)
    return folder / name


GOOD_ROWS = "".join(f"{clip},0.5,1.5\n" for clip in IDS[2:])


@pytest.mark.parametrize("content, pattern", [
    ("clip,f0,f1\n" + GOOD_ROWS, r"bad\.csv: column 'id': missing"),
    ("id,f0,f1\n" + GOOD_ROWS, r"bad\.csv: column 'id': no row for clip 'vid0_0' \(row 2 of .*label\.csv; 2 clips missing\)"),
    ("id,f0,f1\nvid0_0,1,2\nvid1_1,1,2\nvid0_0,3,4\n" + GOOD_ROWS,
     r"bad\.csv: row 4, column 'id': clip 'vid0_0' appears again \(first at row 2\)"),
    ("id,f0,f1\nvid0_0,1,2\nvid1_1,1,2\nstranger_9,3,4\n" + GOOD_ROWS,
     r"bad\.csv: row 4, column 'id': clip 'stranger_9' is not in the label table .*label\.csv \(1 such rows\)"),
    ("id,f0,f1\nvid0_0,1,2\nvid1_1,1,x\n" + GOOD_ROWS, r"bad\.csv: row 3, column 'f1': expected a finite number, found 'x'"),
    ("id,f0,f1\nvid0_0,1,2\nvid1_1,1\n" + GOOD_ROWS,
     r"bad\.csv: row 3, column 'f1': expected a finite number, found an empty cell \(or a row shorter"),
    ("id,f0,f1\nvid0_0,1,2\nvid1_1,1,2,3\n" + GOOD_ROWS, r"bad\.csv: row 3: expected 3 values .*found 4"),
    ("id,f0,f1\nvid0_0,inf,2\nvid1_1,1,2\n" + GOOD_ROWS,
     r"bad\.csv: row 2, column 'f0': expected a finite number, found the non-finite value 'inf'"),
    ("id,f0,f1\nvid0_0,1,2\nvid1_1,nan,2\n" + GOOD_ROWS, r"bad\.csv: row 3, column 'f0': .*non-finite value 'nan'"),
    ("id,frame,f0\nvid0_0,0,1\nvid0_0,0,2\n" + "".join(f"{c},0,1\n" for c in IDS[1:]),
     r"bad\.csv: row 3, column 'frame': clip 'vid0_0' has frame 0 twice \(first at row 2\)"),
    ("id\n" + "".join(f"{c}\n" for c in IDS), r"bad\.csv: no feature columns"),
    ("id,f0\n,1\n" + "".join(f"{c},1\n" for c in IDS), r"bad\.csv: row 2, column 'id': expected a clip id, found an empty"),
])
def test_malformed_feature_tables_are_refused_in_one_line(folder, capsys, content, pattern):
    out = folder / "out.pkl"
    out.write_bytes(b"kept")
    bad = _write(folder, content)
    assert _build(folder, f"text={bad}") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and re.search(pattern, error), error
    assert out.read_bytes() == b"kept"                                   # nothing on disk is touched


@pytest.mark.parametrize("arrays, pattern", [
    (dict(id=np.array(IDS), features=np.array([{"a": 1}] * N_CLIPS, dtype=object)), r"without pickles"),
    (dict(id=np.array(IDS), features=np.where(np.arange(2 * N_CLIPS).reshape(N_CLIPS, 2) == 7, np.nan, 1.0)),
     r"bad\.npz: row 3, column 'features' \(feature 1\): expected a finite number, found nan"),
    (dict(id=np.array(IDS), values=np.ones((N_CLIPS, 2))), r"bad\.npz: column 'features': missing"),
    (dict(id=np.array(IDS), features=np.ones((N_CLIPS - 1, 2))), r"bad\.npz: column 'features': expected shape"),
    (dict(id=np.array(IDS + IDS[:1]), features=np.ones((N_CLIPS + 1, 2))),
     r"bad\.npz: row 21, column 'id': clip 'vid0_0' appears again \(first at row 0\)"),
])
def test_malformed_npz_tables_are_refused_in_one_line(folder, capsys, arrays, pattern):
    np.savez(folder / "bad.npz", **arrays)
    assert _build(folder, f"text={folder / 'bad.npz'}") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and re.search(pattern, error), error


def test_split_table_refusals_and_only_labelled(folder, capsys):
    text, _ = _table(folder, "text.csv", 3, ids=IDS + ["extra_1"])
    assert _build(folder, f"text={text}") == 2
    assert "clip 'extra_1' is not in the label table" in capsys.readouterr().err
    assert _build(folder, f"text={text}", extra=["--only-labelled"]) == 0      # the extra row is dropped
    assert sum(load_mmsa(folder / "out.pkl").sizes.values()) == N_CLIPS
    split = _write(folder, "id,split\n" + "".join(f"{c},{'holdout' if i == 5 else 'train'}\n"
                                                 for i, c in enumerate(IDS)), "split.csv")
    assert _build(folder, f"text={folder / 'text.csv'}", extra=["--only-labelled", "--split", str(split)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and re.search(r"split\.csv: row 7, column 'split': expected one of .*found "
                                                 r"'holdout'", error), error
    split = _write(folder, "id,split\n" + "".join(f"{c},train\n" for c in IDS[1:]), "split.csv")
    assert _build(folder, f"text={folder / 'text.csv'}", extra=["--only-labelled", "--split", str(split)]) == 2
    assert "split.csv: column 'id': no row for clip 'vid0_0'" in capsys.readouterr().err


@pytest.mark.shared
def test_real_utterance_tables_slice(shared_real_dir, tmp_path):
    """A slice of the real CMU-MOSI label table with the utterance-level tables of Ghosal et al. (EMNLP 2018)
    and their split: every labelled clip found, their widths, their split's clip counts."""
    tables = shared_real_dir / "mosi_utterance"
    if not tables.is_dir():
        pytest.skip(f"utterance-level tables not found at {tables}")
    labels = pd.read_csv(shared_real_dir / "mosi_label.csv")
    split = pd.read_csv(tables / "split.csv").set_index("id")
    sample = labels.groupby(split.loc[labels["id"], "split"].to_numpy()).head(40)
    sample.to_csv(tmp_path / "label.csv", index=False)
    assert main(["data", "build", "--labels", str(tmp_path / "label.csv"), "--features",
                 f"text={tables / 'text_cnn.csv'}", f"audio={tables / 'audio.csv'}", f"vision={tables / 'vision.csv'}",
                 "--split", str(tables / "split.csv"), "--only-labelled", "--out", str(tmp_path / "slice.pkl")]) == 0
    data = load_mmsa(tmp_path / "slice.pkl")
    assert data.sizes == {"train": 40, "valid": 40, "test": 40}
    assert (data.spec.text_dim, data.spec.audio_dim, data.spec.vision_dim) == (100, 73, 100)
    assert (data.spec.text_len, data.spec.audio_len, data.spec.vision_len) == (1, 1, 1)
    audio = pd.read_csv(tables / "audio.csv").set_index("id")
    first = data["test"].ids[0].replace("$_$", "_")
    np.testing.assert_allclose(data["test"].audio[0, 0], audio.loc[first].to_numpy(), rtol=1e-6)
