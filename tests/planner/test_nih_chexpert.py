"""The nih-chexpert recipe (seed 000: NIH + CheXpert 20-class union) loads and plans.

A 3,000-row sample of the stacked table (``data.n_images``) and a fake trainer keep it fast; the
planted effect rewards Effusion labels on CheXpert images only, so the per source x class
candidates must tell "Effusion @ chexpert" from "Effusion @ nih".
"""

from __future__ import annotations

import dataclasses

import numpy as np

from budgetplan.config import load_recipe, quick_config
from budgetplan.planner.cache import RunCache
from budgetplan.planner.problem import prepare_problem
from budgetplan.planner.recommend import recommend
from budgetplan.planner.report import render
from budgetplan.planner.sources import load_plan_data


def test_nih_chexpert_recipe_plans_per_source_on_a_sample(tmp_path) -> None:
    cfg = quick_config(load_recipe("nih-chexpert"))
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, n_images=3000), budget=800)
    assert cfg.data.kind == "nih-chexpert" and cfg.target == "Nodule"
    data = load_plan_data(cfg.data)
    assert data.simulated and len(data.labels.classes) == 20
    assert set(data.labels.source) == {"nih", "chexpert"}

    problem = prepare_problem(
        data.labels,
        data.vectors,
        "Nodule",
        cfg.simulation,
        seed=0,
        data_checksum=data.checksum,
        simulated=True,
    )
    chexpert = np.asarray(problem.train_table.source) == "chexpert"
    e = problem.classes.index("Effusion")

    def fake_job(job):
        out = []
        for r, seed in enumerate(job.seeds):
            labelled = ~np.isnan(job.y_train[r][:, e])
            auc = 0.7 + 0.2 * labelled[chexpert].mean()  # Effusion on NIH images: no effect
            auc += np.random.default_rng(seed).normal(0, 0.01)
            out.append({"auc": float(auc), "ap": 0.1, "best_epoch": 1})
        return out

    rec = recommend(data, cfg, cache=RunCache(tmp_path / "runs"), job_fn=fake_job)
    names = set(rec.table["class"])
    assert {"Effusion @ nih", "Effusion @ chexpert"} <= names  # labelled in both sources
    assert "Nodule @ nih" not in names and "Lung Opacity" in names  # CheXpert-only: one
    plan = rec.plan
    assert plan.total_cost <= plan.budget + 1e-9
    first = plan.actions[0]
    assert (first.class_name, first.source) == ("Effusion", "chexpert")
    assert all(i.startswith("chexpert") for i in first.image_ids)
    assert rec.simulated and "simulated" in rec.data_name
    text = render(rec)
    assert "SIMULATED" in text and "CheXpert's too" in text and "Effusion @ chexpert" in text
