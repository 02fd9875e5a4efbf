"""python -m dmdlab data synth | inspect | baseline."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys

import numpy as np

from dmdlab.cli import main


def test_synth_inspect_baseline(tmp_path, capsys):
    path = tmp_path / "d" / "tiny.pkl"
    assert main(["data", "synth", "--scale", "tiny", "--unaligned", "--seed", "4", "--out", str(path)]) == 0
    assert "192/48/96 clips" in capsys.readouterr().out
    assert path.is_file() and "audio_lengths" in pickle.loads(path.read_bytes())["train"]

    assert main(["data", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    for fragment in ("train    192", "192x18x5", "48x24x20", "exactly 0", "audio_len = 18", "aligned = False",
                     "non-finite feature values (0 in all"):
        assert fragment in out, fragment

    assert main(["data", "baseline", str(path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split(",")[0]: line.split()[-5:] for line in out.splitlines()[3:]}
    assert set(rows) == {"language", "vision", "audio", "all"}
    assert all(0 <= float(values[0]) <= 1 for values in rows.values())      # Non0_acc_2


def test_inspect_reports_nonfinite_counts(tmp_path, capsys, tiny_dataset_path):
    data = pickle.loads(tiny_dataset_path.read_bytes())
    data["valid"]["audio"][0, 0, 2:4] = -np.inf
    path = tmp_path / "inf.pkl"
    path.write_bytes(pickle.dumps(data))
    assert main(["data", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "non-finite feature values (2 in all" in out
    assert re.search(r"^\s*valid\s+audio\s+0\s+0\s+2\s+2$", out, flags=re.M)
    assert re.search(r"^\s*train\s+audio\s+0\s+0\s+0\s+0$", out, flags=re.M)


def test_malformed_file_is_one_line_error(tmp_path, capsys):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps({"train": {}, "valid": {}}))
    assert main(["data", "inspect", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "split 'test': missing split" in err and "\n" not in err


def test_module_entry_point(tmp_path):
    out = tmp_path / "t.pkl"
    result = subprocess.run([sys.executable, "-m", "dmdlab", "data", "synth", "--seed", "1", "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.is_file() and "wrote" in result.stdout
