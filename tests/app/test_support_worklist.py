"""The worklist view, its 2-D map and thumbnails (``app_support.worklist``,
``planner.report_map``), and the Markdown report's worklist with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from budgetplan import app_support as sup
from budgetplan.planner.export import markdown_report, worklist
from budgetplan.planner.report_map import project_2d, resolve_image, text_map, worklist_map

from .conftest import make_labels, tiny_plan


def _png(path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), 128, dtype=np.uint8)).save(path)
    return path


def test_projection_is_pca_and_repeatable() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 10)) * np.array([5.0, 3.0] + [0.1] * 8)  # two loud axes
    xy = project_2d(x, np.arange(400), seed=0)
    assert xy.shape == (400, 2)
    # the map keeps the two loud axes (up to sign): each map axis follows one of them
    assert abs(np.corrcoef(xy[:, 0], x[:, 0])[0, 1]) > 0.99
    assert abs(np.corrcoef(xy[:, 1], x[:, 1])[0, 1]) > 0.99
    assert np.array_equal(xy[[5, 2]], project_2d(x, [5, 2], seed=0))  # same map for a subset


def test_worklist_map_marks_the_plan_images_with_rank() -> None:
    labels, x = make_labels()
    plan = tiny_plan()
    frame = worklist_map(x, labels, worklist(plan, labels), "Nodule", background=100)
    work = frame[frame["role"] == "to annotate"]
    assert work["image_id"].tolist() == ["img0001.png", "img0002.png"]
    assert work["rank"].tolist() == [1.0, 2.0] and set(work["classes"]) == {"Mass"}
    assert (frame["role"] == "other images").sum() == 100
    assert set(frame["target_label"]) <= {"positive", "negative", "missing"}
    grid = text_map(frame, width=40, height=10)
    assert len(grid) == 10 and "1" in "".join(grid) and "2" in "".join(grid)
    spec = sup.map_chart(frame, simulated=True).to_dict()
    assert spec["title"]["text"] == "Where the images to annotate sit"
    assert "2 images to annotate" in spec["title"]["subtitle"][0]


def test_worklist_view_and_thumbnails_resolve_under_an_image_folder(tmp_path: Path) -> None:
    labels, _ = make_labels()
    plan = tiny_plan()
    view = sup.worklist_view(plan, labels)
    assert view["rank"].tolist() == [1, 2] and (view["file"] == "").all()
    assert sup.thumbnails(view) == []
    _png(tmp_path / "img0002.png")
    view = sup.worklist_view(plan, labels, image_root=tmp_path)
    assert view["file"].tolist() == ["", str(tmp_path / "img0002.png")]
    assert sup.thumbnails(view) == [(tmp_path / "img0002.png", "2. img0002.png: Mass")]
    assert resolve_image("img0002.png", tmp_path) == tmp_path / "img0002.png"
    assert resolve_image("sub/img0002.png", tmp_path) == tmp_path / "img0002.png"
    assert resolve_image("missing.png", tmp_path) is None and resolve_image("", None) is None


def test_markdown_report_shows_thumbnails_and_the_map(tmp_path: Path) -> None:
    labels, x = make_labels()
    plan = tiny_plan()
    plain = markdown_report(plan, labels)
    assert "thumbnail" not in plain and "map (x, y)" not in plain
    _png(tmp_path / "img0001.png")
    md = markdown_report(plan, labels, vectors=x, image_root=tmp_path)
    table = md[md.index("## Worklist") : md.index("### Where they sit")]
    assert "| rank | thumbnail | image | classes to read | reason | map (x, y) |" in table
    assert f'<img src="{(tmp_path / "img0001.png").as_posix()}" width="64">' in table
    assert "### Where they sit: a 2-D map of the embeddings" in md
    block = md[md.index("```text") : md.index("```", md.index("```text") + 3)]
    assert "1" in block and "2" in block and "." in block
