"""load_mmsa: the layouts it reads, the DataSpec it derives, the non-finite policy, and one clear
error per malformed-file case."""

from __future__ import annotations

import copy
import hashlib
import pickle

import numpy as np
import pytest

from dmdlab.data import DataSpec, DatasetError, load_mmsa
from dmdlab.data.synth import make_dataset


@pytest.fixture(scope="module")
def tiny_dict():
    """The tiny aligned MMSA dict with text_bert added (ids/mask/segments), to mutate per test."""
    data = make_dataset("tiny", aligned=True, seed=3)
    for split in data.values():
        n, t = split["text"].shape[:2]
        split["text_bert"] = np.stack([np.full((n, t), 101), np.ones((n, t)), np.zeros((n, t))], axis=1)
    return data


@pytest.fixture(scope="module")
def tiny_unaligned_dict():
    return make_dataset("tiny", aligned=False, seed=3)


def _write(tmp_path, data, name="data.pkl"):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tiny_fixture_spec_and_sizes(tiny_dataset, tiny_unaligned_dataset):
    assert tiny_dataset.sizes == {"train": 192, "valid": 48, "test": 96}
    assert tiny_dataset.spec == DataSpec(text_dim=384, audio_dim=5, vision_dim=20, text_len=12, audio_len=12,
                                         vision_len=12, aligned=True, has_text_bert=True)
    assert tiny_unaligned_dataset.spec == DataSpec(text_dim=384, audio_dim=5, vision_dim=20, text_len=12,
                                                   audio_len=18, vision_len=24, aligned=False, has_text_bert=True)
    split = tiny_unaligned_dataset["train"]
    assert split.audio.dtype == np.float32 and split.labels.dtype == np.float32
    assert split.audio_lengths.dtype == np.int64 and split.ids.dtype.kind == "U"


def test_text_modes(tmp_path, tiny_dict):
    path = _write(tmp_path, tiny_dict)
    both = load_mmsa(path)
    assert both["train"].text is not None and both["train"].text_bert.dtype == np.int64
    assert both.spec.has_text_bert and both.spec.text_dim == 384
    features = load_mmsa(path, text="features")
    assert features["test"].text_bert is None and not features.spec.has_text_bert
    bert = load_mmsa(path, text="bert")
    assert bert["test"].text is None and bert.spec.text_dim is None and bert.spec.text_len == 12
    plain = make_dataset("tiny")
    for split in plain.values():
        del split["text_bert"]
    no_bert = _write(tmp_path, plain, "no_bert.pkl")
    with pytest.raises(DatasetError, match=r"split 'train', key 'text_bert': missing key"):
        load_mmsa(no_bert, text="bert")
    with pytest.raises(ValueError, match="text"):
        load_mmsa(path, text="glove")


def _small(n, t_l, t_a, t_v, d_l, d_a, d_v, label_scale=3.0, lengths=False, rng=np.random.default_rng(0)):
    split = {
        "text": rng.standard_normal((n, t_l, d_l)).astype(np.float32),
        "text_bert": np.stack([np.full((n, t_l), 101), np.ones((n, t_l)), np.zeros((n, t_l))], axis=1),
        "audio": rng.standard_normal((n, t_a, d_a)),          # float64 as in some MMSA files
        "vision": rng.standard_normal((n, t_v, d_v)).astype(np.float32),
        "regression_labels": rng.uniform(-label_scale, label_scale, n).astype(np.float32),
        "classification_labels": np.zeros(n),
        "raw_text": np.array(["a clip"] * n, dtype=object),
        "id": np.array([f"v{i}$_${i}" for i in range(n)], dtype=object),
    }
    if lengths:
        split["audio_lengths"] = [t_a] * n                     # MMSA stores lists here
        split["vision_lengths"] = np.full(n, t_v)
    return split


@pytest.mark.parametrize("layout, shapes, label_range, spec", [
    ("MOSI aligned", (50, 50, 50, 768, 5, 20), (-3, 3),
     DataSpec(768, 5, 20, 50, 50, 50, aligned=True, has_text_bert=True)),
    ("MOSI unaligned", (50, 375, 500, 768, 5, 20), (-3, 3),
     DataSpec(768, 5, 20, 50, 375, 500, aligned=False, has_text_bert=True)),
    ("MOSEI unaligned", (50, 500, 500, 768, 74, 35), (-3, 3),
     DataSpec(768, 74, 35, 50, 500, 500, aligned=False, has_text_bert=True)),
    ("CH-SIMS unaligned", (39, 400, 55, 768, 33, 709), (-1, 1),
     DataSpec(768, 33, 709, 39, 400, 55, aligned=False, has_text_bert=True, label_min=-1, label_max=1)),
])
def test_real_dataset_layouts(tmp_path, layout, shapes, label_range, spec):
    unaligned = "unaligned" in layout
    scale = label_range[1]
    data = {name: _small(n, *shapes, label_scale=scale, lengths=unaligned) for name, n in
            (("train", 3), ("valid", 2), ("test", 2))}
    if layout.startswith("CH-SIMS"):
        for split in data.values():
            split["regression_labels_T"] = split["regression_labels"].copy()
    dataset = load_mmsa(_write(tmp_path, data), label_range=label_range)
    assert dataset.spec == spec
    assert dataset["train"].audio.dtype == np.float32
    assert any("float64 to float32" in note for note in dataset.report.notes)


def test_dev_alias_and_placeholders(tmp_path, tiny_dict):
    data = copy.copy(tiny_dict)
    data["dev"] = {k: v for k, v in data.pop("valid").items() if k not in ("id", "raw_text")}
    dataset = load_mmsa(_write(tmp_path, data))
    assert list(dataset.splits) == ["train", "valid", "test"] and len(dataset["valid"]) == 48
    assert any("'dev' read as 'valid'" in note for note in dataset.report.notes)
    assert dataset["valid"].ids[0] == "valid_0" and dataset["valid"].raw_text[0] == ""
    assert any("no 'id' key" in note for note in dataset.report.notes)


def test_nonfinite_policy_counts_and_replaces_without_touching_the_file(tmp_path, tiny_dict):
    data = copy.deepcopy(tiny_dict)
    data["train"]["audio"][0, 0, 1] = -np.inf
    data["train"]["audio"][1, 2, 3] = -np.inf
    data["train"]["audio"][2, 3, 4] = np.inf
    data["valid"]["vision"][5, 1, :3] = np.nan
    data["test"]["text"][0, 0, 0] = np.nan
    path = _write(tmp_path, data)
    before = _sha(path)
    dataset = load_mmsa(path)
    assert _sha(path) == before                                   # loading never modifies the file
    counts = dataset.report.to_frame().set_index(["split", "key"])
    assert counts.loc[("train", "audio"), ["nan", "posinf", "neginf"]].tolist() == [0, 1, 2]
    assert counts.loc[("valid", "vision"), "nan"] == 3
    assert counts.loc[("test", "text"), "nan"] == 1
    assert dataset.report.total_nonfinite == 7
    assert dataset["train"].audio[0, 0, 1] == 0 and dataset["train"].audio[2, 3, 4] == 0
    assert np.all(dataset["valid"].vision[5, 1, :3] == 0)
    for split in dataset:
        assert all(np.isfinite(getattr(split, key)).all() for key in ("text", "audio", "vision"))
    assert "2 -inf" in str(dataset.report)
    assert np.isneginf(pickle.loads(path.read_bytes())["train"]["audio"][0, 0, 1])


def test_labels_of_shape_n_by_1_and_list_lengths(tmp_path, tiny_unaligned_dict):
    data = copy.deepcopy(tiny_unaligned_dict)
    data["train"]["regression_labels"] = data["train"]["regression_labels"][:, None]
    data["valid"]["audio_lengths"] = data["valid"]["audio_lengths"].tolist()
    dataset = load_mmsa(_write(tmp_path, data))
    assert dataset["train"].labels.shape == (192,)
    np.testing.assert_array_equal(dataset["valid"].audio_lengths, tiny_unaligned_dict["valid"]["audio_lengths"])


def test_expect_spec(tmp_path, tiny_dict, tiny_dataset):
    path = _write(tmp_path, tiny_dict)
    assert load_mmsa(path, expect=tiny_dataset.spec).spec.audio_dim == 5
    other = DataSpec(text_dim=384, audio_dim=74, vision_dim=20, text_len=12, audio_len=12, vision_len=12, aligned=True)
    with pytest.raises(DatasetError, match=r"key 'audio': expected audio_dim=74 \(the given spec\), found 5"):
        load_mmsa(path, expect=other)


# --------------------------------------------------------------------------- malformed files


def _set(split, key, value):
    def mutate(data):
        data[split][key] = value(data[split][key]) if callable(value) else value
    return mutate


def _drop_split(split):
    def mutate(data):
        del data[split]
    return mutate


def _drop_key(split, key):
    def mutate(data):
        del data[split][key]
    return mutate


def _empty(data):
    for key, value in list(data["test"].items()):
        data["test"][key] = value[:0]


MALFORMED = {
    # case: (mutation of a copy of the tiny dict (unaligned when the case says so) -- it edits the dict in
    # place, or returns what to write instead --, fragments the message must contain)
    "missing split": (_drop_split("test"), ["split 'test': missing split", "expected splits", "found"]),
    "split not a dict": (lambda d: d.update(valid=[1, 2]), ["split 'valid'", "expected a dict of arrays",
                                                            "found a list"]),
    "missing key": (_drop_key("valid", "audio"), ["split 'valid', key 'audio': the split lacks this key but split "
                                                     "'train' has it", "expected the same keys in every split"]),
    "missing labels": (_drop_key("train", "regression_labels"), ["key 'regression_labels': missing key"]),
    "wrong rank": (_set("train", "audio", lambda a: a[:, :, 0]),
                   ["split 'train', key 'audio': expected a 3-D float array (N, T, d), found shape (192, 12)"]),
    "wrong width": (_set("test", "vision", lambda a: a[..., :19]),
                    ["split 'test', key 'vision': expected (N, 12, 20) as in split 'train', found (96, 12, 19)"]),
    "wrong length": (_set("valid", "audio", lambda a: a[:, :10]),
                     ["split 'valid', key 'audio': expected (N, 12, 5) as in split 'train', found (48, 10, 5)"]),
    "text_bert width": (_set("train", "text_bert", lambda a: a[:, :2]),
                        ["key 'text_bert': expected shape (N, 3, T_L)", "found shape (192, 2, 12)"]),
    "text_bert length": (_set("train", "text_bert", lambda a: a[..., :11]),
                         ["key 'text_bert': expected T_L=12 tokens", "found 11"]),
    "text_bert fractional": (_set("train", "text_bert", lambda a: a + 0.5),
                             ["key 'text_bert': expected whole numbers", "found fractional"]),
    "string features": (_set("train", "vision", lambda a: a.astype(str)),
                        ["key 'vision': expected a 3-D float array", "found dtype <U"]),
    "labels wrong rank": (_set("train", "regression_labels", lambda a: np.stack([a, a], 1)),
                          ["key 'regression_labels': expected a 1-D float array (N,), found shape (192, 2)"]),
    "ids wrong rank": (_set("valid", "id", lambda a: np.stack([a, a], 1)),
                       ["split 'valid', key 'id': expected a 1-D array of strings (N,), found shape (48, 2)"]),
    "N differs": (_set("valid", "audio", lambda a: a[:-1]),
                  ["split 'valid', key 'audio': expected N=48 clips", "found 47"]),
    "N differs in ids": (_set("train", "id", lambda a: a[:-2]), ["key 'id': expected N=192 clips", "found 190"]),
    "NaN label": (_set("train", "regression_labels", lambda a: np.where(np.arange(len(a)) == 7, np.nan, a)),
                  ["key 'regression_labels': expected finite labels", "found 1 non-finite", "index 7"]),
    "inf label": (_set("test", "regression_labels", lambda a: np.where(np.arange(len(a)) == 0, np.inf, a)),
                  ["split 'test', key 'regression_labels': expected finite labels"]),
    "label out of range": (_set("valid", "regression_labels", lambda a: np.where(np.arange(len(a)) == 4, 3.4, a)),
                           ["key 'regression_labels': expected labels in [-3, 3]", "found 1 outside",
                            "index 4: 3.4"]),
    "empty split": (_empty, ["split 'test': empty split: expected at least 1 clip, found 0"]),
    "not a dict": (lambda d: [d], ["expected a dict with splits", "found a list"]),
    "unaligned length too long": (_set("train", "audio_lengths", lambda a: np.where(np.arange(len(a)) == 3, 19, a)),
                                  ["split 'train', key 'audio_lengths': expected lengths in [1, 18]",
                                   "index 3: 19"]),
    "unaligned length zero": (_set("test", "vision_lengths", lambda a: np.where(np.arange(len(a)) == 0, 0, a)),
                              ["key 'vision_lengths': expected lengths in [1, 24]", "index 0: 0"]),
    "unaligned length fractional": (_set("test", "vision_lengths", lambda a: a + 0.25),
                                    ["key 'vision_lengths': expected whole numbers"]),
    "unaligned lengths in one split only": (_drop_key("valid", "audio_lengths"),
                                            ["split 'valid', key 'audio_lengths'", "lacks this key",
                                             "split 'train' has it"]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_file_gets_a_clear_error(tmp_path, tiny_dict, tiny_unaligned_dict, case):
    mutate, fragments = MALFORMED[case]
    data = copy.deepcopy(tiny_unaligned_dict if "unaligned" in case else tiny_dict)
    replacement = mutate(data)
    path = _write(tmp_path, data if replacement is None else replacement)
    before = _sha(path)
    with pytest.raises(DatasetError) as info:
        load_mmsa(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert _sha(path) == before


def test_label_range_is_the_callers_scale(tmp_path, tiny_dict):
    path = _write(tmp_path, tiny_dict)
    with pytest.raises(DatasetError, match=r"expected labels in \[-1, 1\].*label_range"):
        load_mmsa(path, label_range=(-1, 1))
    dataset = load_mmsa(path, label_range=(-3.5, 3.5))
    assert (dataset.spec.label_min, dataset.spec.label_max) == (-3.5, 3.5)
    with pytest.raises(ValueError, match="label_range"):
        load_mmsa(path, label_range=(1, -1))


@pytest.mark.parametrize("content, fragment", [
    (b"id,text,label,mode\nabc_1,hello,1.0,train\n", "not a pickle file"),
    (b"", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "not a pickle file"),
])
def test_not_a_pickle(tmp_path, content, fragment):
    path = tmp_path / "notes.pkl"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=fragment) as info:
        load_mmsa(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_file(tmp_path, tiny_dict, keep):
    stream = pickle.dumps(tiny_dict, protocol=4)
    path = tmp_path / "partial.pkl"
    path.write_bytes(stream[: int(len(stream) * keep)])
    with pytest.raises(DatasetError, match="truncated or corrupt pickle") as info:
        load_mmsa(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such dataset file"):
        load_mmsa(tmp_path / "absent.pkl")
