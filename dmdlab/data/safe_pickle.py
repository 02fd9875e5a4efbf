"""Loading untrusted dataset pickles without running anything in them.

An MMSA dataset pickle usually comes from a stranger's file share. ``pickle.load`` would
import and call whatever the file names, so a crafted file runs arbitrary code. Here a
restricted :class:`pickle.Unpickler` resolves only the globals that numpy arrays, numpy
dtypes and numpy scalars need, plus builtin containers and scalars; anything else is
refused with a :class:`~dmdlab.data.errors.DatasetError` naming the file and the global,
before the global is imported, so nothing in the file executes.

Admitted globals (old and new numpy spellings both, since MMSA files were written with
numpy 1.x and dmdlab writes with numpy 2):

- ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct`` and
  ``numpy.ndarray``: array reconstruction (pickle protocols 0-4);
- ``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer``: array
  reconstruction from a byte buffer (protocol 5);
- ``numpy.dtype``; ``numpy.core.multiarray.scalar`` / ``numpy._core.multiarray.scalar``;
- ``builtins`` (or Python 2's ``__builtin__``) ``list``, ``dict``, ``tuple``, ``set``,
  ``frozenset``, ``bytearray``, ``complex``, ``int``, ``float``, ``str``, ``bytes``,
  ``bool``; ``collections.OrderedDict``;
- ``_codecs.encode`` restricted to the latin-1 codec (how protocol 2 stores ``bytes``).

The names map to the objects of the running numpy directly, so loading an old file never
imports the deprecated ``numpy.core`` package.
"""

from __future__ import annotations

import codecs
import collections
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dmdlab.data.errors import DatasetError

# The running numpy's reconstruction functions, found from the objects themselves so this
# works on numpy 1.x and 2.x alike.
_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_SCALAR = np.float32(0).__reduce__()[0]


def _latin1_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol 2 uses it (``bytes`` stored as latin-1 text), nothing more."""
    if not isinstance(obj, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"_codecs.encode is admitted only for str -> latin-1, got {encoding!r}")
    return codecs.encode(obj, "latin-1", errors)


_BUILTINS = {name: getattr(__import__("builtins"), name) for name in (
    "list", "dict", "tuple", "set", "frozenset", "bytearray", "complex", "int", "float", "str", "bytes", "bool")}

ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _latin1_encode,
    **{("builtins", name): obj for name, obj in _BUILTINS.items()},
    **{("__builtin__", name): obj for name, obj in _BUILTINS.items()},
}
"""(module, name) -> the object it resolves to; every other global is refused."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` and refuses everything else."""

    def __init__(self, file, *, source: str | Path = "<pickle>") -> None:
        # latin1: numpy arrays pickled by Python 2 carry their raw bytes as str.
        super().__init__(file, encoding="latin1")
        self.source = str(source)

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DatasetError(
                f"{self.source}: refused to load: the pickle asks for the global '{module}.{name}', "
                "which is not a numpy array, dtype or scalar, nor a builtin container. Nothing in the "
                "file was executed. A dataset file holds only dicts of numpy arrays; this one may be "
                "malicious or of another kind."
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DatasetError(f"{self.source}: refused to load: the pickle uses a persistent id ({pid!r}).")


def _looks_like_pickle(head: bytes) -> bool:
    """True for the first bytes of a pickle: a protocol-2+ header, or a protocol-0/1 opcode."""
    if len(head) >= 2 and head[0] == 0x80:
        return head[1] <= pickle.HIGHEST_PROTOCOL
    return bool(head) and head[:1] in b"(]}lde.NIFLSVc"


def safe_load(path: str | Path) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`; every failure is a :class:`DatasetError`.

    The file is opened read-only and never modified.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such dataset file")
    with open(path, "rb") as file:
        head = file.read(2)
        if not head:
            raise DatasetError(f"{path}: the file is empty; expected a pickled dict of splits")
        if not _looks_like_pickle(head):
            raise DatasetError(f"{path}: not a pickle file (it starts with {head!r}); expected a pickled dict of "
                               "splits 'train', 'valid', 'test' in the MMSA layout")
        file.seek(0)
        try:
            return RestrictedUnpickler(file, source=path).load()
        except DatasetError:
            raise
        except Exception as error:  # noqa: BLE001 -- any unpickling failure means a bad file
            raise DatasetError(
                f"{path}: truncated or corrupt pickle ({type(error).__name__}: {error}); "
                "the file may be incompletely downloaded") from error
