"""Embeddings and ids a user already has: the CLI and the app's upload refuse the same files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from budgetplan.embeddings.files import (
    embeddings_from_bytes,
    ids_from_bytes,
    load_embeddings,
    load_ids,
)
from budgetplan.errors import InputFileError


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def test_ids_from_file_and_upload_give_the_same_errors(tmp_path: Path) -> None:
    text = "a.png\n\nb.png\n"
    (tmp_path / "ids.txt").write_text(text)
    for read in (
        lambda: load_ids(tmp_path / "ids.txt"),
        lambda: ids_from_bytes(text.encode(), "ids.txt"),
    ):
        with pytest.raises(InputFileError, match=r"ids\.txt: line 2 is blank"):
            read()
    with pytest.raises(InputFileError, match="duplicate id 'a.png' on lines 1 and 3"):
        ids_from_bytes(b"a.png\nb.png\na.png\n", "up.txt")
    assert ids_from_bytes(b" a.png \nb.png\n\n\n", "up.txt") == ["a.png", "b.png"]


def test_embeddings_from_file_and_upload_agree_and_never_unpickle(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.save(tmp_path / "x.npy", x)
    from_file = load_embeddings(tmp_path / "x.npy")
    from_bytes = embeddings_from_bytes(_npy(x), "x.npy")
    assert from_bytes.dtype == np.float32 and np.array_equal(from_file, from_bytes)
    pickled = _npy(np.array([{"a": 1}], dtype=object))
    with pytest.raises(
        InputFileError, match=r"^up\.npy: not a readable \.npy array without pickles"
    ):
        embeddings_from_bytes(pickled, "up.npy")
    with pytest.raises(InputFileError, match=r"expected an \(N, d\) array, found shape \(4,\)"):
        embeddings_from_bytes(_npy(x[:, 0]), "up.npy")
