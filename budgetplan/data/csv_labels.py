"""Generic label CSV: one row per image, an id column, one column per class with 1 / 0 / blank.

Format (read by :func:`load_label_csv`, written by :func:`save_label_csv`; comma-separated, or
tab-separated for ``.tsv``; a ``.gz`` suffix means gzip)::

    id,source,patient,split,path,view,age,sex,Nodule,Mass,...
    img001.png,hospital,p17,train,images/img001.png,PA,63,F,1,0,...

- ``id`` (name set by ``id_column``): required, unique, not blank.
- ``source``, ``patient``, ``split``: optional. A missing or blank source is the ``source``
  argument (default: the file name without suffixes); a missing or blank patient is the image id
  (each image its own patient); a missing split column is drawn with :func:`patient_split`.
  Split names are train / val / test (case-insensitive; "valid" and "validation" mean val); a
  split column must be complete and must not put one patient in two splits.
- Known meta columns (``path``, ``view``, ``age``, ``sex``) and any column named ``meta:<name>``
  go to ``LabelTable.meta`` (``save_label_csv`` writes other meta columns with that prefix so that
  a table round-trips).
- Every other column is a class (or only ``classes``, if given). A label cell is ``1`` / ``1.0`` /
  ``true`` (positive), ``0`` / ``0.0`` / ``false`` (negative) or blank / ``nan`` / ``NA`` (not
  annotated), case-insensitive. Anything else (e.g. CheXpert's ``-1`` uncertain) is an error that
  names the row and column: map uncertain labels first, or use ``load_chexpert``.

Every problem raises :class:`~budgetplan.errors.InputFileError`: one line naming the file and the
row (1-based data row, with its line number in the file) or column.
"""

from __future__ import annotations

import csv
import gzip
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from budgetplan.data.label_table import SPLITS, LabelTable
from budgetplan.data.splits import patient_split
from budgetplan.errors import InputFileError, short_repr, suggest
from budgetplan.io import write_with_atomic

KNOWN_META = ("path", "view", "age", "sex")
META_PREFIX = "meta:"
NUMERIC_META = ("age",)

_POSITIVE = {"1", "1.0", "true"}
_NEGATIVE = {"0", "0.0", "false"}
_MISSING = {"", "nan", "na", "n/a"}
_SPLIT_ALIASES = {"valid": "val", "validation": "val"}


def parse_label_values(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map label strings to float32 1 / 0 / NaN.

    Returns ``(values, bad)`` where ``bad`` marks cells that are none of the accepted spellings
    (their value is NaN). Vectorised over the distinct strings, so a 100k x 20 table takes
    milliseconds.
    """
    flat = np.asarray(cells, dtype=object).ravel()
    codes, uniques = pd.factorize(flat, use_na_sentinel=True)
    mapped = np.full(len(uniques) + 1, np.nan, dtype=np.float32)  # last slot: real NaN cells
    bad_u = np.zeros(len(uniques) + 1, dtype=bool)
    for i, u in enumerate(uniques):
        tok = str(u).strip().lower()
        if tok in _POSITIVE:
            mapped[i] = 1.0
        elif tok in _NEGATIVE:
            mapped[i] = 0.0
        elif tok not in _MISSING:
            bad_u[i] = True
    codes = np.where(codes < 0, len(uniques), codes)
    shape = np.shape(cells)
    return mapped[codes].reshape(shape), bad_u[codes].reshape(shape)


def read_csv_checked(path: str | os.PathLike[str], **kwargs: object) -> pd.DataFrame:
    """``pandas.read_csv`` whose failures become one-line :class:`InputFileError` s."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "file not found")
    if path.is_dir():
        raise InputFileError(path, "is a directory, expected a CSV file")
    try:
        if path.stat().st_size == 0:
            raise InputFileError(path, "file is empty")
        return pd.read_csv(path, **kwargs)  # type: ignore[call-overload, no-any-return]
    except InputFileError:
        raise
    except pd.errors.EmptyDataError:
        raise InputFileError(path, "file is empty (no header line)") from None
    except pd.errors.ParserError as e:
        raise InputFileError(path, f"malformed CSV: {_one_line(e)}") from None
    except UnicodeDecodeError as e:
        raise InputFileError(
            path, f"not UTF-8 text ({e.reason} at byte {e.start}); is it a CSV?"
        ) from None
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise InputFileError(path, f"cannot read: {_one_line(e)}") from None


def load_label_csv(
    path: str | os.PathLike[str],
    id_column: str = "id",
    classes: Sequence[str] | None = None,
    source: str | None = None,
    *,
    patient_column: str = "patient",
    split_column: str = "split",
    source_column: str = "source",
    meta_columns: Sequence[str] = KNOWN_META,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
) -> LabelTable:
    """Read a label CSV (format in the module docstring) into a :class:`LabelTable`.

    Args:
        path: the CSV (``.csv`` or ``.csv.gz``).
        id_column: column with the image ids.
        classes: class columns to read, in this order; ``None`` = every column that is not the id,
            source, patient, split or a meta column.
        source: source name for rows without one (default: the file name without suffixes).
        patient_column, split_column, source_column: names of the optional columns.
        meta_columns: columns kept as per-image metadata instead of classes.
        fractions, seed: the patient-wise split drawn when the file has no split column.
    """
    path = Path(path)
    sep = "\t" if _stem_suffix(path) == ".tsv" else ","
    check_header(path, sep)
    # dtype=object: plain Python strings, faster here than pandas 3's Arrow-backed str columns
    df = read_csv_checked(path, sep=sep, dtype=object, keep_default_na=False, na_filter=False)
    if df.shape[1] == 0:
        raise InputFileError(path, "file is empty (no columns)")
    columns = [str(c).strip() for c in df.columns]
    df.columns = columns
    if len(columns) == 1:
        for mark, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if mark in columns[0]:
                raise InputFileError(
                    path, f"one column only: the header is separated by {name}, expected commas"
                )
    _check_duplicate_columns(path, columns, sep)
    if id_column not in columns:
        close = suggest(id_column, columns)
        hint = (
            f"; did you mean {', '.join(repr(c) for c in close)}? (pass id_column=...)"
            if close
            else ""
        )
        raise InputFileError(
            path, f"no id column {short_repr(id_column)}{hint}. Columns: {_listed(columns)}"
        )
    if len(df) == 0:
        raise InputFileError(path, "has a header but no rows")
    _check_rows(path, sep, df)

    ids = df[id_column].str.strip().to_numpy(dtype=object)
    blank = ids == ""
    if blank.any():
        r = int(np.argmax(blank))
        raise InputFileError(path, f"{_where(r)}: blank id in column {short_repr(id_column)}")
    _check_unique_ids(path, ids)

    meta_names = [c for c in columns if c in meta_columns or c.startswith(META_PREFIX)]
    reserved = {id_column, patient_column, split_column, source_column, *meta_names}
    if classes is None:
        class_cols = [c for c in columns if c not in reserved]
    else:
        class_cols = [str(c) for c in classes]
        for c in class_cols:
            if c not in columns:
                close = suggest(c, [x for x in columns if x not in reserved])
                hint = f"; did you mean {', '.join(repr(x) for x in close)}?" if close else ""
                raise InputFileError(path, f"no class column {short_repr(c)}{hint}")
        if len(set(class_cols)) != len(class_cols):
            raise InputFileError(path, f"classes lists a column twice: {class_cols}")
    if not class_cols:
        raise InputFileError(
            path, "no class columns (every column is the id, source, patient, split or meta)"
        )

    values, bad = parse_label_values(df[class_cols].to_numpy(dtype=object))
    if bad.any():
        r, j = (int(x) for x in np.argwhere(bad)[0])
        raw = str(df[class_cols[j]].iloc[r])
        n_bad = int(bad.sum())
        more = f" ({n_bad - 1} more bad cells)" if n_bad > 1 else ""
        hint = (
            " (uncertain labels: map them to 1, 0 or blank first)"
            if raw.strip() in ("-1", "-1.0")
            else ""
        )
        raise InputFileError(
            path,
            f"{_where(r)}, column {short_repr(class_cols[j])}: "
            f"label {short_repr(raw)} is not 1, 0 or blank{hint}{more}",
        )

    default_source = source if source is not None else _stem(path)
    src = _optional_column(df, source_column, default_source)
    assert src is not None  # a default was given
    patient = _optional_column(df, patient_column, None)
    patient = np.where(patient == "", ids, patient) if patient is not None else ids.copy()

    if split_column in columns:
        split = _parse_split(path, df[split_column], split_column, patient)
    else:
        split = None
    if split is None:
        split = patient_split(patient, fractions=fractions, seed=seed)

    meta = pd.DataFrame(index=range(len(df)))
    for c in meta_names:
        name = c[len(META_PREFIX) :] if c.startswith(META_PREFIX) else c
        meta[name] = _meta_values(df[c], name)
    return LabelTable(
        values=values,
        classes=class_cols,
        ids=ids,
        source=src,
        patient=patient,
        split=split,
        meta=meta,
    )


def save_label_csv(table: LabelTable, path: str | os.PathLike[str]) -> None:
    """Write ``table`` so that :func:`load_label_csv` reads it back unchanged; atomic.

    Labels are written as ``1`` / ``0`` / blank. A ``.gz`` suffix gzips the file (with a fixed
    timestamp, so equal tables give equal bytes).
    """
    path = Path(path)
    base = {"id": table.ids, "source": table.source, "patient": table.patient, "split": table.split}
    frame = pd.DataFrame(base)
    meta_names: list[str] = []
    for c in table.meta.columns:
        name = str(c) if str(c) in KNOWN_META else META_PREFIX + str(c)
        meta_names.append(name)
        frame[name] = table.meta[c].to_numpy()
    clash = sorted(set(table.classes) & set(frame.columns))
    if clash:
        raise InputFileError(
            path, f"class names {clash} clash with the id / source / patient / split / meta columns"
        )
    labels = pd.DataFrame(table.values, columns=table.classes).astype("Int8")  # 1 / 0 / <NA>
    frame = pd.concat([frame, labels], axis=1)

    text = frame.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    data = text.encode("utf-8")

    def writer(fh: BinaryIO) -> None:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, compresslevel=6, mtime=0) as gz:
                gz.write(data)
        else:
            fh.write(data)

    write_with_atomic(path, writer)


# ---------------------------------------------------------------------- helpers
#: Most columns a label CSV may have (a header wider than this is refused before parsing).
MAX_COLUMNS = 10_000
#: Longest cell (characters): ids, labels, paths. A longer one is refused, naming its row.
MAX_CELL = 4096
#: Longest header line read (bytes): far beyond MAX_COLUMNS names of reasonable length.
MAX_HEADER_BYTES = 4 << 20


def check_header(path: Path, sep: str = ",") -> None:
    """Refuse, before pandas parses the file, a header wider than :data:`MAX_COLUMNS` (a
    1.2M-column header took pandas minutes to refuse) or longer than MAX_HEADER_BYTES."""
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            line = fh.readline(MAX_HEADER_BYTES + 1)
    except (OSError, EOFError):
        return  # not a readable file: read_csv_checked says why, in its words
    if len(line) > MAX_HEADER_BYTES:
        raise InputFileError(
            path, f"the header line is longer than {MAX_HEADER_BYTES:,} bytes; is it a label CSV?"
        )
    n = line.count(sep.encode()) + 1
    if n > MAX_COLUMNS:
        raise InputFileError(
            path, f"the header has {n:,} columns; a label CSV may have at most {MAX_COLUMNS:,}"
        )


def _check_rows(path: Path, sep: str, df: pd.DataFrame) -> None:
    """Rows with fewer fields than the header, and cells longer than :data:`MAX_CELL`, are
    errors naming the row (and column). pandas would fill missing fields with blanks, i.e. "not
    annotated", and answer from labels that are not there; and one 10 MB id made every id a
    10 MB fixed-width string (gigabytes for a few hundred rows).

    Counts separators per line on the raw bytes (vectorised; the ``csv`` module when fields are
    quoted), so it adds milliseconds, not a second parse; cells are measured only when a line
    is longer than MAX_CELL.
    """
    n_columns = df.shape[1]
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as e:
        raise InputFileError(path, f"cannot read: {_one_line(e)}") from None
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    if not data.endswith(b"\n"):
        newlines = np.append(newlines, len(data))
    starts = np.concatenate(([0], newlines[:-1] + 1))
    length = newlines - starts
    if length.size and int(length.max()) > MAX_CELL:
        _check_cell_lengths(path, df)
    counts: Sequence[int] | np.ndarray
    lines: Sequence[int] | np.ndarray
    if b'"' in data:
        counts, lines = _field_counts_quoted(data, sep)
    else:
        length -= (length > 0) & (buf[np.maximum(newlines - 1, 0)] == 13)  # \r\n endings
        seps_before = np.searchsorted(np.flatnonzero(buf == ord(sep)), newlines)
        all_counts = np.diff(seps_before, prepend=0) + 1
        keep = length > 0  # pandas skips blank lines
        lines = np.flatnonzero(keep)[1:] + 1  # 1-based file lines of the data rows
        counts = all_counts[keep][1:]
    short = np.flatnonzero(np.asarray(counts) < n_columns)
    if short.size:
        r = int(short[0])
        extra = f" ({short.size - 1} more short rows)" if short.size > 1 else ""
        raise InputFileError(
            path,
            f"row {r + 1} (line {int(lines[r])}): has {int(counts[r])} fields but the header has "
            f"{n_columns}; every row needs a value (or an empty field) for each column{extra}",
        )


def _check_cell_lengths(path: Path, df: pd.DataFrame) -> None:
    for c in df.columns:
        lengths = df[c].str.len().to_numpy(dtype=np.int64, na_value=0)
        if lengths.size and int(lengths.max()) > MAX_CELL:
            r = int(np.argmax(lengths))
            raise InputFileError(
                path,
                f"{_where(r)}, column {short_repr(c)}: a cell of {int(lengths[r]):,} characters "
                f"({short_repr(df[c].iloc[r], 40)}); cells are at most {MAX_CELL:,}",
            )


def _field_counts_quoted(data: bytes, sep: str) -> tuple[list[int], list[int]]:
    """Fields per data row and its file line, with the csv module (quoted fields)."""
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(text.splitlines(keepends=True), delimiter=sep)
    counts, lines = [], []
    header = True
    for row in reader:
        if not row:
            continue
        if header:
            header = False
            continue
        counts.append(len(row))
        lines.append(reader.line_num)
    return counts, lines


def _listed(names: Sequence[str], limit: int = 30) -> str:
    text = ", ".join(short_repr(n) if len(n) > 40 else n for n in names[:limit])
    return text + (f", ... ({len(names):,} in all)" if len(names) > limit else "")


def _where(row: int) -> str:
    """Row ``row`` (0-based data row) as the user sees it: 1-based row and file line."""
    return f"row {row + 1} (line {row + 2})"


def _one_line(e: BaseException, limit: int = 300) -> str:
    text = " ".join(str(e)[: 4 * limit].split()) or type(e).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".tsv", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or "csv"


def _stem_suffix(path: Path) -> str:
    """The data suffix, ignoring a trailing ".gz" ("labels.tsv.gz" -> ".tsv")."""
    suffixes = [x.lower() for x in path.suffixes if x.lower() != ".gz"]
    return suffixes[-1] if suffixes else ""


def _check_duplicate_columns(path: Path, columns: list[str], sep: str = ",") -> None:
    """pandas renames a repeated header "x" to "x.1"; read the raw header to catch it."""
    if len(set(columns)) == len(columns) and not any(re.search(r"\.\d+$", c) for c in columns):
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # type: ignore[operator]
        header = next(csv.reader(fh, delimiter=sep), [])
    counts = pd.Series([h.strip() for h in header]).value_counts()
    repeated = counts[counts > 1]
    if len(repeated):
        names = ", ".join(f"{short_repr(k)} ({v} times)" for k, v in repeated.items())
        raise InputFileError(path, f"repeated column names in the header: {names}")


def _check_unique_ids(path: Path, ids: np.ndarray) -> None:
    s = pd.Series(ids)
    dup = s.duplicated(keep=False)
    if not dup.any():
        return
    groups = s[dup].groupby(s[dup], sort=False).groups
    parts = []
    for k, rows in list(groups.items())[:3]:
        parts.append(f"{short_repr(k)} (rows {', '.join(str(int(r) + 1) for r in rows)})")
    more = f" and {len(groups) - 3} more" if len(groups) > 3 else ""
    raise InputFileError(path, f"duplicate ids: {'; '.join(parts)}{more}")


def _strip(col: pd.Series) -> np.ndarray:
    """Strip surrounding whitespace, once per distinct value (columns repeat values a lot)."""
    codes, uniques = pd.factorize(col.to_numpy(dtype=object), use_na_sentinel=False)
    return np.asarray([str(u).strip() for u in uniques], dtype=object)[codes]


def _optional_column(df: pd.DataFrame, column: str, default: str | None) -> np.ndarray | None:
    """Stripped values of an optional column; blanks filled with ``default`` when given."""
    if column not in df.columns:
        return None if default is None else np.full(len(df), default, dtype=object)
    vals = _strip(df[column])
    if default is not None:
        vals = np.where(vals == "", default, vals)
    return vals


def _parse_split(path: Path, col: pd.Series, name: str, patient: np.ndarray) -> np.ndarray | None:
    raw = pd.Series(_strip(col), dtype=object)
    if (raw == "").all():
        return None  # an empty split column: draw the split
    norm = raw.str.lower().replace(_SPLIT_ALIASES).to_numpy(dtype=object)
    bad = ~np.isin(norm, SPLITS)
    if bad.any():
        r = int(np.argmax(bad))
        what = "blank split" if raw.iloc[r] == "" else f"unknown split {short_repr(raw.iloc[r])}"
        raise InputFileError(
            path,
            f"{_where(r)}, column {short_repr(name)}: {what}; expected one of {', '.join(SPLITS)}",
        )
    per_patient = pd.DataFrame({"p": patient, "s": norm}).groupby("p", sort=False)["s"].nunique()
    mixed = per_patient[per_patient > 1]
    if len(mixed):
        p = str(mixed.index[0])
        rows = np.flatnonzero(patient == p)[:4] + 1
        raise InputFileError(
            path,
            f"column {short_repr(name)}: patient {short_repr(p)} is in more than one split "
            f"(rows {', '.join(map(str, rows))});"
            " a patient's images must share one split",
        )
    return norm.astype(str)


def _meta_values(col: pd.Series, name: str) -> np.ndarray:
    """Meta columns stay strings, except age (when every non-blank cell is a number) and
    columns of only True / False (booleans)."""
    if name in NUMERIC_META:
        stripped = pd.Series(_strip(col), dtype=object)
        num = pd.to_numeric(stripped.replace("", np.nan), errors="coerce")
        if not (num.isna() & (stripped != "")).any():
            if num.notna().all() and (num == num.round()).all():
                return num.to_numpy(dtype=np.int64)
            return num.to_numpy(dtype=np.float64)
    if len(col) and col.isin(["True", "False"]).all():  # pandas writes bools this way
        return (col == "True").to_numpy(dtype=bool)
    return col.to_numpy(dtype=object)


__all__ = [
    "load_label_csv",
    "save_label_csv",
    "parse_label_values",
    "read_csv_checked",
    "KNOWN_META",
]
