"""The built-in dataset: layout, sizes, labels, speakers, and the properties DMD's story relies on."""

from __future__ import annotations

import os
import pickle
import re

import numpy as np
import pytest

from dmdlab.data import load_mmsa
from dmdlab.data import synth
from dmdlab.data.synth import SCALES, Scale, SynthParams, make_dataset, write_dataset

KEYS = {"text", "audio", "vision", "regression_labels", "classification_labels", "annotations", "raw_text", "id"}


@pytest.fixture(scope="module")
def aligned():
    return make_dataset("tiny", aligned=True, seed=0)


@pytest.fixture(scope="module")
def unaligned():
    return make_dataset("tiny", aligned=False, seed=0)


def test_scales_are_the_specified_sizes():
    assert SCALES["tiny"].clips == (192, 48, 96) and SCALES["tiny"].unaligned_lens == (18, 24)
    assert (SCALES["tiny"].audio_dim, SCALES["tiny"].vision_dim, SCALES["tiny"].text_len) == (5, 20, 12)
    assert SCALES["mosi"] == Scale((1284, 229, 686), (52, 10, 31), 5, 20, 50, (375, 500))
    mosei = SCALES["mosei"]
    assert (mosei.clips, mosei.audio_dim, mosei.vision_dim, mosei.unaligned_lens) == \
        ((16326, 1871, 4659), 74, 35, (500, 500))


@pytest.mark.parametrize("is_aligned", [True, False])
def test_tiny_layout(aligned, unaligned, is_aligned):
    data = aligned if is_aligned else unaligned
    assert list(data) == ["train", "valid", "test"]
    t_a, t_v = (12, 12) if is_aligned else (18, 24)
    for name, n in zip(data, (192, 48, 96)):
        split = data[name]
        assert KEYS <= set(split)
        assert ({"audio_lengths", "vision_lengths"} <= set(split)) != is_aligned
        assert split["text"].shape == (n, 12, 384) and split["audio"].shape == (n, t_a, 5)   # MiniLM's width
        assert split["text_bert"].shape == (n, 3, 12) and split["text_bert"].dtype == np.int64
        assert split["vision"].shape == (n, t_v, 20) and split["regression_labels"].shape == (n,)
        for key in ("text", "audio", "vision", "regression_labels"):
            assert split[key].dtype == np.float32 and np.isfinite(split[key]).all()
        assert all(isinstance(t, str) and t for t in split["raw_text"])


def test_labels_are_means_of_five_integer_annotators(aligned):
    labels = np.concatenate([s["regression_labels"] for s in aligned.values()])
    scores = np.concatenate([s["annotator_scores"] for s in aligned.values()])
    assert scores.shape == (336, 5) and scores.min() >= -3 and scores.max() <= 3
    np.testing.assert_allclose(labels, scores.mean(1), atol=1e-6)
    fifths = labels * 5
    np.testing.assert_allclose(fifths, np.round(fifths), atol=1e-4)        # multiples of 0.2
    assert (labels == 0).sum() >= 3                                          # exact zeros
    assert len(np.unique(labels)) < len(labels) / 5                          # many exact ties
    assert labels.min() < -2 and labels.max() > 2


def test_speakers_are_videos_disjoint_across_splits(aligned):
    videos = {}
    for name, split in aligned.items():
        ids = split["id"].tolist()
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{11}\$_\$\d+", i) for i in ids)
        assert len(set(ids)) == len(ids)
        videos[name] = {i.split("$_$")[0] for i in ids}
        # clips of a video are numbered 1..k
        for video in videos[name]:
            numbers = sorted(int(i.split("$_$")[1]) for i in ids if i.startswith(video + "$_$"))
            assert numbers == list(range(1, len(numbers) + 1))
    assert [len(v) for v in videos.values()] == [12, 3, 6]
    assert not (videos["train"] & videos["valid"] or videos["train"] & videos["test"] or videos["valid"] & videos["test"])


def test_speaker_style_shifts_features_not_sentiment():
    """Speakers shift each modality's features (a large between-speaker variance) but carry no sentiment."""
    data = make_dataset("mosi", aligned=True, seed=0)["train"]
    speaker = np.unique([i.split("$_$")[0] for i in data["id"]], return_inverse=True)[1]
    pooled = {}
    for key in ("vision", "audio"):
        valid = np.any(data[key] != 0, axis=-1, keepdims=True)
        pooled[key] = (data[key] * valid).sum(1) / valid.sum(1)                # (N, d)
        means = np.stack([pooled[key][speaker == s].mean(0) for s in range(speaker.max() + 1)])
        explained = means[speaker].var(0).sum() / pooled[key].var(0).sum()
        assert explained > 0.3, (key, explained)                              # a large speaker effect
    label_means = np.array([data["regression_labels"][speaker == s].mean() for s in range(speaker.max() + 1)])
    assert label_means[speaker].var() / data["regression_labels"].var() < 0.1  # speakers do not set sentiment


def test_seed_determines_the_data(aligned):
    again = make_dataset("tiny", aligned=True, seed=0)
    other = make_dataset("tiny", aligned=True, seed=1)
    for key in ("text", "audio", "vision", "regression_labels"):
        np.testing.assert_array_equal(again["test"][key], aligned["test"][key])
    assert not np.array_equal(other["test"]["vision"], aligned["test"]["vision"])
    assert other["train"]["raw_text"].tolist() != aligned["train"]["raw_text"].tolist()


def test_aligned_steps_follow_the_words(aligned):
    split = aligned["train"]
    words = np.array([len(t.split()) for t in split["raw_text"]])
    steps = np.arange(12)[None]
    for key in ("audio", "vision"):
        nonzero = np.any(split[key] != 0, axis=-1)                          # (N, T)
        # a step per word piece: [CLS], [SEP] and padding have no frames
        np.testing.assert_array_equal(nonzero, (steps >= 1) & (steps <= words[:, None]))
    text = np.any(split["text"] != 0, axis=-1)
    np.testing.assert_array_equal(text, steps < words[:, None] + 2)         # [CLS] words [SEP], then zeros
    np.testing.assert_array_equal(split["text_bert"][:, 1], text)           # the encoder's tokens, one per word


def test_aligned_steps_are_the_word_average_of_the_frames():
    """MMSA-FET's alignment: a word piece's step is the mean of its word's frames; a word shorter than a frame
    takes the frame it falls in."""
    frames = np.arange(2 * 7 * 1, dtype=np.float32).reshape(2, 7, 1)
    position = np.array([[1, 1, 2, 2, 2, 3, 3], [1, 3, 3, 3, 3, 3, 3]])       # clip 1: word 2 gets no frame
    valid = np.array([[True] * 7, [True] * 5 + [False] * 2])
    steps, is_word = synth._word_average(frames, position, valid, np.array([3, 3]), 6)
    np.testing.assert_allclose(steps[0, :, 0], [0, 0.5, 3, 5.5, 0, 0])
    np.testing.assert_allclose(steps[1, :, 0], [0, 7, 8, 9.5, 0, 0])   # word 2 takes frame 8; word 3: frames 8-11
    assert is_word.tolist() == [[False, True, True, True, False, False]] * 2


def test_unaligned_lengths_and_padding(unaligned):
    for split in unaligned.values():
        for key, t in (("audio", 18), ("vision", 24)):
            lengths = split[f"{key}_lengths"]
            assert lengths.dtype == np.int64 and lengths.min() >= 1 and lengths.max() <= t
            nonzero = np.any(split[key] != 0, axis=-1)
            np.testing.assert_array_equal(nonzero.sum(1), lengths)
            assert nonzero[np.arange(len(lengths)), lengths - 1].all()
    words = np.array([len(t.split()) for t in unaligned["train"]["raw_text"]])
    assert np.corrcoef(words, unaligned["train"]["vision_lengths"])[0, 1] > 0.8   # longer sentences last longer


def _sentiment_positions(raw_text, text_len):
    """(N, T) mask of the steps holding an adjective or verb with a polarity."""
    polar = set(synth._ADJECTIVES) | set(synth._VERBS)
    mask = np.zeros((len(raw_text), text_len), dtype=bool)
    for i, text in enumerate(raw_text):
        for j, word in enumerate(text.split()):
            mask[i, j + 1] = word in polar
    return mask


def test_visual_bursts_sit_on_sentiment_words():
    data = make_dataset("tiny", aligned=True, seed=2)["train"]
    smile = synth._world(SCALES["tiny"]).smile
    projection = data["vision"] @ smile                                      # (N, T)
    polar = _sentiment_positions(data["raw_text"], 12)
    labels = np.repeat(data["regression_labels"][:, None], 12, axis=1)
    other = ~polar & np.any(data["vision"] != 0, axis=-1)
    other[:, 1:] &= ~polar[:, :-1]                                           # leave out the lingering step
    on_words = np.corrcoef(projection[polar], labels[polar])[0, 1]
    elsewhere = np.corrcoef(projection[other], labels[other])[0, 1]
    assert on_words > 0.3 and on_words > 3 * elsewhere     # measured: 0.41 on the words, 0.09 elsewhere


def test_negation_needs_context():
    """A bag of words (sum of word polarities) misreads negated clips; the labels follow the context."""
    rng = np.random.default_rng(0)
    clips = synth._transcripts(rng, 4000, 50, SynthParams())
    texts = [synth.transcript(t) for t in clips.tokens]
    polarity = {**synth._ADJECTIVES, **synth._VERBS}
    bag = np.array([sum(polarity.get(w, 0.0) for w in t.split()) for t in texts])
    negated = np.array([bool({"not", "never"} & set(t.split())) for t in texts])
    labels = clips.scores.mean(1)
    decided = (labels != 0) & (bag != 0)
    agree = np.sign(bag) == np.sign(labels)
    assert agree[decided & ~negated].mean() > 0.85
    assert agree[decided & negated].mean() < agree[decided & ~negated].mean() - 0.2
    # the context-resolved word values (what a sequence model can recover) follow the labels
    resolved = clips.value.sum(1)
    assert (np.sign(resolved) == np.sign(labels))[decided & negated].mean() > 0.8
    assert 0.08 < negated.mean() < 0.3


def test_text_is_the_encoders_reading_and_text_bert_its_tokens(tmp_path):
    from dmdlab.data.text import encode_text, load_tokenizer

    encoder = synth.default_encoder()
    tokenizer = load_tokenizer(encoder)
    unknown = [w for w in synth.WORDS[3:] if len(tokenizer.tokenize(w)) != 1]
    assert not unknown, f"words that are not one WordPiece: {unknown}"
    plain = make_dataset("tiny", seed=0, params=SynthParams(text_speaker=0.0))["test"]
    # `text` is MiniLM's last hidden states over the transcripts (no speaker offset here), padding zero
    np.testing.assert_allclose(plain["text"][:5], encode_text(plain["text_bert"][:5], encoder), atol=1e-4)
    path = write_dataset(tmp_path / "bert.pkl", "tiny", seed=0)
    dataset = load_mmsa(path)
    split = dataset["test"]
    assert dataset.spec.has_text_bert and split.text_bert.shape == (96, 3, 12)
    words = np.array([len(t.split()) for t in split.raw_text])
    np.testing.assert_array_equal(split.text_bert[:, 1].sum(1), words + 2)  # one token per word, aligned with text
    assert tokenizer.decode(split.text_bert[0, 0, 1:words[0] + 1]) == split.raw_text[0]


def test_write_is_atomic(tmp_path, monkeypatch):
    path = write_dataset(tmp_path / "sub" / "tiny.pkl", "tiny", aligned=False, seed=0)
    assert os.listdir(tmp_path / "sub") == ["tiny.pkl"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask                   # not mkstemp's 0600
    before = path.read_bytes()

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(synth.pickle, "dump", broken_dump)   # fails midway through the atomic write
    with pytest.raises(OSError, match="disk full"):
        write_dataset(path, "tiny", seed=5)
    assert os.listdir(tmp_path / "sub") == ["tiny.pkl"] and path.read_bytes() == before


def test_neg_inf_audio_like_covarep_is_zeroed_and_counted(tmp_path, monkeypatch):
    monkeypatch.setitem(SCALES, "tiny_inf", Scale((64, 16, 16), (4, 2, 2), 6, 7, 11, (20, 30),
                                                  neg_inf_rate=0.01))
    data = make_dataset("tiny_inf", aligned=False, seed=0)
    hits = sum(int(np.isneginf(s["audio"]).sum()) for s in data.values())
    assert hits > 0 and not any(np.isneginf(s["audio"][..., 0]).any() for s in data.values())
    path = tmp_path / "inf.pkl"
    path.write_bytes(pickle.dumps(data))
    dataset = load_mmsa(path)
    assert dataset.report.to_frame()["neginf"].sum() == hits
    assert all(np.isfinite(s.audio).all() for s in dataset)


def test_unknown_scale_and_bad_scales():
    with pytest.raises(ValueError, match="scale must be one of"):
        make_dataset("huge")
    with pytest.raises(ValueError, match="'text_len' field of Scale must be at least 11"):
        Scale((10, 10, 10), (1, 1, 1), 5, 5, 10, (20, 20))
    with pytest.raises(ValueError, match="videos <= clips"):
        Scale((10, 2, 10), (1, 3, 1), 5, 5, 12, (20, 20))


def test_longest_phrase_fits_the_smallest_text_len():
    widest = 1 + max(len(t.split()) for t in synth._OPINION_TEMPLATES + synth._NEUTRAL_TEMPLATES)  # + filler
    assert widest + 2 == synth.MIN_TEXT_LEN
    clips = synth._transcripts(np.random.default_rng(0), 5000, synth.MIN_TEXT_LEN, SynthParams(
        negation_prob=1.0, intensifier_prob=1.0, filler_prob=1.0, neutral_prob=0.0))
    assert clips.n_words.max() == widest and (clips.tokens[np.arange(5000), clips.n_words + 1] == synth.SEP).all()


@pytest.mark.slow
def test_mosi_scale_sizes_and_unimodal_ordering(tmp_path):
    """MOSI-size data: the specified sizes, and ridge on pooled features ranks language > vision > audio."""
    from dmdlab.data.baseline import ridge_baseline

    path = write_dataset(tmp_path / "mosi.pkl", "mosi", aligned=True, seed=0)
    dataset = load_mmsa(path)
    assert dataset.sizes == {"train": 1284, "valid": 229, "test": 686}
    assert (dataset.spec.text_dim, dataset.spec.audio_dim, dataset.spec.vision_dim) == (384, 5, 20)
    assert dataset.spec.lengths == {"l": 50, "v": 50, "a": 50}
    table = ridge_baseline(dataset)
    acc, corr = table["Non0_acc_2"], table["Corr"]
    assert acc["language"] > acc["vision"] + 0.03 and acc["vision"] > acc["audio"] + 0.02
    assert corr["language"] > corr["vision"] > corr["audio"] > 0
    assert acc["audio"] > 0.52                                               # weak, not useless


def test_sarcasm_shows_in_face_and_voice_not_in_words():
    """With every non-negated opinion phrase sarcastic, the face at a sentiment word contradicts the word."""
    world = synth._world(SCALES["tiny"])
    stats = {}
    for prob in (0.0, 1.0):
        data = make_dataset("tiny", seed=0, params=SynthParams(sarcasm_prob=prob, negation_prob=0.0))["train"]
        polar = _sentiment_positions(data["raw_text"], 12)
        word_polarity = np.zeros(polar.shape)
        for i, text in enumerate(data["raw_text"]):
            for j, word in enumerate(text.split()):
                word_polarity[i, j + 1] = {**synth._ADJECTIVES, **synth._VERBS}.get(word, 0.0)
        face = (data["vision"] @ world.smile)[polar]
        tone = (data["audio"] @ world.sarcasm)[polar]
        stats[prob] = (np.corrcoef(face, word_polarity[polar])[0, 1], tone.mean())
    assert stats[0.0][0] > 0.3 and stats[1.0][0] < -0.3        # the face follows the meaning, not the word
    assert stats[1.0][1] > stats[0.0][1] + 0.4                  # a sarcastic tone on the word


def test_dials_change_what_they_name_and_nothing_else():
    from dmdlab.data.synth import WORLDS, Dials, world_params

    standard = make_dataset("tiny", seed=0)["train"]
    vision = make_dataset("tiny", seed=0, params=world_params("vision_strongest"))["train"]
    for key in ("raw_text", "regression_labels", "audio", "id"):        # same clips, labels and voices
        np.testing.assert_array_equal(vision[key], standard[key])
    assert not np.allclose(vision["vision"], standard["vision"]) and not np.allclose(vision["text"], standard["text"])
    np.testing.assert_array_equal(vision["text"] == 0, standard["text"] == 0)   # noise only on the tokens
    none = make_dataset("tiny", seed=0, params=world_params("style_none"))["train"]
    np.testing.assert_array_equal(none["regression_labels"], standard["regression_labels"])
    assert world_params("style_none").vision_speaker_offset == 0 and WORLDS["standard"] == Dials()
    assert world_params("standard", audio=2.0).audio_arousal == 2 * SynthParams().audio_arousal
    assert world_params(nonverbal=100).sarcasm_prob == 1.0
    with pytest.raises(ValueError, match="'language' dial must be in \\(0, 1\\]"):
        Dials(language=0)
    with pytest.raises(ValueError, match="'style' dial must be a finite number >= 0"):
        Dials(style=-1)
    with pytest.raises(ValueError, match="unknown dial 'smile'"):
        world_params(smile=2)
    with pytest.raises(ValueError, match="world must be one of"):
        world_params("sunny")


def test_synth_command_takes_a_world_and_dials(tmp_path, capsys):
    from dmdlab.cli import main

    out = tmp_path / "v.pkl"
    assert main(["data", "synth", "--world", "vision_strongest", "--dial", "audio=2", "--out", str(out)]) == 0
    assert "world vision_strongest, audio=2" in capsys.readouterr().out and load_mmsa(out).spec.text_dim == 384
    assert main(["data", "synth", "--dial", "smile=2", "--out", str(tmp_path / "x.pkl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown dial 'smile'" in err[0] and not (tmp_path / "x.pkl").exists()
