"""Cost model: shared reading cost, affordable counts, and cost files that fail clearly."""

from __future__ import annotations

import pytest

from budgetplan.errors import BudgetError, InputFileError
from budgetplan.planner.costs import CostModel

CLASSES = ["Nodule", "Mass", "Effusion", "Pleural_Thickening"]


def test_cost_counts_the_reading_cost_once_per_image() -> None:
    cm = CostModel({"Mass": 2.0, "Effusion": 0.5}, default_label_cost=1.0, image_read_cost=3.0)
    # img1: read 3 + Mass 2 + Effusion 0.5 + Nodule (default) 1 = 6.5; img2: 3 + 2 = 5.
    assert cm.cost({"img1": ["Mass", "Effusion", "Nodule"], "img2": ["Mass"]}) == pytest.approx(
        11.5
    )
    # The same class listed twice on an image is one label; an image with no class costs nothing.
    assert cm.cost({"img1": ["Mass", "Mass"], "img3": []}) == pytest.approx(5.0)


def test_default_model_is_one_unit_per_label() -> None:
    cm = CostModel()
    assert cm.cost({"a": ["X", "Y"], "b": ["X"]}) == 3.0
    assert cm.unit == "units"


def test_images_affordable_hand_computed() -> None:
    cm = CostModel({"Mass": 2.0}, image_read_cost=0.5)
    assert cm.images_affordable("Mass", 10) == 4  # 10 / 2.5
    assert cm.images_affordable("Mass", 2.4) == 0
    # Two images already opened for another class cost only the label: 2 * 2 + 2 * 2.5 = 9.
    assert cm.images_affordable("Mass", 10, already_read={"a", "b"}) == 4
    assert cm.images_affordable("Mass", 9, already_read={"a", "b"}) == 4
    assert cm.images_affordable("Mass", 3.9, already_read={"a", "b"}) == 1
    assert cm.images_affordable("Mass", 100, n_available=7) == 7
    assert cm.images_affordable("Mass", 0) == 0


def test_negative_cost_in_constructor_is_refused() -> None:
    with pytest.raises(BudgetError, match="must be finite and >= 0"):
        CostModel({"Mass": -1.0})


def test_from_csv_reads_costs_read_cost_default_and_unit(tmp_path) -> None:
    f = tmp_path / "costs.csv"
    f.write_text(
        "# cost per label\nclass,cost,unit\nMass,2,minutes\npleural thickening,1.5,\n"
        "*image*,0.5,minutes\n*default*,3,minutes\n"
    )
    cm = CostModel.from_csv(f, CLASSES)
    assert cm.label_cost == {"Mass": 2.0, "Pleural_Thickening": 1.5}  # spelling forgiven
    assert cm.image_read_cost == 0.5
    assert cm.label_cost_of("Nodule") == 3.0
    assert cm.unit == "minutes"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "class,cost\nMas,2\n",
            r"costs\.csv: line 2, column 'class': unknown class 'Mas'\. Did you mean 'Mass'",
        ),
        (
            "class,cost\nMass,-2\n",
            r"costs\.csv: line 2, column 'cost': cost of 'Mass' is -2; costs must be >= 0",
        ),
        ("class,cost\nMass,two\n", r"costs\.csv: line 2, column 'cost': 'two' is not a number"),
        ("", r"costs\.csv: cost file is empty"),
        ("# only a comment\n\n", r"costs\.csv: cost file is empty"),
        ("class,price\nMass,2\n", r"costs\.csv: missing column 'cost'"),
        ("name,cost\nMass,2\n", r"costs\.csv: missing column 'class'"),
        ("class,cost\n", r"costs\.csv: cost file has a header but no rows"),
        ("class,cost\nMass,2\nMass,3\n", r"line 3, column 'class': class 'Mass' listed twice"),
        (
            "class,cost,unit\nMass,2,min\nNodule,1,EUR\n",
            r"line 3, column 'unit': 'EUR' differs from 'min'",
        ),
        ("class,cost\nMass,2,7\n", r"line 2: 3 fields, expected 2"),
    ],
)
def test_bad_cost_file_gives_one_clear_line(tmp_path, content: str, message: str) -> None:
    f = tmp_path / "costs.csv"
    f.write_text(content)
    with pytest.raises(InputFileError, match=message) as info:
        CostModel.from_csv(f, CLASSES)
    assert "\n" not in str(info.value)


def test_missing_cost_file(tmp_path) -> None:
    with pytest.raises(InputFileError, match="cost file not found"):
        CostModel.from_csv(tmp_path / "nope.csv", CLASSES)


def test_from_mapping_structured_and_flat() -> None:
    structured = CostModel.from_mapping(
        {"unit": "EUR", "image_read_cost": 1, "default_label_cost": 2, "label_cost": {"mass": 4}},
        CLASSES,
    )
    assert structured == CostModel({"Mass": 4.0}, 2.0, 1.0, "EUR")
    flat = CostModel.from_mapping({"Mass": 4, "*image*": 1, "*default*": 2, "unit": "EUR"}, CLASSES)
    assert flat == structured
    assert CostModel.from_mapping(None, CLASSES) == CostModel()


def test_from_mapping_errors_name_the_place() -> None:
    with pytest.raises(
        BudgetError, match="recipes/x.yaml: costs: unknown class 'Nodul'.*Did you mean 'Nodule'"
    ):
        CostModel.from_mapping({"Nodul": 1}, CLASSES, where="recipes/x.yaml: costs")
    with pytest.raises(
        BudgetError, match=r"recipes/x.yaml: costs: cost of 'Mass': 'a lot' is not a number"
    ):
        CostModel.from_mapping({"Mass": "a lot"}, CLASSES, where="recipes/x.yaml: costs")
    with pytest.raises(BudgetError, match="unknown key 'labels'"):
        CostModel.from_mapping({"image_read_cost": 1, "labels": {}}, CLASSES)


def test_dict_round_trip() -> None:
    cm = CostModel({"Mass": 4.0}, 2.0, 1.0, "EUR")
    assert CostModel.from_dict(cm.to_dict()) == cm


def test_budget_that_buys_nothing_is_a_clear_error() -> None:
    cm = CostModel({"Mass": 2.0, "Effusion": 3.0}, image_read_cost=0.5, unit="min")
    cm.check_budget(2.5, ["Mass", "Effusion"])
    with pytest.raises(
        BudgetError,
        match=(
            r"a budget of 2 min buys nothing: the cheapest label \('Mass'\) "
            r"costs 2 \+ 0.5 reading = 2.5 min"
        ),
    ):
        cm.check_budget(2.0, ["Mass", "Effusion"])
    with pytest.raises(BudgetError, match="must be a finite number"):
        cm.check_budget(float("nan"), ["Mass"])
