"""Store choice and datasets made from uploads (``budgetplan.app_support.stores``)."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from budgetplan import app_support as sup
from budgetplan.errors import BudgetplanError, DataMismatchError, InputFileError

from .conftest import CLASSES, make_labels


def test_the_support_package_imports_no_streamlit() -> None:
    code = "import sys, budgetplan.app_support; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_parse_store() -> None:
    assert sup.parse_store(None) == sup.StoreChoice("demo")
    assert sup.parse_store("demo") == sup.StoreChoice("demo")
    assert sup.parse_store("demo:300") == sup.StoreChoice("demo", n_images=300)
    assert sup.parse_store("demo:300").spec == "demo:300"
    assert sup.parse_store("/data/ds") == sup.StoreChoice("path", path="/data/ds")
    with pytest.raises(BudgetplanError, match="demo:N"):
        sup.parse_store("demo:many")


def test_default_store_and_quick_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sup.STORE_ENV, "demo:50")
    monkeypatch.setenv(sup.QUICK_ENV, "1")
    assert sup.default_store().n_images == 50
    assert sup.quick_mode()
    monkeypatch.delenv(sup.STORE_ENV)
    monkeypatch.setenv(sup.QUICK_ENV, "0")
    assert sup.default_store().kind == "demo" and not sup.quick_mode()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _csv(table) -> bytes:
    frame = table.to_frame()
    return frame.to_csv(index=False, na_rep="").encode()


def test_ingest_upload_builds_and_reopens_a_dataset(tmp_path) -> None:
    table, x = make_labels(200)
    ds = sup.ingest_upload(_csv(table), "mine.csv", _npy(x), "vec.npy", root=tmp_path)
    assert list(ds.classes) == CLASSES and len(ds) == 200
    np.testing.assert_array_equal(ds.labels.values, table.values)
    again = sup.ingest_upload(_csv(table), "mine.csv", _npy(x), "vec.npy", root=tmp_path)
    assert again.root == ds.root and again.checksum == ds.checksum


def test_ingest_upload_refuses_pickles_and_mismatches(tmp_path) -> None:
    table, x = make_labels(200)
    pickled = _npy(np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(InputFileError, match=r"vec\.npy: .*pickle"):
        sup.ingest_upload(_csv(table), "mine.csv", pickled, "vec.npy", root=tmp_path)
    with pytest.raises(DataMismatchError, match="mine.csv has 200 rows but vec.npy has 199"):
        sup.ingest_upload(_csv(table), "mine.csv", _npy(x[:199]), "vec.npy", root=tmp_path)
    with pytest.raises(InputFileError, match=r"^vec\.npy: expected an \(N, d\) array"):
        sup.ingest_upload(_csv(table), "mine.csv", _npy(x[:, 0]), "vec.npy", root=tmp_path)
    with pytest.raises(InputFileError, match=r"^bad\.csv: "):
        sup.ingest_upload(b"", "bad.csv", _npy(x), "vec.npy", root=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-written
