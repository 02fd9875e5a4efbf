"""Loading untrusted dataset pickles: nothing in the file runs, and the worst case is a clear error.

An MMSA dataset pickle usually comes from a stranger's file share. ``pickle.load`` would
import and call whatever the file names, so a crafted file runs arbitrary code; and even a
loader that only admits numpy's own globals lets the file drive ``numpy.dtype.__setstate__``
and ``numpy.ndarray(buffer=..., strides=...)``, which read memory outside any array, and
lets CPython's C unpickler crash on corrupt opcodes. So this module parses the pickle
itself, with the pure-Python unpickler of the standard library (``pickle._Unpickler``)
and every opcode that calls, builds or allocates replaced:

- **Globals** resolve to a closed set of constructors (:data:`ALLOWED_GLOBALS`), each
  checking its arguments; any other global is refused by name before anything is imported.
  Instance opcodes (``INST``, ``OBJ``, ``NEWOBJ``, ``NEWOBJ_EX``) are refused; ``BUILD``
  is accepted only on an array or a dtype under construction.
- **Arrays** are rebuilt here from (shape, dtype, raw bytes): ``np.frombuffer`` over the
  file's bytes, with ``prod(shape) * itemsize == len(bytes)`` checked first, C or Fortran
  order, never a stride from the file. Object arrays are accepted only when every element
  is a str or bytes.
- **Dtypes** are rebuilt from a short type string only: bool, int and uint of 1-8 bytes,
  float of 2, 4 or 8 bytes, fixed-width str (``U``) and bytes (``S``), and object. The
  file's dtype state is checked (no fields, no subarray, an item size matching the type
  string) and then dropped: ``numpy.dtype.__setstate__`` is never called.
- **Byte strings** of 1 MiB or more (array data) are read straight into a writable buffer,
  which the array then uses: no copy, and the loader can convert in place.
- **Sizes** are checked against the file: no length-prefixed payload may claim more bytes
  than the file holds, ints are at most 64 bits, dict and set keys are scalars (so hashing
  never recurses) and a dict or set holds at most :data:`MAX_ITEMS` of them, and the
  number of opcodes (each creates at most one object) is at most :data:`MAX_OPCODES` or
  one per 64 bytes of file, whichever is larger: memory and time stay linear in the file.

Every failure is a :class:`~dmdlab.data.errors.DatasetError` naming the file. The bounds
and the memory they imply are stated in ``docs/DESIGN.md`` (section "Loading untrusted
files").

Admitted globals (old and new numpy spellings both, since MMSA files were written with
numpy 1.x and dmdlab writes with numpy 2): numpy's ``_reconstruct`` (with ``numpy.ndarray``
as its class), ``_frombuffer``, ``scalar`` and ``dtype``; ``builtins`` (or Python 2's
``__builtin__``) ``set``, ``frozenset``, ``bytearray``, ``bytes``, ``complex``;
``collections.OrderedDict``; ``_codecs.encode`` restricted to the latin-1 codec (how
protocol 2 stores ``bytes``).
"""

from __future__ import annotations

import codecs
import collections
import io
import math
import mmap
import os
import pickle
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dmdlab.data.errors import DatasetError

MAX_OPCODES = 2_000_000
"""Pickle opcodes a file may hold (each creates at most one object), or one per 64 bytes if more."""
_BYTES_PER_OPCODE = 64
MAX_ITEMS = 4096
"""Entries of one dict or set (a dataset's dicts hold splits and keys)."""
MAX_NDIM = 32
_LARGE_PAYLOAD = 1 << 20   # byte strings this long are read straight into a writable buffer

_DTYPE = re.compile(r"(?P<kind>[biufUSO])(?P<size>\d{1,9})\Z")
_NUMERIC_SIZES = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8), "O": (8,)}
_SCALAR_KEYS = (str, bytes, int, float, bool, type(None))


class _Refused(pickle.UnpicklingError):
    """A structure the loader does not admit (the message says which); becomes a DatasetError."""


class _Pending:
    """An array or dtype between its REDUCE and its BUILD (the file's state is checked there)."""

    def __init__(self, build: Callable[[Any], Any], what: str):
        self.build, self.what, self.value = build, what, None

    def result(self) -> Any:
        if self.value is None:
            raise _Refused(f"the {self.what} is used before its state is set")
        return self.value


class _Constructor:
    """What an admitted global resolves to: a callable that checks its arguments."""

    def __init__(self, name: str, function: Callable[..., Any]):
        self.name, self.function = name, function

    def __call__(self, *args: Any) -> Any:
        try:
            return self.function(*args)
        except TypeError:
            raise _Refused(f"{self.name} called with {len(args)} unexpected argument(s)") from None

    def __repr__(self) -> str:
        return self.name


# --------------------------------------------------------------------------- dtypes and arrays


def _dtype_from_string(text: Any, align: Any = False, copy: Any = True) -> _Pending:
    """``numpy.dtype('f4', False, True)``: only a simple type string; the byte order comes with BUILD."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    match = _DTYPE.match(text) if isinstance(text, str) else None
    if match is None:
        raise _Refused(f"dtype {text!r} is not admitted (only bool, int, uint, float, str, bytes and object)")
    kind, size = match["kind"], int(match["size"])
    if kind in _NUMERIC_SIZES and size not in _NUMERIC_SIZES[kind]:
        raise _Refused(f"dtype {text!r} is not admitted (size {size} for kind {kind!r})")
    itemsize = 4 * size if kind == "U" else size

    def build(state: Any) -> np.dtype:
        if not (isinstance(state, tuple) and len(state) in (8, 9)):
            raise _Refused(f"dtype {text!r}: expected a state of 8 or 9 items, found {type(state).__name__}")
        _, order, subarray, names, fields, elsize, alignment = state[:7]
        if subarray is not None or names is not None or fields is not None or (len(state) == 9 and state[8]):
            raise _Refused(f"dtype {text!r}: fields, subarrays and metadata are not admitted")
        if order not in ("<", ">", "|", "="):
            raise _Refused(f"dtype {text!r}: byte order {order!r} is not admitted")
        if elsize not in (-1, itemsize) or not isinstance(alignment, int):
            raise _Refused(f"dtype {text!r}: item size {elsize!r} in the state, expected {itemsize}")
        return np.dtype(f"{'|' if kind in 'bSO' or size == 1 else order}{kind}{size}")

    return _Pending(build, f"dtype {text!r}")


def _admitted_dtype(dtype: Any) -> np.dtype:
    if isinstance(dtype, _Pending):
        dtype = dtype.result()
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufUSO" or dtype.fields is not None \
            or dtype.subdtype is not None:
        raise _Refused(f"expected a simple numpy dtype, found {type(dtype).__name__}")
    return dtype


def _shape(shape: Any) -> tuple[int, ...]:
    if not (isinstance(shape, tuple) and len(shape) <= MAX_NDIM
            and all(type(size) is int and size >= 0 for size in shape)):
        raise _Refused(f"array shape {shape!r} is not a tuple of at most {MAX_NDIM} sizes >= 0")
    return shape


def _buffer(data: Any) -> bytes | bytearray | memoryview:
    if isinstance(data, str):   # Python 2 pickles carry raw bytes as (latin-1 decoded) str
        return data.encode("latin-1")
    if isinstance(data, memoryview):
        data = data.cast("B") if data.contiguous else None
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _Refused(f"array data must be bytes, found {type(data).__name__}")
    return data


def _array(shape: Any, dtype: Any, fortran: Any, data: Any) -> np.ndarray:
    """An array from the file's shape, dtype and raw bytes (or, for object arrays, a list of str)."""
    shape, dtype = _shape(shape), _admitted_dtype(dtype)
    count = math.prod(shape)
    order = "F" if fortran else "C"
    if dtype.kind == "O":
        if not (isinstance(data, list) and len(data) == count):
            raise _Refused(f"object array of shape {shape}: expected a list of {count} strings")
        if not all(isinstance(item, (str, bytes)) for item in data):
            raise _Refused("object arrays may hold only str or bytes")
        array = np.empty(count, dtype=object)
        array[:] = data
        return array.reshape(shape, order=order)
    data = _buffer(data)
    if count * dtype.itemsize != memoryview(data).nbytes:
        raise _Refused(f"array of shape {shape} and dtype {dtype} needs {count * dtype.itemsize} bytes, "
                       f"the file gives {len(data)}")
    if memoryview(data).readonly:   # a small byte string: copied, so that every array is writable
        data = bytearray(data)
    return np.frombuffer(data, dtype=dtype, count=count).reshape(shape, order=order)


def _reconstruct(cls: Any, base: Any = (0,), typecode: Any = b"b") -> _Pending:
    """numpy's ``_reconstruct(ndarray, (0,), b'b')``: an array whose BUILD state gives its contents."""
    if cls is not _NDARRAY:
        raise _Refused(f"_reconstruct of {cls!r} (only numpy.ndarray is admitted)")

    def build(state: Any) -> np.ndarray:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise _Refused(f"array state: expected (version, shape, dtype, fortran, data), found "
                           f"{type(state).__name__} of {len(state) if isinstance(state, tuple) else '?'} items")
        return _array(*state[1:])

    return _Pending(build, "array")


def _frombuffer(data: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """numpy's protocol-5 ``_frombuffer(buffer, dtype, shape, order)``."""
    if order not in ("C", "F"):
        raise _Refused(f"array order {order!r} (expected 'C' or 'F')")
    if _admitted_dtype(dtype).kind == "O":
        raise _Refused("an object array cannot come from a byte buffer")
    return _array(shape, dtype, order == "F", data)


def _scalar(dtype: Any, data: Any = b"") -> np.generic:
    """numpy's ``scalar(dtype, bytes)``: numeric and string scalars only."""
    dtype = _admitted_dtype(dtype)
    if dtype.kind == "O":
        raise _Refused("object scalars are not admitted")
    return _array((), dtype, False, data)[()]


def _refuse_ndarray(*args: Any) -> None:
    raise _Refused("numpy.ndarray may only be named as the class of _reconstruct")


_NDARRAY = _Constructor("numpy.ndarray", _refuse_ndarray)


# --------------------------------------------------------------------------- builtins


def _scalars(items: Any, what: str) -> list:
    items = list(items) if isinstance(items, (list, tuple)) else None
    if items is None or len(items) > MAX_ITEMS or not all(isinstance(item, _SCALAR_KEYS) for item in items):
        raise _Refused(f"{what} must be built from at most {MAX_ITEMS} scalars")
    return items


def _latin1_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol 2 uses it (``bytes`` stored as latin-1 text), nothing more."""
    if not isinstance(obj, str) or not isinstance(encoding, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise _Refused(f"_codecs.encode is admitted only for str -> latin-1, got {encoding!r}")
    return codecs.encode(obj, "latin-1", "strict")


def _bytearray(data: Any = b"", encoding: Any = None) -> bytearray:
    if encoding is not None:
        return bytearray(_latin1_encode(data, encoding))
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _Refused(f"bytearray of {type(data).__name__} (expected bytes)")
    return bytearray(data)


def _bytes(*args: Any) -> bytes:
    if args:
        raise _Refused("bytes(...) is admitted only without arguments")
    return b""


def _complex(real: Any = 0.0, imag: Any = 0.0) -> complex:
    if not all(isinstance(part, (int, float)) for part in (real, imag)):
        raise _Refused("complex(...) of non-numbers")
    return complex(real, imag)


def _ordered_dict(*args: Any) -> collections.OrderedDict:
    if args:
        raise _Refused("OrderedDict(...) is admitted only without arguments (items come with SETITEMS)")
    return collections.OrderedDict()


_BUILTINS = {
    "set": lambda items=(): set(_scalars(items, "a set")),
    "frozenset": lambda items=(): frozenset(_scalars(items, "a frozenset")),
    "bytearray": _bytearray, "bytes": _bytes, "complex": _complex,
}

ALLOWED_GLOBALS: dict[tuple[str, str], _Constructor] = {
    **{(module, "_reconstruct"): _Constructor("numpy _reconstruct", _reconstruct)
       for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "_frombuffer"): _Constructor("numpy _frombuffer", _frombuffer)
       for module in ("numpy.core.numeric", "numpy._core.numeric")},
    **{(module, "scalar"): _Constructor("numpy scalar", _scalar)
       for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Constructor("numpy.dtype", _dtype_from_string),
    ("collections", "OrderedDict"): _Constructor("collections.OrderedDict", _ordered_dict),
    ("_codecs", "encode"): _Constructor("_codecs.encode", _latin1_encode),
    **{(module, name): _Constructor(f"builtins.{name}", function)
       for module in ("builtins", "__builtin__") for name, function in _BUILTINS.items()},
}
"""(module, name) -> the checked constructor it resolves to; every other global is refused."""


# --------------------------------------------------------------------------- the unpickler


class _Source:
    """The file, refusing any read of more bytes than remain (so no length in the file allocates more)."""

    def __init__(self, file: io.BufferedReader, size: int):
        self.file, self.size = file, size

    def remaining(self) -> int:
        return self.size - self.file.tell()

    def check(self, n: int) -> None:
        if n > self.remaining():
            raise pickle.UnpicklingError(f"an item claims {n} bytes but only {self.remaining()} remain in the file")

    def read(self, n: int = -1) -> bytes:
        if n > 0:
            self.check(n)
        return self.file.read(n)

    def readline(self) -> bytes:
        return self.file.readline()

    def readinto(self, buffer: bytearray) -> int:
        self.check(len(buffer))
        return self.file.readinto(buffer)


class RestrictedUnpickler(pickle._Unpickler):  # noqa: SLF001 -- the pure-Python unpickler, on purpose
    """The pure-Python unpickler with every calling, building or allocating opcode checked (module docstring)."""

    dispatch = dict(pickle._Unpickler.dispatch)  # noqa: SLF001

    def on(opcode: bytes, dispatch: dict = dispatch):  # noqa: N805 -- a decorator used while the class body runs
        def register(function):
            dispatch[opcode[0]] = function
            return function
        return register

    def __init__(self, file, *, source: str | Path = "<pickle>", size: int | None = None) -> None:
        if size is None:
            size = os.fstat(file.fileno()).st_size
        self._source = _Source(file, size)
        # latin1: numpy arrays pickled by Python 2 carry their raw bytes as str.
        super().__init__(self._source, encoding="latin1")
        self.source = str(source)
        self.max_opcodes = max(MAX_OPCODES, size // _BYTES_PER_OPCODE)

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
        raise _Refused("the pickle uses a persistent id")

    def load(self) -> Any:
        """The loop of ``pickle._Unpickler.load`` (same attributes), one opcode at a time."""
        self._unframer = pickle._Unframer(self._source.read, self._source.readline)  # noqa: SLF001
        self.read, self.readinto, self.readline = (self._unframer.read, self._unframer.readinto,
                                                   self._unframer.readline)
        self.metastack, self.stack = [], []
        self.append = self.stack.append
        self.proto = 0
        read, dispatch = self.read, self.dispatch
        try:
            for _ in range(self.max_opcodes):   # each opcode makes at most one object: memory and time bounded
                key = read(1)
                if not key:
                    raise EOFError("the pickle ends before its STOP opcode")
                dispatch[key[0]](self)
        except pickle._Stop as stop:  # noqa: SLF001
            return stop.value
        raise _Refused(f"the file has more than {self.max_opcodes:,} pickle opcodes (at most {MAX_OPCODES:,} or one "
                       f"per {_BYTES_PER_OPCODE} bytes of file); a dataset file holds a few per array and string")

    # -- payloads: never larger than the file; large byte strings land in a writable buffer

    def _in_frame(self) -> bool:
        """True while a protocol-4 frame has bytes left (an exhausted one is dropped)."""
        frame = self._unframer.current_frame
        if frame is not None and frame.read(1):
            frame.seek(-1, io.SEEK_CUR)
            return True
        self._unframer.current_frame = None
        return False

    def _payload(self, n: int, writable: bool = False) -> bytes | memoryview:
        """``n`` bytes of the file. From ``_LARGE_PAYLOAD`` up (or ``writable``) they are read into an
        uninitialised writable buffer, returned as a memoryview: arrays then use the bytes in place."""
        if not self._in_frame():
            self._source.check(n)   # before anything of size n is allocated
            if n >= _LARGE_PAYLOAD or writable:
                buffer = memoryview(mmap.mmap(-1, n)) if n else memoryview(bytearray())  # pages zeroed lazily
                if self._source.readinto(buffer) != n:
                    raise EOFError("the file ends inside a byte string")
                return buffer
        data = self.read(n)
        if len(data) != n:
            raise EOFError("the file ends inside a byte string")
        return bytearray(data) if writable else data

    @on(pickle.BINBYTES8)
    def _load_binbytes8(self):
        self.append(self._payload(int.from_bytes(self.read(8), "little")))

    @on(pickle.BINBYTES)
    def _load_binbytes(self):
        self.append(self._payload(int.from_bytes(self.read(4), "little")))

    @on(pickle.BYTEARRAY8)
    def _load_bytearray8(self):
        self.append(self._payload(int.from_bytes(self.read(8), "little"), writable=True))

    @on(pickle.LONG)
    def _load_long(self):
        line = self.readline()[:-1]
        if len(line) > 21:
            raise _Refused("an int of more than 64 bits")
        self.append(int(line.rstrip(b"L") or b"0"))

    @on(pickle.LONG1)
    def _load_long1(self):
        n = self.read(1)[0]
        if n > 8:
            raise _Refused("an int of more than 64 bits")
        self.append(pickle.decode_long(self.read(n)))

    @on(pickle.LONG4)
    def _load_long4(self):
        raise _Refused("an int of more than 64 bits (LONG4)")

    # -- the memo: a pending array or dtype is handed out only once built

    def _get(self, index: int) -> None:
        value = self.memo[index]
        self.append(value.result() if isinstance(value, _Pending) else value)

    @on(pickle.GET)
    def _load_get(self):
        self._get(int(self.readline()[:-1]))

    @on(pickle.BINGET)
    def _load_binget(self):
        self._get(self.read(1)[0])

    @on(pickle.LONG_BINGET)
    def _load_long_binget(self):
        self._get(int.from_bytes(self.read(4), "little"))

    # -- containers: lists take anything; dict keys and set items are scalars, at most MAX_ITEMS

    @on(pickle.APPEND)
    def _load_append(self):
        value = self.stack.pop()
        self._list(self.stack[-1]).append(value)

    @on(pickle.APPENDS)
    def _load_appends(self):
        items = self.pop_mark()
        self._list(self.stack[-1]).extend(items)

    @staticmethod
    def _list(target: Any) -> list:
        if type(target) is not list:
            raise _Refused(f"APPEND to a {type(target).__name__}")
        return target

    def _set_items(self, target: Any, items: list) -> None:
        if not isinstance(target, dict):
            raise _Refused(f"SETITEM on a {type(target).__name__}")
        keys = items[0::2]
        if len(target) + len(keys) > MAX_ITEMS or not all(isinstance(key, _SCALAR_KEYS) for key in keys):
            raise _Refused(f"a dict must have at most {MAX_ITEMS} keys, each a str, bytes or number")
        for key, value in zip(keys, items[1::2]):
            target[key] = value

    @on(pickle.DICT)
    def _load_dict(self):
        items, target = self.pop_mark(), {}
        self._set_items(target, items)
        self.append(target)

    @on(pickle.SETITEM)
    def _load_setitem(self):
        value, key = self.stack.pop(), self.stack.pop()
        self._set_items(self.stack[-1], [key, value])

    @on(pickle.SETITEMS)
    def _load_setitems(self):
        items = self.pop_mark()
        self._set_items(self.stack[-1], items)

    @on(pickle.ADDITEMS)
    def _load_additems(self):
        items, target = self.pop_mark(), self.stack[-1]
        if type(target) is not set or len(target) + len(items) > MAX_ITEMS:
            raise _Refused(f"ADDITEMS on a {type(target).__name__} or beyond {MAX_ITEMS} items")
        target.update(_scalars(items, "a set"))

    @on(pickle.FROZENSET)
    def _load_frozenset(self):
        items = frozenset(_scalars(self.pop_mark(), "a frozenset"))
        self.append(items)

    # -- calls: only admitted constructors; BUILD only on an array or dtype under construction

    @on(pickle.REDUCE)
    def _load_reduce(self):
        args = self.stack.pop()
        function = self.stack[-1]
        if not isinstance(function, _Constructor) or not isinstance(args, tuple):
            raise _Refused(f"REDUCE on a {type(function).__name__} (only admitted globals can be called)")
        self.stack[-1] = function(*args)

    @on(pickle.BUILD)
    def _load_build(self):
        state = self.stack.pop()
        target = self.stack[-1]
        if not isinstance(target, _Pending) or target.value is not None:
            raise _Refused(f"BUILD on a {type(target).__name__} (only arrays and dtypes take a state)")
        target.value = target.build(state)
        self.stack[-1] = target.value

    def _refuse_instance(self):
        raise _Refused("instance opcodes (INST, OBJ, NEWOBJ) are not admitted in a dataset file")

    for _opcode in (pickle.INST, pickle.OBJ, pickle.NEWOBJ, pickle.NEWOBJ_EX):
        dispatch[_opcode[0]] = _refuse_instance
    del _opcode, on


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
        if path.is_dir():
            raise DatasetError(f"{path}: is a directory; expected an MMSA pickle file")
        raise FileNotFoundError(f"{path}: no such dataset file")
    try:
        file = open(path, "rb")
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read ({error.strerror or error})") from None
    with file:
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
        except _Refused as error:
            raise DatasetError(f"{path}: refused to load: {error}. Nothing in the file was executed; a dataset "
                               "file holds only dicts of numpy arrays, strings and numbers.") from None
        except Exception as error:  # noqa: BLE001 -- any unpickling failure means a bad file
            raise DatasetError(
                f"{path}: truncated or corrupt pickle ({type(error).__name__}: {error}); "
                "the file may be incompletely downloaded") from None
