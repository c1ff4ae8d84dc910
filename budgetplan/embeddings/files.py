"""Embeddings and ids a user already has, read and checked: shared by ``budgetplan ingest`` and
the app's upload, so both accept and refuse the same files with the same one-line errors.

Arrays are read with ``allow_pickle=False`` (never unpickle a user's file).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from budgetplan.errors import InputFileError, short_repr

#: Longest image id (characters), as in a label CSV's cells.
MAX_ID = 4096
#: Names of the array an ``.npz`` may hold besides others.
NPZ_NAMES = ("embeddings", "vectors", "features")


def check_vectors(arr: np.ndarray, where: str | Path, chunk: int = 16384) -> np.ndarray:
    """``arr`` when it is an (N, d) array of finite numbers, else a one-line error naming
    ``where`` (and the first row holding NaN or inf). Checked in row chunks, so a memory-mapped
    file is not loaded whole."""
    if not isinstance(arr, np.ndarray):  # e.g. an .npz archive renamed .npy
        raise InputFileError(where, "is not a single array (an .npz archive named .npy?)")
    if arr.ndim != 2:
        raise InputFileError(where, f"expected an (N, d) array, found shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise InputFileError(where, f"expected numbers, found dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        for s in range(0, arr.shape[0], chunk):
            finite = np.isfinite(arr[s : s + chunk]).all(axis=1)
            if not finite.all():
                r = s + int(np.argmin(finite))
                what = "NaN" if np.isnan(arr[r]).any() else "inf"
                raise InputFileError(where, f"row {r} contains {what}; embeddings must be finite")
    return arr


def _unreadable(where: str | Path, exc: BaseException, what: str) -> InputFileError:
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    return InputFileError(where, f"not a readable {what} without pickles ({first})")


def load_embeddings(path: Path) -> np.ndarray:
    """An (N, d) array from a .npy (memory-mapped) or an .npz with one array; never unpickles."""
    if not path.is_file():
        raise InputFileError(path, "file not found")
    if path.stat().st_size == 0:
        raise InputFileError(path, "file is empty")
    try:
        if path.suffix == ".npz":
            loaded = np.load(path, allow_pickle=False)
            if isinstance(loaded, np.ndarray):  # an .npy named .npz: it is one array anyway
                return check_vectors(loaded, path)
            with loaded as z:
                names = list(z.files)
                pick = [n for n in names if n in NPZ_NAMES] or names
                if len(pick) != 1:
                    raise InputFileError(
                        path, f"holds arrays {names[:10]}; keep one, or name it 'embeddings'"
                    )
                arr = z[pick[0]]
        else:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if not isinstance(arr, np.ndarray):  # np.load opened a zip archive
                arr.close()
                raise InputFileError(path, "is an .npz archive named .npy; rename it .npz")
    except InputFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _unreadable(path, exc, ".npy/.npz array") from None
    return check_vectors(arr, path)


def embeddings_from_bytes(data: bytes, name: str) -> np.ndarray:
    """An (N, d) float32 array from the bytes of a ``.npy`` (e.g. an upload named ``name``)."""
    if not data:
        raise InputFileError(name, "file is empty")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _unreadable(name, exc, ".npy array") from None
    if isinstance(arr, np.lib.npyio.NpzFile):  # pragma: no cover - np.load of .npz bytes
        raise InputFileError(name, "is an .npz archive; upload a single .npy array")
    return check_vectors(arr, name).astype(np.float32, copy=False)


def parse_ids(lines: Sequence[str], where: str | Path) -> list[str]:
    """Ids, one per line, in row order: stripped; blank trailing lines ignored; an empty file, a
    blank line or a repeated id is a one-line error naming ``where`` and the line."""
    lines = list(lines)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InputFileError(where, "file is empty (no ids)")
    ids = [s.strip() for s in lines]
    seen: dict[str, int] = {}
    for i, s in enumerate(ids):
        if len(s) > MAX_ID:
            raise InputFileError(
                where,
                f"line {i + 1}: an id of {len(s):,} characters ({short_repr(s, 40)}); "
                f"ids are at most {MAX_ID:,}",
            )
        if not s:
            raise InputFileError(
                where, f"line {i + 1} is blank; every row of the embeddings needs an id"
            )
        if s in seen:
            raise InputFileError(
                where, f"duplicate id {short_repr(s)} on lines {seen[s] + 1} and {i + 1}"
            )
        seen[s] = i
    return ids


def load_ids(path: Path) -> list[str]:
    """The ids of a text file, one per line (see :func:`parse_ids`)."""
    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read as UTF-8 text: {exc}") from None
    return parse_ids(text.splitlines(), path)


def ids_from_bytes(data: bytes, name: str) -> list[str]:
    """The ids of the bytes of a text file (e.g. an upload named ``name``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(name, "ids file is not UTF-8 text") from None
    return parse_ids(text.splitlines(), name)


__all__ = [
    "check_vectors",
    "embeddings_from_bytes",
    "ids_from_bytes",
    "load_embeddings",
    "load_ids",
    "parse_ids",
]
