"""``budgetplan simulate``: train the target with each candidate label assembly and measure
gains."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from budgetplan.commands.recommend import add_plan_arguments, check_outputs, load_config


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="measure each candidate class's gain for the target by training (cached, resumable)",
        description=(
            "For the baseline (the target alone) and each candidate class sized to the budget, "
            "train the method with several seeds as one batched model (successive halving "
            "spends more seeds on the leaders), and report the target AUC gain paired by seed "
            "with CIs. Finished runs are cached: an interrupted run resumes, "
            "a repeated one is instant."
        ),
    )
    add_plan_arguments(p)
    p.add_argument("--csv", type=Path, default=None, help="also write the table as CSV (atomic)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from budgetplan.io import write_text_atomic
    from budgetplan.planner.cache import RunCache
    from budgetplan.planner.report import render_table
    from budgetplan.planner.sources import load_data_to_plan
    from budgetplan.planner.study import StudyPlanner
    from budgetplan.progress import tqdm_progress

    cfg = load_config(args)
    cache = RunCache(enabled=not args.no_cache)
    check_outputs(args, args.csv, cache)
    with tqdm_progress(desc="simulating", unit="run") as progress:
        with StudyPlanner(
            cfg,
            load_data_to_plan(cfg, progress),
            progress=progress,
            cache=cache,
        ) as s:
            simulation = s.simulate()
    table, report = simulation.table, simulation.predictor
    if s.data.simulated:
        from budgetplan.planner.report import simulated_note

        print(simulated_note(s.data.name))
    auc = [r.auc for r in simulation.base_runs]
    print(
        f"Target {s.problem.target}: baseline AUC {sum(auc) / len(auc):.3f} over {len(auc)} seeds"
    )
    print(render_table(table, s.cost_model.unit))
    if report.rho:
        print(
            "Rank correlation with measured gains: "
            + ", ".join(f"{k} {v:+.2f}" for k, v in report.rho.items())
        )
    print(f"({s.runner.n_trained} runs trained, {s.runner.n_cached} from cache)")
    if args.csv is not None:
        write_text_atomic(args.csv, table.to_csv(index=False))
    return 0
