"""The recommend / simulate commands on scikit-learn's real digits, with real (tiny) training."""

from __future__ import annotations

import json

from budgetplan.cli import main
from budgetplan.planner.plan import AnnotationPlan


def test_recommend_digits_json_and_out_then_simulate_from_cache(tmp_path, capsys) -> None:
    out = tmp_path / "plan.json"
    assert main(["recommend", "--recipe", "digits", "--quick", "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    plan = AnnotationPlan.load(out)
    assert printed["plan_id"] == plan.plan_id
    assert plan.target == "8" and plan.provenance["simulated"] is False
    # nine digits, "more 8" (the recipe keeps 15 positives) and the decoy of random labels
    assert len(plan.candidates) == 11
    assert plan.random_control is not None
    assert plan.total_cost <= plan.budget + 1e-9

    # the same settings again: every run comes from the cache
    assert main(["simulate", "--recipe", "digits", "--quick"]) == 0
    text = capsys.readouterr().out
    assert "0 runs trained" in text and "Target 8" in text


def test_recommend_prints_table_plan_and_control(capsys) -> None:
    assert main(["recommend", "--recipe", "digits", "--quick", "--budget", "600"]) == 0
    text = capsys.readouterr().out
    assert "Candidates" in text and "Plan:" in text and "Random control" in text
    assert "SIMULATED" not in text  # digits are real images


def test_cli_errors_are_one_line(capsys, tmp_path) -> None:
    assert main(["recommend", "--recipe", "digits", "--quick", "--target", "88"]) == 2
    err = capsys.readouterr().err
    assert "unknown class '88'" in err and "'8'" in err and "Traceback" not in err
    assert main(["recommend", "--recipe", "nope", "--quick"]) == 2
    assert "no such recipe" in capsys.readouterr().err
    assert main(["recommend", "--recipe", "digits", "--quick", "--budget", "0.5"]) == 2
    assert "buys nothing" in capsys.readouterr().err
    costs = tmp_path / "c.csv"
    costs.write_text("class,cost\n3,1\neight,2\n")
    assert main(["recommend", "--recipe", "digits", "--quick", "--cost-file", str(costs)]) == 2
    assert "eight" in capsys.readouterr().err
