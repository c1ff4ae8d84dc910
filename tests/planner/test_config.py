from __future__ import annotations

import pytest

from budgetplan.config import RECIPE_DIR, RecommendConfig, config_hash, load_recipe
from budgetplan.errors import InputFileError


@pytest.mark.parametrize("name", ["nih-nodule", "nih-nodule-quick", "nih-chexpert", "digits"])
def test_shipped_recipes_load(name: str) -> None:
    cfg = load_recipe(name)
    assert cfg.recipe == name
    assert cfg.simulation.initial_seeds >= 2


def test_default_recipe_is_nih_nodule() -> None:
    cfg = load_recipe()
    assert (cfg.target, cfg.data.kind, cfg.method) == ("Nodule", "demo", "label-assemble")


def test_unknown_key_names_key_and_file(tmp_path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("target: Nodule\nsimulation:\n  max_seed: 4\n")
    with pytest.raises(InputFileError, match=r"typo\.yaml: simulation\.max_seed = 4: unknown key"):
        load_recipe(path)
    path.write_text("targt: Nodule\n")
    with pytest.raises(InputFileError, match=r"typo\.yaml: targt = 'Nodule': unknown key"):
        load_recipe(path)


def test_bad_recipe_yaml_and_unknown_name(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("target: [unclosed\n")
    with pytest.raises(InputFileError, match="not valid YAML"):
        load_recipe(path)
    with pytest.raises(InputFileError, match="known recipes: .*digits"):
        load_recipe("no-such-recipe")
    path.write_text("data:\n  kind: floppy\n")
    with pytest.raises(InputFileError, match="data.kind"):
        load_recipe(path)
    path.write_text("selection:\n  min_gain: -0.1\n")
    with pytest.raises(InputFileError, match=r"bad\.yaml.*selection\.min_gain"):
        load_recipe(path)
    path.write_text("data:\n  kind: nih-chexpert\n  n_images: 5\n")
    with pytest.raises(InputFileError, match=r"data\.n_images"):
        load_recipe(path)


def test_hash_is_stable_and_changes_with_content() -> None:
    a, b = RecommendConfig(), RecommendConfig()
    assert config_hash(a) == config_hash(b) == a.hash
    assert a.with_overrides(budget=100.0, target=None).hash != a.hash
    assert a.with_overrides(target=None) == a  # None means "keep the recipe's value"


def test_recipes_dir_is_at_project_root() -> None:
    assert (RECIPE_DIR / "nih-nodule.yaml").is_file()


def test_target_positives_flag_overrides_the_recipe_and_zero_means_all() -> None:
    cfg = load_recipe("nih-nodule")
    assert cfg.target_positives == 500  # the recipe's simulated rare-target study
    assert cfg.with_overrides(target_positives=None).target_positives == 500  # flag not given
    assert cfg.with_overrides(target_positives=300).target_positives == 300
    assert cfg.with_overrides(target_positives=0).target_positives is None  # every positive
