"""``budgetplan recommend``: which labels to annotate for the target within a budget."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from budgetplan.config import EXECUTORS
from budgetplan.errors import BudgetplanError

if TYPE_CHECKING:
    from budgetplan.config import RecommendConfig


def add_plan_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by ``recommend`` and ``simulate`` (they override the recipe)."""
    p.add_argument(
        "--target", default=None, help="target class (default: the recipe's, e.g. Nodule)"
    )
    p.add_argument(
        "--recipe",
        default="nih-nodule",
        help="recipe name in recipes/ or a YAML file (default nih-nodule)",
    )
    p.add_argument(
        "--store",
        default=None,
        help="dataset directory ('demo' = the embedded default); overrides the recipe's data",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="annotation budget in the cost unit (default: the recipe's)",
    )
    p.add_argument(
        "--cost-file",
        default=None,
        help="CSV of label costs: class,cost[,unit]; '*image*' = reading cost per image",
    )
    p.add_argument(
        "--method", default=None, help="partial-label method to train (default label-assemble)"
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds behind the best candidates (successive halving)",
    )
    p.add_argument(
        "--target-positives",
        type=int,
        default=None,
        help=(
            "simulate a study with only N target positives "
            "(0 = all the data has; default: the recipe's)"
        ),
    )
    p.add_argument("--device", default=None, help="auto | cpu | cuda")
    add_executor_arguments(p, default=None)
    p.add_argument("--no-cache", action="store_true", help="do not read or write cached runs")
    p.add_argument(
        "--no-decoy",
        action="store_true",
        help="do not train the decoy candidate of random labels (on by default: a run where the "
        "decoy comes out significant is not trustworthy)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny settings for tests and smoke runs (few epochs and seeds)",
    )


def add_executor_arguments(p: argparse.ArgumentParser, default: str | None) -> None:
    """``--executor``, ``--ray-address``, ``--ray-gpus`` (shared with ``embed``)."""
    p.add_argument(
        "--executor",
        default=default,
        choices=list(EXECUTORS) if default is None else [e for e in EXECUTORS if e != "auto"],
        help="where jobs run: auto (a process per core when the machine has several and the "
        "problem is large enough to pay for starting them, else this process), local (this "
        "process), process (a pool of processes) or ray (a local Ray or a cluster; needs the "
        "'ray' extra); default: " + (default or "the recipe's"),
    )
    p.add_argument(
        "--ray-address",
        default=None,
        help="with --executor ray: 'auto' or host:port of an existing cluster "
        "(default: start a local Ray with this machine's cores)",
    )
    p.add_argument(
        "--ray-gpus",
        type=float,
        default=None,
        help=(
            "with --executor ray on CUDA: GPU share per task (0.25 = four tasks per GPU; default 1)"
        ),
    )


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "recommend",
        help="recommend which labels to annotate for the target, within a budget",
        description=(
            "Screen every other class by its relations to the target, verify by training the "
            "chosen partial-label method on simulated label assemblies (successive halving over "
            "seeds, cached), select greedily within the budget, and compare with a random "
            "choice of equal cost. A class is only recommended when its measured gain is "
            "significantly above zero."
        ),
    )
    add_plan_arguments(p)
    p.add_argument(
        "--json", action="store_true", help="print the plan as JSON instead of the table"
    )
    p.add_argument(
        "--out", type=Path, default=None, help="save the plan JSON here (for `budgetplan export`)"
    )
    p.add_argument(
        "--budget-curve",
        type=Path,
        default=None,
        metavar="FILE.html",
        help="after the plan, train its classes and random classes at 1/4 to 2x the budget and "
        "save the budget curve (gain with CI against budget) here (.html, or .png with vl-convert)",
    )
    p.set_defaults(func=run)


def load_config(args: argparse.Namespace) -> RecommendConfig:
    """The recipe with the command-line flags over it (validated: a bad flag is one line)."""
    from budgetplan.config import load_recipe, quick_config

    cfg = load_recipe(args.recipe)
    data = None
    if args.store is not None:
        data = (
            {"kind": "demo", "store": None}
            if args.store == "demo"
            else {
                "kind": "store",
                "store": args.store,
            }
        )
    sim = {"executor": args.executor, "ray_address": args.ray_address, "ray_gpus": args.ray_gpus}
    sim = {k: v for k, v in sim.items() if v is not None}
    cfg = cfg.with_overrides(
        target=args.target,
        budget=args.budget,
        method=args.method,
        seeds=args.seeds,
        target_positives=args.target_positives,
        device=args.device,
        cost_file=args.cost_file,
        data=data,
        simulation={**sim, **({"decoy": False} if args.no_decoy else {})} or None,
    )
    if cfg.simulation.executor == "ray":  # a missing Ray fails now, not after loading the data
        from budgetplan.planner.ray_executor import import_ray

        import_ray()
    return quick_config(cfg) if args.quick else cfg


def check_outputs(args: argparse.Namespace, out: Path | None, cache: Any) -> None:
    """Before minutes of training: the output file and the run cache can be written, and the
    output is none of the inputs (recipe, cost file)."""
    from budgetplan.io import check_not_inputs, check_writable

    if out is not None:
        recipe = Path(args.recipe) if Path(args.recipe).is_file() else None
        check_not_inputs([out], [recipe, args.cost_file])
        check_writable(out)
    cache.check_writable()


def run(args: argparse.Namespace) -> int:
    from budgetplan.planner.cache import RunCache
    from budgetplan.planner.recommend import recommend
    from budgetplan.planner.report import render
    from budgetplan.progress import tqdm_progress

    cfg = load_config(args)
    cache = RunCache(enabled=not args.no_cache)
    check_outputs(args, args.out, cache)
    if args.budget_curve is not None:
        if cfg.budget is None:
            raise BudgetplanError("--budget-curve needs a budget (--budget or the recipe's)")
        check_outputs(args, args.budget_curve, cache)
    with tqdm_progress(desc="simulating", unit="run") as progress:
        if args.budget_curve is None:
            rec = recommend(cfg, progress=progress, cache=cache)
        else:
            from budgetplan.planner.sources import load_data_to_plan

            data = load_data_to_plan(cfg, progress)
            rec = recommend(data, cfg, progress=progress, cache=cache)
    if args.out is not None:
        rec.plan.save(args.out)
    if args.budget_curve is not None:
        write_budget_curve(args.budget_curve, data, cfg, rec, cache)
    if args.json:
        sys.stdout.write(rec.plan.to_json())
    else:
        print(render(rec))
        if args.out is not None:
            print(f"plan saved to {args.out} (budgetplan export {args.out} --format csv)")
    return 0


def write_budget_curve(path: Path, data: Any, cfg: RecommendConfig, rec: Any, cache: Any) -> None:
    """Train the budget curve of ``rec``'s plan and save its chart (the app's chart)."""
    from budgetplan.app_support.curve import budget_curve_chart
    from budgetplan.planner.budget_curve import budget_curve, curve_budgets
    from budgetplan.progress import tqdm_progress
    from budgetplan.relations.charts import save_chart

    plan = rec.plan
    cfg = cfg.with_overrides(target=plan.target)
    budgets = curve_budgets(plan.budget, 1.0, float("inf"))
    with tqdm_progress(desc="budget curve", unit="run") as progress:
        frame = budget_curve(data, cfg, plan, budgets, cache=cache, progress=progress)
    chart = budget_curve_chart(frame, plan.budget, unit=plan.unit, simulated=rec.simulated)
    save_chart(chart, path)
    print(f"budget curve saved to {path} ({frame.attrs.get('drawn', 'the plan')})")
