"""The restricted unpickler: numpy arrays and builtin containers load, anything else is refused unrun."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

from dmdlab.data import DatasetError, load_mmsa, safe_load
from dmdlab.data.safe_pickle import ALLOWED_GLOBALS


class _WritesAFile:
    """A payload: unpickling it with pickle.load would create ``target``."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _OpensAFile:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("payload, refused", [(_WritesAFile, ".system"), (_OpensAFile, ".open")])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, payload, refused):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pkl"
    data = {"train": {"audio": np.zeros((2, 3, 4), np.float32), "x": payload(target)}}
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(DatasetError) as info:
        safe_load(path)
    message = str(info.value)
    assert str(path) in message and refused in message and "refused" in message
    assert not target.exists()
    with pytest.raises(DatasetError, match="refused"):   # the dataset loader goes through it too
        load_mmsa(path)
    assert not target.exists()


def test_plain_pickle_load_would_have_run_the_payload(tmp_path):
    """Control for the test above: the payload really does write the file when unrestricted."""
    target = tmp_path / "pwned.txt"
    pickle.loads(pickle.dumps(_WritesAFile(target)))
    assert target.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_and_builtin_containers_round_trip(tmp_path, protocol):
    data = {
        "train": {
            "audio": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
            "labels": np.array([0.2, -1.4]),
            "id": np.array(["a$_$1", "b$_$2"], dtype=object),
            "raw_text": np.array(["hello", "world"]),
            "lengths": [3, 2],
            "scalar": np.float32(1.5),
            "count": np.int64(7),
            "dtype": np.dtype("<f8"),
        },
        "meta": (1, 2.0, "x", b"bytes", None, True, {1, 2}, frozenset({3}), OrderedDict(a=1)),
    }
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = safe_load(path)
    for key, value in data["train"].items():
        np.testing.assert_array_equal(loaded["train"][key], value)
        assert type(loaded["train"][key]) is type(value)
    assert loaded["meta"] == data["meta"]


def test_numpy1_spelling_of_reconstruct_is_admitted(tmp_path):
    """MMSA files were written with numpy 1.x: 'numpy.core.multiarray' instead of 'numpy._core.multiarray'."""
    array = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    stream = pickle.dumps({"a": array, "s": np.float64(2.5)}, protocol=2)
    old = stream.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\n_reconstruct" in old and old != stream
    path = tmp_path / "numpy1.pkl"
    path.write_bytes(old)
    loaded = safe_load(path)
    np.testing.assert_array_equal(loaded["a"], array)
    assert loaded["s"] == 2.5


def test_codecs_encode_admitted_only_for_latin1(tmp_path):
    stream = pickle.dumps(b"\x00\xffabc", protocol=2)          # protocol 2 writes bytes via _codecs.encode
    assert b"_codecs" in stream
    (tmp_path / "b.pkl").write_bytes(stream)
    assert safe_load(tmp_path / "b.pkl") == b"\x00\xffabc"
    other = stream.replace(b"latin1", b"utf_16")                 # same length: the opcode lengths stay valid
    (tmp_path / "c.pkl").write_bytes(other)
    with pytest.raises(DatasetError, match="admitted only for str -> latin-1"):
        safe_load(tmp_path / "c.pkl")


def test_only_numpy_and_builtin_globals_are_listed():
    modules = {module for module, _ in ALLOWED_GLOBALS}
    assert modules <= {"numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                       "numpy._core.numeric", "builtins", "__builtin__", "collections", "_codecs"}
    names = {name for _, name in ALLOWED_GLOBALS}
    assert not names & {"eval", "exec", "open", "getattr", "__import__", "system", "compile", "apply"}


def test_refused_global_error_names_file_and_global(tmp_path):
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps({"train": {"f": np.random.default_rng}}))
    with pytest.raises(DatasetError, match=r"other\.pkl.*numpy\.random.*default_rng"):
        safe_load(path)
