"""Atomic file writes, shared by every part of dmdlab that writes to disk.

``atomic_write`` fills a temporary file in the target's directory, flushes it to disk and
swaps it in with ``os.replace``: a killed process leaves either the old file or the new
one, never half of one. The new file gets the usual permissions (0666 less the umask),
not the 0600 of the temporary file.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write"]


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | Path, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write a file atomically: ``write(handle)`` fills a temp file that replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, _default_mode())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path
