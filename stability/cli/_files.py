"""Reading arrays for the command line: safe, bounded, and with one-line named errors.

Formats are recognised by their content first (the ``.npy`` magic string, a zip
archive), then by suffix for text: ``.npy``, ``.npz`` (NumPy; never unpickled),
``.csv`` and ``.txt`` (numbers separated by commas or white space, an optional header
line, ``#`` comments) and ``.pt`` (a PyTorch tensor or a dict of tensors, read with
``weights_only=True``; needs PyTorch). Before any array is loaded its declared size is
checked against :func:`memory_limit`, and the file size against the declared size (a
truncated file is named as such). Only real numeric arrays are accepted: booleans,
complex numbers, dates, strings and objects are refused, as are NaN and infinities.

Examples
--------
>>> import numpy as np, pathlib, tempfile
>>> from stability.cli._files import load_array
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "x.csv").write_text("a,b\\n1,2\\n3,4\\n")
>>> load_array(str(folder / "x.csv"), option="--data")
array([[1., 2.],
       [3., 4.]])
"""

from __future__ import annotations

import importlib.util
import io
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from stability.errors import InvalidInputError, SizeLimitError

__all__ = ["FORMATS", "load_array", "memory_limit"]

#: File suffixes read as arrays.
FORMATS = (".npy", ".npz", ".csv", ".txt", ".pt")
#: Largest text file read (bytes).
MAX_TEXT_BYTES = 256 * 2**20
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


class FileError(InvalidInputError):
    """An input file the command line cannot use (one line naming the file and why)."""


def memory_limit() -> int:
    """The largest array (bytes) the command line loads: half the available memory, ≤ 8 GiB.

    Examples
    --------
    >>> from stability.cli._files import memory_limit
    >>> memory_limit() > 2**20
    True
    """
    available = 4 * 2**30
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return int(min(available // 2, 8 * 2**30))


def _size_text(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.3g} {unit}"
        size /= 1024
    return f"{size:.3g} EiB"  # pragma: no cover


def _check_declared(
    path: str, shape: tuple[int, ...], dtype: np.dtype, available: int | None
) -> None:
    _check_dtype(path, dtype)
    count = 1
    for extent in shape:
        count *= int(extent)
    needed = count * dtype.itemsize
    limit = memory_limit()
    if needed > limit:
        raise SizeLimitError(
            f"cannot read {path}: it declares an array of shape {shape} ({_size_text(needed)}), "
            f"more than the {_size_text(limit)} this machine can spare"
        )
    if available is not None and needed > available:
        raise FileError(
            f"cannot read {path}: truncated; its header declares shape {shape} "
            f"({_size_text(needed)}) but only {_size_text(available)} of data follow"
        )


def _check_dtype(path: str, dtype: np.dtype) -> None:
    if dtype.fields is not None or dtype.subdtype is not None:
        raise FileError(f"cannot read {path}: a structured array; give a plain array of numbers")
    kind = dtype.kind
    if kind in "iuf":
        return
    names = {
        "b": "booleans",
        "c": "complex numbers",
        "M": "dates",
        "m": "time spans",
        "O": "Python objects",
        "U": "text",
        "S": "bytes",
        "V": "raw bytes",
    }
    raise FileError(
        f"cannot read {path}: it holds {names.get(kind, f'dtype {dtype}')} ({dtype}); "
        "give real numbers (integers or floats)"
    )


def _read_npy(path: str, stream: Any, available: int) -> np.ndarray:
    """Read one ``.npy`` from ``stream`` holding ``available`` bytes, header checked first."""
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy_format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except Exception as error:  # any malformed header: tokenizer, syntax, value errors
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise FileError(f"cannot read {path}: not a valid .npy header ({detail})") from None
    header = stream.tell()
    _check_declared(path, tuple(shape), dtype, available - header)
    try:
        data = stream.read()
        count = 1
        for extent in shape:
            count *= int(extent)
        array = np.frombuffer(data, dtype=dtype, count=count)
        if fortran:
            return array.reshape(shape[::-1]).transpose().copy()
        return array.reshape(shape).copy()
    except Exception as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise FileError(f"cannot read {path}: corrupt .npy data ({detail})") from None


def _read_npz(path: str, file: Path, key: str | None) -> np.ndarray:
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise FileError(f"cannot read {path}: not a valid .npz archive ({error})") from None
    with archive:
        members = {
            info.filename[:-4] if info.filename.endswith(".npy") else info.filename: info
            for info in archive.infolist()
        }
        names = list(members)
        if not names:
            raise FileError(f"cannot read {path}: the archive holds no arrays")
        if key is None:
            if len(names) != 1:
                raise FileError(
                    f"{path} holds {len(names)} arrays ({', '.join(names)}); name one with --key"
                )
            key = names[0]
        if key not in members:
            raise FileError(f"{path} has no array {key!r}; it has {', '.join(names)}")
        info = members[key]
        try:
            with archive.open(info) as member:
                head = member.read(4096)
                if not head.startswith(_NPY_MAGIC):
                    raise FileError(f"cannot read {path}: member {key!r} is not a .npy array")
                rest = _BoundedReader(member, head, info.file_size)
                return _read_npy(f"{path} (array {key!r})", rest, info.file_size)
        except FileError:
            raise
        except SizeLimitError:
            raise
        except Exception as error:  # zlib.error, BadZipFile (CRC), EOFError, ...
            detail = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise FileError(f"cannot read {path}: corrupt .npz archive ({detail})") from None


class _BoundedReader(io.RawIOBase):
    """A stream over ``head`` followed by ``member``, which reads no more than it declares."""

    def __init__(self, member: Any, head: bytes, size: int) -> None:
        self._buffer = io.BytesIO(head)
        self._member = member
        self._position = 0
        self._size = size

    def read(self, count: int = -1) -> bytes:  # type: ignore[override]
        chunk = self._buffer.read(count if count is not None and count >= 0 else -1)
        if count is None or count < 0:
            chunk += self._member.read()
        elif len(chunk) < count:
            chunk += self._member.read(count - len(chunk))
        self._position += len(chunk)
        return chunk

    def tell(self) -> int:
        return self._position

    def readable(self) -> bool:
        return True


def _read_text(path: str, file: Path, size: int) -> np.ndarray:
    if size > MAX_TEXT_BYTES:
        raise SizeLimitError(
            f"cannot read {path}: {_size_text(size)} of text is more than the "
            f"{_size_text(MAX_TEXT_BYTES)} read from text files; save it as .npy"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FileError(f"cannot read {path}: not a text file (use .npy, .npz or .csv)") from None
    lines = [
        (number, line.split("#", 1)[0].strip())
        for number, line in enumerate(text.splitlines(), start=1)
    ]
    lines = [(number, line) for number, line in lines if line]
    if not lines:
        raise FileError(f"cannot read {path}: no numbers in it")
    delimiter = "," if any("," in line for _, line in lines) else None
    rows: list[list[float]] = []
    for index, (number, line) in enumerate(lines):
        fields = [field.strip() for field in (line.split(delimiter) if delimiter else line.split())]
        try:
            values = [float(field) for field in fields]
        except ValueError:
            if index == 0:
                continue  # a header line
            bad = next(field for field in fields if not _is_float(field))
            raise FileError(f"cannot read {path}: line {number}: {bad!r} is not a number") from None
        if rows and len(values) != len(rows[0]):
            raise FileError(
                f"cannot read {path}: line {number} has {len(values)} columns, the first "
                f"row has {len(rows[0])}"
            )
        rows.append(values)
    if not rows:
        raise FileError(f"cannot read {path}: no numbers in it (only a header)")
    return np.array(rows, dtype=float)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_torch(path: str, file: Path, key: str | None) -> np.ndarray:
    if importlib.util.find_spec("torch") is None:
        raise FileError(
            f"cannot read {path}: .pt files need PyTorch (pip install torch); "
            "or save the array with numpy.save as .npy"
        )
    import torch

    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except Exception:
        raise FileError(
            f"cannot read {path}: not a tensor file that loads without unpickling code (only "
            "tensors and dicts of tensors are read)"
        ) from None
    if isinstance(loaded, dict):
        tensors = {str(name): value for name, value in loaded.items() if torch.is_tensor(value)}
        if key is None:
            if len(tensors) != 1:
                raise FileError(
                    f"{path} holds {len(tensors)} tensors ({', '.join(tensors)}); name one "
                    "with --key"
                )
            key = next(iter(tensors))
        if key not in tensors:
            raise FileError(f"{path} has no tensor {key!r}; it has {', '.join(tensors)}")
        loaded = tensors[key]
    if not torch.is_tensor(loaded):
        raise FileError(f"cannot read {path}: it holds a {type(loaded).__name__}, not a tensor")
    if loaded.is_complex():
        raise FileError(f"cannot read {path}: it holds complex numbers; give real numbers")
    return loaded.detach().cpu().double().numpy()


def load_array(path: str, key: str | None = None, *, option: str = "file") -> np.ndarray:
    """Read a real numeric array, refusing anything that is not one with a named reason.

    Parameters
    ----------
    path : str
        The file name as given on the command line.
    key : str, optional
        The array inside an ``.npz`` (or a dict in ``.pt``); default its only array.
    option : str
        The flag the path came from, for messages (``"--data"``).

    Returns
    -------
    numpy.ndarray
        A finite float or integer array with at least one entry.

    Raises
    ------
    InvalidInputError
        For a missing, unreadable, corrupt, truncated, empty or non-numeric file.
    SizeLimitError
        If the declared array is larger than :func:`memory_limit`.

    Examples
    --------
    >>> from stability.cli._files import load_array
    >>> load_array("", option="--data")
    Traceback (most recent call last):
    ...
    stability.cli._files.FileError: --data: empty file name
    """
    if not path:
        raise FileError(f"{option}: empty file name")
    file = Path(path)
    try:
        status = file.stat()
    except FileNotFoundError:
        raise FileError(f"cannot read {path}: no such file") from None
    except OSError as error:
        raise FileError(f"cannot read {path}: {error.strerror or error}") from None
    if stat.S_ISDIR(status.st_mode):
        raise FileError(f"cannot read {path}: it is a directory, not a file")
    if not stat.S_ISREG(status.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(status.st_mode) else "not a regular file"
        if stat.S_ISSOCK(status.st_mode):
            kind = "a socket"
        elif stat.S_ISCHR(status.st_mode) or stat.S_ISBLK(status.st_mode):
            kind = "a device"
        raise FileError(f"cannot read {path}: it is {kind}; give a regular file")
    if not os.access(file, os.R_OK):
        raise FileError(f"cannot read {path}: permission denied")
    size = status.st_size
    if size == 0:
        raise FileError(f"cannot read {path}: the file is empty")
    suffix = file.suffix.lower()
    try:
        with open(file, "rb") as stream:
            magic = stream.read(6)
            if magic.startswith(_NPY_MAGIC):
                stream.seek(0)
                array = _read_npy(path, stream, size)
            elif magic[:4] in _ZIP_MAGICS and suffix != ".pt":
                array = None
            elif suffix in (".npy", ".npz"):
                raise FileError(
                    f"cannot read {path}: not a NumPy {suffix} file (its first bytes are "
                    f"{magic!r})"
                )
            else:
                array = None
    except OSError as error:
        raise FileError(f"cannot read {path}: {error.strerror or error}") from None
    if array is None:
        if magic[:4] in _ZIP_MAGICS and suffix != ".pt":
            array = _read_npz(path, file, key)
        elif suffix in (".csv", ".txt"):
            array = _read_text(path, file, size)
        elif suffix == ".pt":
            array = _read_torch(path, file, key)
        else:
            raise FileError(
                f"cannot read {path}: unknown format {suffix or '(no suffix)'!r} "
                f"(use {', '.join(FORMATS)})"
            )
    _check_dtype(path, array.dtype)
    if array.size == 0:
        raise FileError(f"cannot read {path}: the array is empty (shape {array.shape})")
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            index = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise FileError(
                f"cannot read {path}: entry {index} is {array[index]}; every entry must be finite"
            )
    return array
