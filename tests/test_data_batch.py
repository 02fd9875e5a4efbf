"""Split.batch / Split.batches: the Batch contract of docs/DESIGN.md."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from dmdlab.data import Batch, load_mmsa
from dmdlab.data.synth import make_dataset


def test_batches_cover_the_split_once_in_order(tiny_dataset):
    split = tiny_dataset["valid"]
    batches = list(split.batches(20))
    assert [len(b) for b in batches] == [20, 20, 8]
    index = torch.cat([b.index for b in batches])
    assert index.tolist() == list(range(48))
    first = batches[0]
    assert isinstance(first, Batch)
    assert first.text.shape == (20, 12, 384) and first.text.dtype == torch.float32
    assert first.vision.shape == (20, 12, 20) and first.audio.shape == (20, 12, 5)
    assert first.labels.shape == (20,) and first.labels.dtype == torch.float32
    assert first.audio_lengths is None and first.vision_lengths is None
    assert first.ids == split.ids[:20].tolist()
    np.testing.assert_array_equal(first.audio.numpy(), split.audio[:20])
    np.testing.assert_array_equal(batches[-1].labels.numpy(), split.labels[40:])


def test_shuffle_is_a_seeded_permutation(tiny_dataset):
    split = tiny_dataset["train"]

    def order(seed):
        batches = split.batches(32, shuffle=True, generator=torch.Generator().manual_seed(seed))
        return torch.cat([b.index for b in batches]).tolist()

    assert sorted(order(0)) == list(range(192))
    assert order(0) == order(0) and order(0) != order(1) and order(0) != list(range(192))
    batch = next(split.batches(8, shuffle=True, generator=torch.Generator().manual_seed(0)))
    np.testing.assert_array_equal(batch.vision.numpy(), split.vision[batch.index.numpy()])
    assert batch.ids == split.ids[batch.index.numpy()].tolist()


def test_drop_last_and_bad_batch_size(tiny_dataset):
    assert [len(b) for b in tiny_dataset["valid"].batches(20, drop_last=True)] == [20, 20]
    with pytest.raises(ValueError, match="batch_size"):
        next(tiny_dataset["valid"].batches(0))


def test_unaligned_batches_carry_lengths(tiny_unaligned_dataset):
    split = tiny_unaligned_dataset["test"]
    batch = split.batch([5, 0, 9])
    assert batch.audio.shape == (3, 18, 5) and batch.vision.shape == (3, 24, 20)
    assert batch.audio_lengths.dtype == torch.int64
    assert batch.audio_lengths.tolist() == split.audio_lengths[[5, 0, 9]].tolist()
    assert batch.vision_lengths.tolist() == split.vision_lengths[[5, 0, 9]].tolist()
    assert batch.index.tolist() == [5, 0, 9]


def test_text_modes(tmp_path):
    data = make_dataset("tiny", seed=1)
    for split in data.values():
        n = len(split["regression_labels"])
        split["text_bert"] = np.stack([np.arange(n * 12).reshape(n, 12), np.ones((n, 12)), np.zeros((n, 12))], 1)
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps(data))
    split = load_mmsa(path)["train"]
    assert split.batch([0, 1]).text.dtype == torch.float32                   # auto: features first
    bert = split.batch([0, 1], text="bert").text
    assert bert.shape == (2, 3, 12) and bert.dtype == torch.int64
    assert bert[1, 0].tolist() == list(range(12, 24))
    features_only = load_mmsa(path, text="features")["train"]
    with pytest.raises(ValueError, match="no 'text_bert'"):
        features_only.batch([0], text="bert")


def test_batch_to_device_and_index_errors(tiny_dataset):
    split = tiny_dataset["test"]
    batch = split.batch(torch.tensor([1, 2]), device="meta")     # any torch device; meta needs no hardware
    assert {t.device.type for t in (batch.text, batch.vision, batch.audio, batch.labels, batch.index)} == {"meta"}
    assert batch.ids == split.ids[[1, 2]].tolist() and len(batch) == 2
    with pytest.raises(IndexError, match="96 clips"):
        split.batch([96])


def test_batching_shares_memory_and_does_not_modify_the_split(tiny_dataset):
    split = tiny_dataset["train"]
    before = split.audio.copy()
    batch = split.batch([0])
    batch.audio += 1.0                                      # a batch is a copy (index_select)
    np.testing.assert_array_equal(split.audio, before)
    assert split._tensor("audio").data_ptr() == split.audio.ctypes.data   # the split tensor is a view


def test_subset_and_videos(tiny_dataset):
    split = tiny_dataset["train"]
    sub = split.subset(np.arange(10))
    assert len(sub) == 10 and sub.name == "train"
    np.testing.assert_array_equal(sub.labels, split.labels[:10])
    assert sub.videos.tolist() == [i.split("$_$")[0] for i in split.ids[:10]]
