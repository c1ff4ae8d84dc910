"""``budgetplan ingest`` end to end on a small generated set, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from budgetplan.cli import main
from budgetplan.dataset import Dataset


def write_inputs(
    tmp: Path, n: int = 60, d: int = 12
) -> tuple[Path, Path, Path, np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)).astype(np.float32)
    ids = [f"scan_{i:03d}.png" for i in range(n)]
    np.save(tmp / "emb.npy", x)
    (tmp / "ids.txt").write_text("\n".join(ids) + "\n")
    lines = ["image,Nodule,Mass"]
    for i in reversed(range(n)):  # labels in another order than the embeddings
        lines.append(f"{ids[i]},{i % 2},{'' if i % 5 == 0 else (i // 2) % 2}")
    (tmp / "labels.csv").write_text("\n".join(lines) + "\n")
    return tmp / "emb.npy", tmp / "ids.txt", tmp / "labels.csv", x, ids


def ingest(emb: Path, ids: Path, labels: Path, out: Path, *extra: str) -> int:
    argv = ["ingest", "--embeddings", str(emb), "--ids", str(ids), "--labels", str(labels)]
    return main([*argv, "--out", str(out), "--id-column", "image", *extra])


def test_ingest_builds_an_aligned_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emb, ids_path, labels, x, ids = write_inputs(tmp_path)
    assert (
        ingest(
            emb, ids_path, labels, tmp_path / "out", "--backbone", "my-net", "--target", "Nodule"
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "images: 60" in out and "embedding dim: 12" in out and "index: flat" in out
    ds = Dataset.open(tmp_path / "out")
    assert list(ds.labels.ids) == ids
    np.testing.assert_array_equal(ds.labels.column("Nodule"), np.arange(60) % 2)
    assert np.isnan(ds.labels.column("Mass")[0]) and ds.default_target == "Nodule"
    assert ds.embeddings.manifest["backbone"] == "my-net"
    np.testing.assert_allclose(ds.vectors[3], x[3] / np.linalg.norm(x[3]), atol=1e-6)


def test_ingest_accepts_npz_and_an_approximate_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emb, ids_path, labels, x, _ = write_inputs(tmp_path, n=400)
    np.savez(tmp_path / "emb.npz", embeddings=x)
    assert ingest(tmp_path / "emb.npz", ids_path, labels, tmp_path / "out", "--index", "hnsw") == 0
    assert "recall@10" in capsys.readouterr().out


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line (a progress bar, if enabled, may precede it on stderr)."""
    lines = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("budgetplan: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in "".join(lines)
    return errors[0]


def test_ingest_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emb, ids_path, labels, x, ids = write_inputs(tmp_path)
    out = tmp_path / "out"

    (tmp_path / "short.txt").write_text("\n".join(ids[:-1]))
    assert ingest(emb, tmp_path / "short.txt", labels, out) == 2
    assert "short.txt has 59 ids but" in _error(capsys)

    bad = x.copy()
    bad[17, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert ingest(tmp_path / "nan.npy", ids_path, labels, out) == 2
    assert "nan.npy: row 17 contains NaN" in _error(capsys)

    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert ingest(tmp_path / "obj.npy", ids_path, labels, out) == 2
    assert "obj.npy: not a readable .npy/.npz array without pickles" in _error(capsys)

    (tmp_path / "empty.txt").write_text("")
    assert ingest(emb, tmp_path / "empty.txt", labels, out) == 2
    assert "empty.txt: file is empty" in _error(capsys)

    (tmp_path / "dup.txt").write_text("\n".join([*ids[:-1], ids[0]]))
    assert ingest(emb, tmp_path / "dup.txt", labels, out) == 2
    assert "duplicate id 'scan_000.png' on lines 1 and 60" in _error(capsys)

    renamed = [*ids[:-1], "unknown.png"]
    (tmp_path / "other.txt").write_text("\n".join(renamed))
    assert ingest(emb, tmp_path / "other.txt", labels, out) == 2
    assert "1 of 60 label ids have no embedding (e.g. ['scan_059.png'])" in _error(capsys)

    assert (
        main(
            [
                "ingest",
                "--embeddings",
                str(emb),
                "--ids",
                str(ids_path),
                "--labels",
                str(labels),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "no id column 'id'" in _error(capsys)
    assert not out.exists()
