"""Atomic file writes and file hashes, shared by every part of dmdlab that touches disk.

``atomic_write`` fills a temporary file in the target's directory, flushes it to disk and
swaps it in with ``os.replace``: a killed process leaves either the old file or the new
one, never half of one. The new file gets the usual permissions (0666 less the umask),
not the 0600 of the temporary file.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["UnsafeFileError", "atomic_write", "can_write", "file_sha256", "is_temporary", "open_no_follow",
           "writable_file"]

TEMP_SUFFIX = ".tmp"


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def writable_file(path: str | Path, what: str = "output file") -> Path:
    """``path`` if a file can be written there: not a directory, its parent not a file (ValueError otherwise)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory; expected the path of the {what} to write")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{path}: {parent} is a file, not a directory")
            break
    return path


class UnsafeFileError(ValueError):
    """A path that is a link, not a regular file, or (to write) a file with other names or another owner."""


def open_no_follow(path: str | Path, flags: int = os.O_RDONLY, *, what: str = "file", mode: int = 0o644) -> int:
    """A descriptor of ``path`` opened without following a link (``O_NOFOLLOW``), never waiting on a FIFO.

    Refused (:class:`UnsafeFileError`, one line): a symbolic link, anything but a regular file, and, when
    opened for writing, a file with more than one name (a hard link to someone's file) or another owner.
    ``O_EXCL`` in ``flags`` creates the file or fails. Other failures are the usual ``OSError``.
    """
    import errno
    import stat

    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFileError(f"{path}: the {what} is a symbolic link; dmdlab never reads or writes through a "
                                  "link (remove it, or give the file itself)") from None
        raise
    info = os.fstat(fd)
    writing = flags & (os.O_WRONLY | os.O_RDWR)
    problem = ("is not a regular file" if not stat.S_ISREG(info.st_mode) else
               f"has {info.st_nlink} names (a hard link to another file)" if writing and info.st_nlink != 1 else
               "belongs to another user" if writing and info.st_uid != os.geteuid() else None)
    if problem:
        os.close(fd)
        raise UnsafeFileError(f"{path}: the {what} {problem}; dmdlab writes only files of its own (remove it, or "
                              "choose another folder)")
    return fd


def can_write(path: str | Path) -> bool:
    """True when ``path`` (or, if missing, the nearest folder above it that exists) can be written by this
    process: False on a read-only file system (a shared cache mounted read-only) or without permission."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return os.access(path, os.W_OK)


def is_temporary(name: str, targets) -> bool:
    """True for the temporary file ``atomic_write`` makes for one of ``targets`` (a name in the same folder)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX) and any(
        name.startswith(f".{target}.") for target in targets)


def file_sha256(path: str | Path, expect_stat: tuple[int, int] | None = None) -> str:
    """The hex SHA-256 of a file's bytes; with ``expect_stat`` (size, mtime_ns), refuse a file changed since."""
    path = Path(path)
    with open(path, "rb") as stream:
        stat = os.fstat(stream.fileno())
        if expect_stat is not None and (stat.st_size, stat.st_mtime_ns) != tuple(expect_stat):
            raise ValueError(f"{path}: the file changed since it was loaded (size or modification time differ)")
        return hashlib.file_digest(stream, "sha256").hexdigest()


def atomic_write(path: str | Path, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write a file atomically: ``write(handle)`` fills a temp file that replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
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
