"""Every config field refuses a bad value with one line naming the key and the value, the same
whether it comes from a recipe (YAML), a command-line flag or a Python caller."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import yaml

from budgetplan.config import RecommendConfig, load_recipe
from budgetplan.errors import BudgetplanError, ConfigError, InputFileError
from budgetplan.methods.train_config import ACTIVATIONS, HEADS, METHOD_NAMES

# (section or None, key, bad value, fragment of the message)
BAD = [
    (None, "budget", -5, "budget = -5"),
    (None, "budget", True, "budget = True"),
    (None, "budget", "lots", "budget = 'lots'"),
    (None, "budget", math.inf, "finite"),
    (None, "target", 8, "quote it"),
    (None, "target", "", "non-empty"),
    (None, "target_positives", -1, "target_positives = -1"),
    (None, "target_positives", 2.5, "whole number"),
    (None, "method", 5, "method = 5"),
    (None, "method", "magic", "one of ne"),
    (None, "seeds", 1, "seeds = 1"),
    (None, "seed", "x", "seed = 'x'"),
    (None, "seed", -1, "seed = -1"),
    (None, "device", "tpu", "device = 'tpu'"),
    (None, "screen_relation", "vibes", "unknown relation"),
    (None, "cost_file", 3, "cost_file = 3"),
    ("data", "kind", "floppy", "data.kind = 'floppy'"),
    ("data", "n_images", 5, "data.n_images = 5"),
    ("simulation", "pool_images", -5, "simulation.pool_images = -5"),
    ("simulation", "val_images", 0, "simulation.val_images = 0"),
    ("simulation", "dim", "abc", "simulation.dim = 'abc'"),
    ("simulation", "initial_seeds", 1, "simulation.initial_seeds = 1"),
    ("simulation", "max_seeds", 0, "simulation.max_seeds = 0"),
    ("simulation", "eta", 1, "simulation.eta = 1"),
    ("simulation", "max_candidates", 0, "simulation.max_candidates = 0"),
    ("simulation", "max_replicas", 0, "simulation.max_replicas = 0"),
    ("simulation", "executor", "cloud", "simulation.executor = 'cloud'"),
    ("simulation", "workers", 0, "simulation.workers = 0"),
    ("simulation", "per_source", "yes", "simulation.per_source = 'yes'"),
    ("simulation", "decoy", 1, "simulation.decoy = 1"),
    ("selection", "alpha", 0.7, "selection.alpha = 0.7"),
    ("selection", "min_gain", -0.1, "selection.min_gain = -0.1"),
    ("selection", "max_classes", "two", "selection.max_classes = 'two'"),
    ("selection", "greedy_width", 0, "selection.greedy_width = 0"),
    ("selection", "random_draws", 0, "selection.random_draws = 0"),
    ("train", "lr", "fast", "train.lr = 'fast'"),
    ("train", "lr", 0, "train.lr = 0"),
    ("train", "hidden", 0, "train.hidden = 0"),
    ("train", "depth", 1.5, "train.depth = 1.5"),
    ("train", "depth", -1, "train.depth = -1"),
    ("train", "head", "mlp", "train.head = 'mlp'"),
    ("train", "activation", "tanh", "train.activation = 'tanh'"),
    ("train", "dropout", 1.0, "train.dropout = 1.0"),
    ("train", "weight_decay", -1, "train.weight_decay = -1"),
    ("train", "batch_size", 0, "train.batch_size = 0"),
    ("train", "max_epochs", True, "train.max_epochs = True"),
    ("train", "patience", -2, "train.patience = -2"),
    ("train", "reduction", "sum", "train.reduction = 'sum'"),
    ("train", "stopping", "early", "train.stopping = 'early'"),
    ("train", "threads", 0, "train.threads = 0"),
    ("train", "method_params", {"no_such_param": 1}, "train.method_params"),
    ("train", "nonsense", 1, "train.nonsense = 1: unknown key"),
    ("costs", "unit", 5, "costs.unit = 5"),
    ("costs", "default_label_cost", -1, "costs.default_label_cost = -1"),
    ("costs", "Nodule", "cheap", "costs.Nodule = 'cheap'"),
]


def _mapping(section: str | None, key: str, value: object) -> dict[str, object]:
    return {key: value} if section is None else {section: {key: value}}


@pytest.mark.parametrize(("section", "key", "value", "fragment"), BAD)
def test_python_and_overrides_refuse(section, key, value, fragment) -> None:
    with pytest.raises(ConfigError) as err:
        if section is None:
            RecommendConfig(**{key: value})
        else:
            RecommendConfig().with_overrides(**_mapping(section, key, value))
    message = str(err.value)
    assert fragment in message and "\n" not in message


@pytest.mark.parametrize(("section", "key", "value", "fragment"), BAD)
def test_yaml_refuses_naming_the_file(tmp_path, section, key, value, fragment) -> None:
    path = tmp_path / "bad.yaml"
    text = yaml.safe_dump(_mapping(section, key, value))
    path.write_text(text.replace(".inf", "inf") if value == math.inf else text)
    if value == math.inf:
        path.write_text("budget: .inf\n")
    with pytest.raises(InputFileError) as err:
        load_recipe(path)
    assert str(err.value).startswith(f"{path}: ") and fragment in str(err.value)


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--target-positives", "-1"], "target_positives = -1"),
        (["--budget", "inf"], "budget = inf: must be a finite number"),
        (["--budget", "-3"], "budget = -3.0"),
        (["--seeds", "1"], "seeds = 1"),
        (["--method", "magic"], "method = 'magic'"),
        (["--device", "tpu"], "device = 'tpu'"),
    ],
)
def test_cli_flags_refuse_in_one_line_before_any_work(flags, fragment, tmp_path) -> None:
    code = "import sys; from budgetplan.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run(
        [sys.executable, "-c", code, "recommend", "--recipe", "digits", *flags],
        capture_output=True,
        text=True,
        timeout=120,
        env={"BUDGETPLAN_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], out.stderr


def test_train_method_and_device_are_top_level_settings(tmp_path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("train:\n  method: ne\n")
    with pytest.raises(InputFileError, match="set 'method' at the top level"):
        load_recipe(path)
    cfg = RecommendConfig(method="fe", device="cpu")
    assert (cfg.train.method, cfg.train.device) == ("fe", "cpu")


def test_binary_recipe_is_one_line(tmp_path) -> None:
    path = tmp_path / "r.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(BudgetplanError, match="r.yaml"):
        load_recipe(path)


def test_torch_free_names_agree_with_the_registry() -> None:
    from budgetplan.methods import models
    from budgetplan.methods.registry import METHODS

    assert set(METHOD_NAMES) == set(METHODS)
    assert set(HEADS) == {"auto", *models.HEADS} and set(ACTIVATIONS) == set(models.ACTIVATIONS)
