"""Crafted dataset files: each ends in a load or one DatasetError, never a crash, a memory bomb or foreign bytes.

The crafted pickles are assembled opcode by opcode (``_Pickle``), since no pickler writes
them. Loads that crashed or exhausted memory before run in a child process, under a memory
limit, so that a crash fails the test instead of killing pytest.
"""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dmdlab.data import DatasetError, load_mmsa, safe_load


class _Pickle:
    """A protocol-3 pickle written opcode by opcode."""

    def __init__(self) -> None:
        self.code = bytearray(b"\x80\x03")

    def op(self, *parts: bytes) -> "_Pickle":
        for part in parts:
            self.code += part
        return self

    def glob(self, module: str, name: str) -> "_Pickle":
        return self.op(b"c", module.encode(), b"\n", name.encode(), b"\n")

    def str(self, text: str) -> "_Pickle":
        data = text.encode()
        return self.op(b"X", struct.pack("<I", len(data)), data)

    def int(self, value: int) -> "_Pickle":
        return self.op(b"J", struct.pack("<i", value))

    def bytes(self, data: bytes) -> "_Pickle":
        return self.op(b"B", struct.pack("<I", len(data)), data)

    def dtype(self, typestr: str, state: "_Pickle") -> "_Pickle":
        """numpy.dtype(typestr, False, True) with the BUILD state written by ``state``."""
        self.glob("numpy", "dtype").op(b"(").str(typestr).op(b"\x89\x88tR(")
        self.code += state.code[2:]
        return self.op(b"tb")

    def done(self) -> bytes:
        return bytes(self.code + b".")


def _run_child(code: str, memory_mb: int = 2048, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with its address space limited to ``memory_mb``."""
    prelude = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({memory_mb} << 20, {memory_mb} << 20))
    """)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout)


def _outcome_in_child(path, loader: str = "safe_load") -> str:
    """'loaded', or 'DatasetError: <message>' -- any other ending fails the calling test with its output."""
    done = _run_child(f"""
        from dmdlab.data import DatasetError, load_mmsa, safe_load
        try:
            {loader}({str(path)!r})
            print("loaded")
        except DatasetError as error:
            print("DatasetError:", error)
    """)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout.strip()


def test_crafted_dtype_state_is_refused_before_numpy_reads_an_address(tmp_path):
    """A dtype whose state puts an object field in a void item made numpy read pointers from the file."""
    inner = _Pickle().int(3).str("|").op(b"N").op(b"(").str("a").op(b"t")
    field = _Pickle().op(b"}").str("a").dtype("O8", _Pickle().int(3).str("|").op(b"NNN").int(-1).int(-1).int(63))
    field.int(0).op(b"\x86s")   # {'a': (dtype('O'), 0)}
    inner.code += field.code[2:]
    inner.int(8).int(1).int(63)
    crafted = _Pickle().glob("numpy._core.multiarray", "_reconstruct").glob("numpy", "ndarray")
    crafted.op(b"(").int(0).op(b"t").bytes(b"b").op(b"\x87R")
    crafted.op(b"(").int(1).op(b"(").int(4).op(b"t").dtype("V8", inner).op(b"\x89").bytes(struct.pack("<4Q", *[
        0xDEADBEEF0, 0x10, 0x7FFF00000000, 0x1]))
    crafted.op(b"tb")
    path = tmp_path / "dtype.pkl"
    path.write_bytes(crafted.done())
    outcome = _outcome_in_child(path)
    assert outcome.startswith("DatasetError:") and "dtype 'V8' is not admitted" in outcome, outcome


def test_admitted_dtype_string_with_fields_in_its_state_is_refused(tmp_path):
    state = _Pickle().int(3).str("<").op(b"N").op(b"(").str("a").op(b"t}").int(16).int(1).int(0)
    path = tmp_path / "fields.pkl"
    path.write_bytes(_Pickle().dtype("f8", state).done())
    with pytest.raises(DatasetError, match="fields, subarrays and metadata are not admitted"):
        safe_load(path)


def test_zero_stride_array_cannot_be_built_from_a_small_file(tmp_path):
    """numpy.ndarray(shape, dtype, buffer, offset, strides) gave a 8 GB view of 8 bytes, copied by the loader."""
    crafted = _Pickle().op(b"}").str("audio").glob("numpy", "ndarray")
    crafted.op(b"(").op(b"(").int(1 << 30).op(b"t").str("f8").bytes(bytes(8)).int(0).op(b"(").int(0).op(b"t")
    crafted.op(b"tRs")
    path = tmp_path / "stride.pkl"
    path.write_bytes(crafted.done())
    outcome = _outcome_in_child(path)
    assert outcome.startswith("DatasetError:") and "numpy.ndarray may only be named" in outcome, outcome


def test_array_claiming_more_bytes_than_the_file_holds_is_refused(tmp_path):
    stream = pickle.dumps({"a": np.arange(6, dtype=np.float32)}, protocol=2)   # no frames: lengths may change
    assert stream.count(b"K\x06\x85") == 1                                   # the shape (6,)
    path = tmp_path / "short.pkl"
    path.write_bytes(stream.replace(b"K\x06\x85", b"MX\x02\x85"))            # ... now (600,)
    with pytest.raises(DatasetError, match=r"needs 2400 bytes, the file gives 24"):
        safe_load(path)


def _tiny_split(n: int = 4, t: int = 3) -> dict:
    rng = np.random.default_rng(0)
    return {
        "text": rng.standard_normal((n, t, 2)).astype(np.float32),
        "audio": rng.standard_normal((n, t, 2)).astype(np.float32),
        "vision": rng.standard_normal((n, t, 2)).astype(np.float32),
        "regression_labels": rng.uniform(-3, 3, n).astype(np.float32),
        "id": np.array([f"v{i}$_${i}" for i in range(n)], dtype=object),
        "raw_text": np.array(["some words"] * n, dtype=object),
    }


_MEMO = 1_000_000   # memo indices of the crafted parts, far from the pickler's own


def _with_train_labels(opcodes: bytes) -> bytes:
    """A valid three-split file whose train 'regression_labels' is the object ``opcodes`` build."""
    splits = {name: _tiny_split() for name in ("train", "valid", "test")}
    splits["train"]["regression_labels"] = "CRAFTED_VALUE"
    stream = pickle.dumps(splits, protocol=3)
    sentinel = b"X" + struct.pack("<I", 13) + b"CRAFTED_VALUE"
    assert stream.count(sentinel) == 1
    return stream.replace(sentinel, opcodes)


def _shared_reference_list(width: int, depth: int) -> bytes:
    """A list of ``width`` references to a list of ``width`` references ... (``depth`` levels) of 1.0."""
    put = lambda index: b"r" + struct.pack("<I", _MEMO + index)   # noqa: E731
    get = lambda index: b"j" + struct.pack("<I", _MEMO + index)   # noqa: E731
    code = b"](G" + struct.pack(">d", 1.0) + put(0) + get(0) * (width - 1) + b"e" + put(1)
    for level in range(1, depth):   # POP the previous level: it stays reachable through the memo only
        code += b"0](" + get(level) * width + b"e" + put(level + 1)
    return code


def test_list_of_repeated_references_is_refused_without_expanding_it(tmp_path):
    """A few kB describing 10^9 numbers: np.asarray took gigabytes; now the items are counted first."""
    path = tmp_path / "references.pkl"
    path.write_bytes(_with_train_labels(_shared_reference_list(1000, 3)))
    assert path.stat().st_size < 20_000
    outcome = _outcome_in_child(path, loader="load_mmsa")
    assert outcome.startswith("DatasetError:") and "items in all" in outcome, outcome


def test_deep_nesting_ends_in_a_clear_error(tmp_path):
    """A dict key nested 200 000 deep crashed the C unpickler; a list nested 100 000 deep gave a RecursionError."""
    key = _Pickle().op(b"}").int(1).op(b"\x85" * 200_000).int(0).op(b"s")
    (tmp_path / "key.pkl").write_bytes(key.done())
    outcome = _outcome_in_child(tmp_path / "key.pkl")
    assert outcome.startswith("DatasetError:") and "each a str, bytes or number" in outcome, outcome

    (tmp_path / "list.pkl").write_bytes(_with_train_labels(b"]" * 100_000 + b"a" * 99_999))
    outcome = _outcome_in_child(tmp_path / "list.pkl", loader="load_mmsa")
    assert outcome.startswith("DatasetError:") and "nested more than" in outcome, outcome


def test_strings_that_would_pad_to_gigabytes_are_refused(tmp_path):
    """One 1 MB transcript referenced by every clip: an (N,) str array of N x 1 M characters."""
    splits = {name: _tiny_split(n=300) for name in ("train", "valid", "test")}
    text = "x" * (1 << 20)
    splits["train"]["raw_text"] = np.array([text] * 300, dtype=object)   # pickled once, referenced 300 times
    path = tmp_path / "strings.pkl"
    path.write_bytes(pickle.dumps(splits, protocol=4))
    assert path.stat().st_size < 3 << 20
    with pytest.raises(DatasetError, match=r"split 'train', key 'raw_text': expected strings of reasonable length"):
        load_mmsa(path)


@pytest.mark.parametrize("key, value, fragment", [
    ("id", np.arange(4), "expected a 1-D array of strings"),
    ("raw_text", np.array([1.5, 2, 3, 4]), "expected a 1-D array of strings"),
])
def test_id_and_raw_text_must_be_strings(tmp_path, key, value, fragment):
    splits = {name: _tiny_split() for name in ("train", "valid", "test")}
    splits["valid"][key] = value
    path = tmp_path / "ids.pkl"
    path.write_bytes(pickle.dumps(splits))
    with pytest.raises(DatasetError, match=rf"split 'valid', key '{key}': {fragment}"):
        load_mmsa(path)


def test_sequence_of_length_zero_names_file_split_and_key(tmp_path):
    splits = {name: _tiny_split() for name in ("train", "valid", "test")}
    splits["test"]["vision"] = np.zeros((4, 0, 2), np.float32)
    path = tmp_path / "empty_steps.pkl"
    path.write_bytes(pickle.dumps(splits))
    with pytest.raises(DatasetError, match=r"empty_steps\.pkl: split 'test', key 'vision': expected at least 1 step"):
        load_mmsa(path)


def _bert(n: int = 4, t: int = 3) -> np.ndarray:
    ids = np.tile(np.array([101, 2023, 102]), (n, 1))
    return np.stack([ids, np.ones((n, t), int), np.zeros((n, t), int)], axis=1)


@pytest.mark.parametrize("row, position, value, fragment", [
    (0, (1, 2), -5, r"token ids \(row 0\) >= 0"),
    (1, (2, 1), 2, r"attention mask \(row 1\) in \{0, 1\}"),
    (2, (0, 0), 7, r"segment ids \(row 2\) in \{0, 1\}"),
    (1, (3, 0), 0, r"1s on the tokens then 0s on the padding"),
])
def test_text_bert_is_validated_at_load(tmp_path, row, position, value, fragment):
    splits = {name: {**_tiny_split(), "text_bert": _bert()} for name in ("train", "valid", "test")}
    splits["train"]["text_bert"][position[0], row, position[1]] = value
    path = tmp_path / "bert.pkl"
    path.write_bytes(pickle.dumps(splits))
    with pytest.raises(DatasetError, match=rf"split 'train', key 'text_bert': expected .*{fragment}"):
        load_mmsa(path, text="bert")


def test_text_bert_ids_beyond_the_vocabulary_are_refused(tmp_path):
    splits = {name: {**_tiny_split(), "text_bert": _bert()} for name in ("train", "valid", "test")}
    path = tmp_path / "bert.pkl"
    path.write_bytes(pickle.dumps(splits))
    assert load_mmsa(path, text="bert", vocab_size=30522).spec.has_text_bert
    with pytest.raises(DatasetError, match=r"< 1000 \(the tokenizer's vocabulary\).*token 1: 2023"):
        load_mmsa(path, text="bert", vocab_size=1000)


def test_unreadable_file_is_one_clear_line(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    path = tmp_path / "locked.pkl"
    path.write_bytes(pickle.dumps({"train": {}}))
    path.chmod(0)
    with pytest.raises(DatasetError, match=r"locked\.pkl: cannot be read"):
        load_mmsa(path)


def test_directory_given_as_dataset_is_one_clear_line(tmp_path):
    with pytest.raises(DatasetError, match="is a directory"):
        load_mmsa(tmp_path)


FUZZ = """
    import pickle, sys
    import numpy as np
    from dmdlab.data import DatasetError, load_mmsa

    valid = open(sys.argv[1], "rb").read()
    rng = np.random.default_rng(0)
    outcomes = {"loaded": 0, "DatasetError": 0}
    for trial in range(int(sys.argv[3])):
        data = bytearray(valid)
        for position in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            data[position] = int(rng.integers(0, 256))
        open(sys.argv[2], "wb").write(bytes(data))
        try:
            load_mmsa(sys.argv[2])
            outcomes["loaded"] += 1
        except DatasetError:
            outcomes["DatasetError"] += 1
    # this process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent)
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    outcomes["peak_rss_mb"] = int(status["VmHWM"].split()[0]) // 1024
    print(json.dumps(outcomes))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak memory from /proc")
@pytest.mark.parametrize("protocol", [2, 4])
def test_fuzzed_files_load_or_raise_dataset_error(tmp_path, protocol):
    """Byte flips of a valid file: every outcome a load or a DatasetError; no crash, no other exception."""
    valid = tmp_path / "valid.pkl"
    valid.write_bytes(pickle.dumps({name: _tiny_split() for name in ("train", "valid", "test")}, protocol=protocol))
    code = "import json\n" + textwrap.dedent(FUZZ)
    done = subprocess.run([sys.executable, "-c", code, str(valid), str(tmp_path / "flipped.pkl"), "200"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-3000:]}"
    outcomes = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcomes["loaded"] + outcomes["DatasetError"] == 200 and outcomes["DatasetError"] > 0, outcomes
    assert outcomes["peak_rss_mb"] < 1024, outcomes


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_arrays_are_rebuilt_writable_and_equal(tmp_path, protocol):
    """Small arrays (read-only byte strings in the file) are copied; large ones use a writable buffer in place."""
    arrays = {"small": np.arange(12, dtype=">i4").reshape(3, 4), "large": np.ones((600, 500), np.float32).T}
    path = tmp_path / "arrays.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=protocol))
    loaded = safe_load(path)
    for key, array in arrays.items():
        np.testing.assert_array_equal(loaded[key], array)
        assert loaded[key].dtype == array.dtype and loaded[key].flags.writeable
