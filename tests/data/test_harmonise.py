"""harmonise / stack_tables: class union, NaN for labels a source never annotated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from budgetplan.data.harmonise import (
    NIH_CHEXPERT_NAME_MAP,
    annotated_share,
    harmonise,
    shared_classes,
    stack_tables,
)
from budgetplan.data.label_table import LabelTable
from budgetplan.errors import DataMismatchError

NAN = np.nan

# Label-Assemble (seed 000) Sec. 2.2 and footnotes 2-3
SHARED = [
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
]
NIH_ONLY = [
    "Infiltration",
    "Mass",
    "Nodule",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
]
CHEXPERT_ONLY = [
    "Enlarged Cardiomediastinum",
    "Lung Opacity",
    "Lung Lesion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
]


def _table(
    classes: list[str], values: list[list[float]], source: str, ids: list[str], meta: bool = True
) -> LabelTable:
    n = len(ids)
    return LabelTable(
        values=np.array(values, dtype=np.float32),
        classes=classes,
        ids=ids,
        source=[source] * n,
        patient=[f"{source}-p{i}" for i in range(n)],
        split=["train"] * n,
        meta=pd.DataFrame({"view": ["PA"] * n}) if meta else pd.DataFrame(),
    )


def test_stack_keeps_unannotated_labels_missing() -> None:
    a = _table(["Nodule", "Effusion"], [[1, 0], [0, 1]], "nih", ["a1", "a2"])
    b = _table(
        ["Pleural Effusion", "Fracture"], [[1, NAN], [0, 1]], "chexpert", ["b1", "b2"], meta=False
    )
    s = stack_tables([a, b], NIH_CHEXPERT_NAME_MAP)
    assert s.classes == ["Nodule", "Effusion", "Fracture"]
    np.testing.assert_array_equal(s.values, [[1, 0, NAN], [0, 1, NAN], [NAN, 1, NAN], [NAN, 0, 1]])
    assert s.source.tolist() == ["nih", "nih", "chexpert", "chexpert"]
    assert s.patient.tolist() == ["nih-p0", "nih-p1", "chexpert-p0", "chexpert-p1"]
    assert s.meta["view"].tolist()[:2] == ["PA", "PA"] and s.meta["view"].isna().tolist()[2:] == [
        True,
        True,
    ]
    assert shared_classes(s) == ["Effusion"]
    share = annotated_share(s)
    assert share.loc["nih", "Fracture"] == 0 and share.loc["chexpert", "Effusion"] == 1


def test_without_map_names_stay_apart_but_spelling_is_forgiven() -> None:
    a = _table(["Pleural_Thickening"], [[1]], "nih", ["a"])
    b = _table(["pleural thickening", "Pleural Other"], [[0, 1]], "x", ["b"])
    s = stack_tables([a, b])
    assert s.classes == ["Pleural_Thickening", "Pleural Other"]
    np.testing.assert_array_equal(s.values, [[1, NAN], [0, 1]])


def test_clashing_ids_error_or_prefix() -> None:
    a = _table(["Nodule"], [[1]], "nih", ["img1"])
    b = _table(["Nodule"], [[0]], "other", ["img1"])
    with pytest.raises(
        DataMismatchError,
        match=r"share 1 image ids, e\.g\. 'img1' \(sources: nih, other\); pass prefix_ids=True",
    ):
        stack_tables([a, b])
    s = stack_tables([a, b], prefix_ids=True)
    assert s.ids.tolist() == ["nih:img1", "other:img1"]


def test_harmonise_merges_columns_mapped_to_one_name() -> None:
    t = _table(
        ["Mass", "Nodule"], [[1, 0], [0, 0], [0, NAN], [NAN, NAN], [NAN, 1]], "nih", list("abcde")
    )
    h = harmonise(t, {"mass": "Lung Lesion", "Nodule": "Lung Lesion", "Unrelated": "X"})
    assert h.classes == ["Lung Lesion"]
    # any positive -> 1; all annotated negative -> 0; otherwise not annotated
    np.testing.assert_array_equal(h.values[:, 0], [1, 0, NAN, NAN, 1])


@pytest.fixture(scope="module")
def nih_chexpert(nih_loaded: tuple[LabelTable, float], chexpert_table: LabelTable) -> LabelTable:
    return stack_tables([nih_loaded[0], chexpert_table], NIH_CHEXPERT_NAME_MAP)


def test_nih_chexpert_union_has_20_classes_7_shared(nih_chexpert: LabelTable) -> None:
    s = nih_chexpert
    assert s.n_images == 112_120 + 223_414
    assert s.n_classes == 20
    assert sorted(s.classes) == sorted(SHARED + NIH_ONLY + CHEXPERT_ONLY)
    assert sorted(shared_classes(s)) == sorted(SHARED)
    nih_rows, chex_rows = s.source == "nih", s.source == "chexpert"
    for c in CHEXPERT_ONLY:  # never annotated on NIH images
        assert np.isnan(s.column(c)[nih_rows]).all(), c
    for c in NIH_ONLY:
        assert np.isnan(s.column(c)[chex_rows]).all(), c
    assert int(np.nansum(s.column("Nodule"))) == 6_331
    # CheXpert "Pleural Effusion" positives now count as Effusion
    assert int(np.nansum(s.column("Effusion")[chex_rows])) == 86_187
    assert "Pleural Other" in s.classes and "Pleural_Thickening" in s.classes
