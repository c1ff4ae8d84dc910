"""Embedding extraction on a few tiny generated images, with random weights (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from budgetplan.cli import main
from budgetplan.embeddings import backbones, extract
from budgetplan.embeddings.extract import extract_embeddings, read_image
from budgetplan.errors import BudgetplanError, InputFileError

SIZE = 32  # smallest input the DenseNet trunk accepts; keeps the tests fast


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> object:
    """Tiny inputs: one thread avoids seconds of thread-pool start-up on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Five small images: 8-bit grey (non-square), 16-bit grey, RGB JPEG."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        p = root / f"img{i}.png"
        Image.fromarray((rng.random((40, 52)) * 255).astype(np.uint8)).save(p)
        paths.append(p)
    p = root / "deep.png"
    Image.fromarray((rng.random((36, 36)) * 65535).astype(np.uint16)).save(p)
    paths.append(p)
    p = root / "colour.jpg"
    Image.fromarray((rng.random((30, 30, 3)) * 255).astype(np.uint8)).save(p)
    paths.append(p)
    return paths


@pytest.mark.parametrize("backbone", ["densenet121-imagenet", "xrv-densenet121-all"])
def test_random_weights_give_unit_1024_vectors_and_resume_from_shards(
    backbone: str, images: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shards = tmp_path / "shards"
    out = extract_embeddings(
        images,
        backbone=backbone,
        random_weights=True,
        batch_size=2,
        image_size=SIZE,
        shard_dir=shards,
        shard_size=2,
    )
    assert out.vectors.shape == (5, 1024) and out.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-5)
    assert out.ids == [p.name for p in images]
    assert out.info["random_weights"] is True and out.info["backbone"] == backbone
    assert len(set(map(bytes, out.vectors))) == 5  # different images, different vectors
    files = sorted(shards.rglob("shard-*.npy"))
    assert len(files) == 3  # 2 + 2 + 1 images

    # A rerun reads the finished shards; after deleting one, only that one is recomputed.
    files[1].unlink()
    calls: list[int] = []
    real = extract._embed_batch

    def counting(model, paths, *a, **k):  # type: ignore[no-untyped-def]
        calls.append(len(paths))
        return real(model, paths, *a, **k)

    monkeypatch.setattr(extract, "_embed_batch", counting)
    again = extract_embeddings(
        images,
        backbone=backbone,
        random_weights=True,
        batch_size=2,
        image_size=SIZE,
        shard_dir=shards,
        shard_size=2,
    )
    assert calls == [2]
    np.testing.assert_allclose(again.vectors, out.vectors, atol=1e-5)


def test_shards_as_executor_jobs_equal_the_local_loop_and_resume(
    images: list[Path], tmp_path: Path
) -> None:
    """The path ``embed --executor ray`` takes (one job per missing shard, the caller writes
    each result), run by an in-process executor; Ray itself is tested in
    tests/planner/test_ray.py."""
    from budgetplan.planner.executor import LocalExecutor

    kw = {"random_weights": True, "batch_size": 2, "image_size": SIZE, "shard_size": 2}
    local = extract_embeddings(images, **kw)
    shards = tmp_path / "shards"
    seen: list[int] = []
    jobs: list[extract.ShardJob] = []

    class Recording(LocalExecutor):
        def map(self, fn, todo):  # type: ignore[no-untyped-def]
            jobs.extend(todo)
            return super().map(fn, todo)

    out = extract_embeddings(
        images,
        **kw,
        shard_dir=shards,
        executor=Recording(),
        progress=lambda d, t, m: seen.append(d),
    )
    assert np.array_equal(out.vectors, local.vectors) and out.ids == local.ids
    assert [len(j.paths) for j in jobs] == [2, 2, 1] and seen[-1] == 5
    files = sorted(shards.rglob("shard-*.npy"))
    assert len(files) == 3
    files[0].unlink()  # a rerun submits only the missing shard
    jobs.clear()
    again = extract_embeddings(images, **kw, shard_dir=shards, executor=Recording())
    assert [j.paths for j in jobs] == [tuple(str(p) for p in images[:2])]
    assert np.array_equal(again.vectors, out.vectors)


@pytest.mark.parametrize("backbone", ["densenet121-imagenet", "xrv-densenet121-all"])
def test_refuses_without_weights(
    backbone: str, images: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backbones, "torchvision_weights_path", lambda: tmp_path / "none.pth")
    monkeypatch.setattr(backbones, "xrv_weights_path", lambda: tmp_path / "none.pt")
    with pytest.raises(BudgetplanError) as err:
        extract_embeddings(images, backbone=backbone, image_size=SIZE)
    text = str(err.value)
    assert "no weights" in text and str(tmp_path / "none.p") in text
    assert "--weights" in text and "--random-weights" in text
    assert not list(tmp_path.iterdir())  # nothing downloaded or written


def test_weights_file_is_read_as_state_dict_only(images: list[Path], tmp_path: Path) -> None:
    import torchvision

    model = torchvision.models.densenet121(weights=None)
    with torch.no_grad():
        model.features.conv0.weight.mul_(2.0)  # weights that differ from a fresh random init
    good = tmp_path / "w.pt"
    torch.save(model.state_dict(), good)
    out = extract_embeddings(images[:2], weights=good, image_size=SIZE, batch_size=2)
    feats = backbones._TorchvisionFeatures(model).eval()
    x = torch.from_numpy(
        np.stack(
            [
                backbones.preprocess(
                    read_image(p, SIZE), backbones.BACKBONES["densenet121-imagenet"]
                )
                for p in images[:2]
            ]
        )
    )
    with torch.inference_mode():
        ref = torch.nn.functional.normalize(feats(x), dim=1).numpy()
    np.testing.assert_allclose(out.vectors, ref, atol=1e-4)
    assert out.info["weights"] == str(good) and out.info["random_weights"] is False

    pickled = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)  # a whole pickled module, not a state_dict
    with pytest.raises(InputFileError, match="weights_only=True"):
        extract_embeddings(images[:1], weights=pickled, image_size=SIZE)
    other = tmp_path / "other.pt"
    torch.save({"layer.weight": torch.zeros(3)}, other)
    with pytest.raises(InputFileError, match="not a DenseNet-121 state_dict"):
        extract_embeddings(images[:1], weights=other, image_size=SIZE)


def test_unreadable_image_names_the_file(images: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(InputFileError, match="broken.png: unreadable image"):
        extract_embeddings([images[0], bad], random_weights=True, image_size=SIZE)


def test_read_image_scales_16_bit_and_crops_square(tmp_path: Path) -> None:
    p = tmp_path / "x.png"
    Image.fromarray(np.full((20, 30), 65535, dtype=np.uint16)).save(p)
    img = read_image(p, 16)
    assert img.shape == (16, 16) and np.allclose(img, 1.0)


def test_embed_command_writes_a_dataset(
    images: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.csv"
    rows = ["id,Nodule,Mass"] + [
        f"{p.name},{i % 2},{(i + 1) % 2}" for i, p in enumerate(images[:4])
    ]
    labels.write_text("\n".join(rows) + "\n")
    out = tmp_path / "ds"
    argv = ["embed", "--images", str(images[0].parent), "--labels", str(labels), "--out", str(out)]
    assert main([*argv, "--random-weights", "--image-size", str(SIZE), "--batch-size", "2"]) == 0
    from budgetplan.dataset import Dataset

    ds = Dataset.open(out)
    assert len(ds) == 4 and ds.embeddings.dim == 1024 and not ds.simulated
    manifest = json.loads((out / "embeddings" / "manifest.json").read_text())
    assert manifest["random_weights"] is True and manifest["backbone"] == "densenet121-imagenet"
    assert not (tmp_path / ".ds.shards").exists()  # shards removed once the dataset is written

    labels.write_text("id,Nodule\nmissing.png,1\n" + f"{images[0].name},0\n")
    assert main([*argv[:-1], str(tmp_path / "ds2"), "--random-weights"]) == 2
    assert "1 of 2 label rows have no image" in capsys.readouterr().err
    assert not (tmp_path / "ds2").exists()


def test_images_match_ids_with_or_without_extension(tmp_path: Path) -> None:
    from budgetplan.data.label_table import LabelTable
    from budgetplan.embeddings.extract import match_images
    from budgetplan.errors import DataMismatchError

    (tmp_path / "sub").mkdir()
    for name in ("d0.png", "sub/d1.png", "d2.dcm.png", "extra.jpg"):
        Image.new("L", (4, 4)).save(tmp_path / name)

    def table(ids: list[str]) -> LabelTable:
        n = len(ids)
        return LabelTable(
            values=np.zeros((n, 1), np.float32),
            classes=["8"],
            ids=np.array(ids),
            source=np.array(["x"] * n),
            patient=np.array(ids),
            split=np.array(["train"] * n),
        )

    paths, unlabelled = match_images(table(["d0", "d1.png", "d2"]), tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "d0.png",
        "sub/d1.png",
        "d2.dcm.png",
    ]
    assert unlabelled == 1
    Image.new("L", (4, 4)).save(tmp_path / "sub" / "d0.jpg")  # now "d0" names two files
    with pytest.raises(DataMismatchError, match="'d0' occurs more than once"):
        match_images(table(["d0"]), tmp_path)
    with pytest.raises(DataMismatchError, match="1 of 1 label rows have no image.*named e.g."):
        match_images(table(["d9"]), tmp_path)


def test_download_is_only_used_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--download calls the library's downloader (faked here: tests never download)."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    calls: list[str] = []

    def fake_download(url: str, model_dir: str, **kwargs: object) -> dict:
        calls.append(url)
        state = backbones._TorchvisionFeatures(
            __import__("torchvision").models.densenet121(weights=None)
        ).model.state_dict()
        Path(model_dir).mkdir(parents=True, exist_ok=True)
        torch.save(state, Path(model_dir) / backbones.TORCHVISION_DENSENET121_FILE)
        return state

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    with pytest.raises(BudgetplanError, match="pass --download to fetch it"):
        backbones.load_backbone("densenet121-imagenet")
    assert calls == []
    _, info = backbones.load_backbone("densenet121-imagenet", download=True)
    assert calls == [backbones.TORCHVISION_DENSENET121_URL]
    assert info == {"weights": str(backbones.torchvision_weights_path()), "random_weights": False}
    backbones.load_backbone("densenet121-imagenet", download=True)  # cached now: no second call
    assert len(calls) == 1


def test_a_failed_download_is_one_line_naming_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No network (faked: tests never download): one error with the URL and what to do."""
    import urllib.error

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(url: str, model_dir: str, **kwargs: object) -> dict:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(BudgetplanError) as info:
        backbones.load_backbone("densenet121-imagenet", download=True)
    message = str(info.value)
    assert "\n" not in message and backbones.TORCHVISION_DENSENET121_URL in message
    assert "name resolution" in message and "--weights FILE" in message


def test_a_failed_xrv_download_is_one_line_naming_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chest X-ray backbone's weights come through torchxrayvision's own loader; offline
    (faked: tests never download) that too is one error with the URL and what to do."""
    import urllib.error

    import torchxrayvision as xrv

    monkeypatch.setattr(xrv.utils, "get_cache_dir", lambda: str(tmp_path / "xrv") + "/")
    asked: list[object] = []

    def offline(*args: object, **kwargs: object) -> None:
        asked.append(kwargs.get("weights"))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(xrv.models, "DenseNet", offline)
    with pytest.raises(BudgetplanError, match="pass --download to fetch it"):
        backbones.load_backbone("xrv-densenet121-all")
    assert asked == []
    with pytest.raises(BudgetplanError) as info:
        backbones.load_backbone("xrv-densenet121-all", download=True)
    message = str(info.value)
    assert asked == [backbones.XRV_WEIGHTS_NAME]
    assert "\n" not in message and backbones.weights_url("xrv-densenet121-all") in message
    assert "name resolution" in message and str(tmp_path / "xrv") in message
