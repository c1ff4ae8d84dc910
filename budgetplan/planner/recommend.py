"""The recommend pipeline: data -> relations -> adaptive simulation -> predictor -> greedy plan.

``recommend(config)`` answers "which labels should I annotate for my target within my budget?":

1. load the labelled embeddings of the recipe (``sources``), prepare the reduced simulation
   problem (``problem``), the base state (``assembly.base_state``) and the cost model;
2. score every candidate class with the cheap relations (``screen``; the pool's kNN from
   ``neighbours.pool_knn``), and add "annotate more target images" when the base holds fewer
   target positives than the reference; a class labelled in several sources (NIH + CheXpert)
   becomes one candidate per source x class (``class_candidates``);
3. size each candidate to the budget and train it with successive halving over seeds
   (``allocation``), paired against the baseline;
4. fit the gain predictor (``predictor``) and order any candidate that was not trained;
5. greedy forward selection with real training of each combination (``selection``);
6. train a random control of equal cost; build the :class:`AnnotationPlan`.

Loss weighting (``train.reduction``): ``class-sum`` keeps the target's weight fixed as classes
are added, ``entry-mean`` dilutes it (a plain mean over annotated entries). The recipes default
to the one measured better for the baseline+candidates on their data; see bench/README.md.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from budgetplan.config import RecommendConfig
from budgetplan.data.label_table import LabelTable
from budgetplan.errors import BudgetplanError
from budgetplan.planner.allocation import successive_halving
from budgetplan.planner.assembly import ANNOTATE_CLASS, ANNOTATE_TARGET, base_state
from budgetplan.planner.cache import RunCache
from budgetplan.planner.costs import CostModel
from budgetplan.planner.executor import make_executor
from budgetplan.planner.plan import AnnotationPlan, PlanAction, provenance_now
from budgetplan.planner.predictor import PredictorReport, fit_predictor, predict_gains
from budgetplan.planner.problem import SimProblem, prepare_problem
from budgetplan.planner.runner import Runner, execute_job, gain_stats, mean_ci, significant
from budgetplan.planner.screen import RELATIONS, relation_scores
from budgetplan.planner.selection import (
    Candidate,
    build_orders,
    check_budget_buys,
    greedy_select,
    random_control,
    size_set,
)
from budgetplan.planner.sources import PlanData, load_plan_data
from budgetplan.progress import ProgressFn

DEFAULT_TRAIN: dict[str, Any] = {
    "hidden": 128,
    "depth": 1,
    "dropout": 0.2,
    "lr": 1e-3,
    "batch_size": 512,
    "max_epochs": 12,
    "patience": 3,
    "reduction": "entry-mean",
    # One torch thread: the replica-batched steps are small, and with 2 threads on a shared
    # 2-core machine OpenMP spin-waiting made training ~10x slower (measured, bench/README.md).
    "threads": 1,
}


@dataclass
class Recommendation:
    """The plan plus what the terminal shows around it."""

    plan: AnnotationPlan
    table: pd.DataFrame
    predictor: PredictorReport
    simulated: bool
    data_name: str
    runs_trained: int
    runs_cached: int
    seconds: float
    notes: list[str] = field(default_factory=list)


def train_config(config: RecommendConfig) -> dict[str, Any]:
    """TrainConfig fields: the defaults above, the recipe's ``train`` section, method and device."""
    cfg = {**DEFAULT_TRAIN, **dict(config.train), "method": config.method, "device": config.device}
    from budgetplan.methods.trainer import TrainConfig

    try:
        TrainConfig.from_dict(cfg)
    except (TypeError, ValueError) as exc:
        raise BudgetplanError(f"recipe {config.recipe}: train section: {exc}") from None
    return cfg


def load_cost_model(
    config: RecommendConfig, classes: list[str], cost_file: str | None = None
) -> CostModel:
    """``--cost-file`` (CSV) over the recipe's ``costs`` mapping; unknown classes are errors."""
    path = cost_file or config.cost_file
    if path:
        return CostModel.from_csv(path, classes)
    return CostModel.from_mapping(
        dict(config.costs) or None, classes, where=f"recipe {config.recipe}: costs"
    )


@dataclass
class Setup:
    """Everything prepared before training: data, problem, base state, candidates, runner."""

    config: RecommendConfig
    data: PlanData
    problem: SimProblem
    cost_model: CostModel
    base: Any
    relations: pd.DataFrame
    sized: dict
    orders: Any
    negs: list
    trained: list
    runner: Runner
    notes: list[str]


def setup(
    config: RecommendConfig,
    store: str | None = None,
    progress: ProgressFn | None = None,
    cache: RunCache | None = None,
    job_fn: Any = execute_job,
    data: PlanData | None = None,
    cost_file: str | None = None,
) -> Setup:
    """Steps 1-2 of the module doc (no training yet); bad targets, costs, budgets raise here."""
    notes: list[str] = []
    data = data or load_plan_data(config.data, store, progress)
    target = config.target or data.default_target
    if not target:
        raise BudgetplanError("no target given (--target) and the dataset names no default target")
    labels = data.labels
    labels.class_index(target)  # unknown target: error with close names, before any work
    cost_model = load_cost_model(config, labels.classes, cost_file)
    tcfg = train_config(config)
    problem = prepare_problem(
        labels, data.vectors, target, config.simulation, config.seed, data.checksum, data.simulated
    )
    target = problem.target
    budget = config.budget
    n_train_all = int(np.sum(labels.split == "train"))
    if problem.pool_rows is not None and len(problem.pool_rows) < n_train_all:
        notes.append(
            f"trained on a pool of {len(problem.pool_rows):,} of the {n_train_all:,} training "
            "images (simulation.pool_images): on the demo the decision matched a full-size run "
            "but the order of the negative classes did not (bench/README.md), so read that "
            "order as a screen; pool_images: null (as in the default recipe nih-nodule) trains on "
            "every training image"
        )

    base, dropped = base_state(problem.train_table, target, config.target_positives, config.seed)
    n_pos_avail = int(np.nansum(problem.y_train[:, problem.target_index] == 1))
    if config.target_positives is not None and config.target_positives >= n_pos_avail:
        notes.append(
            f"--target-positives {config.target_positives} >= the {n_pos_avail} training positives: all kept"
        )

    from budgetplan.planner.neighbours import pool_knn

    # the store's cached kNN on full vectors, exact search in a PCA-reduced pool (neighbours.py)
    _, knn = pool_knn(problem, data.store, k=10)
    relations = relation_scores(
        labels,
        data.vectors,
        target,
        problem.x_train,
        problem.y_train,
        seed=config.seed,
        knn_indices=knn,
    )

    candidates = class_candidates(labels, list(relations["class"]), config.simulation.per_source)
    if len(dropped):
        candidates.append(Candidate(target, ANNOTATE_TARGET))
    full_train = labels.ids[labels.split == "train"]
    t_col = labels.values[:, labels.class_index(target)]
    train_negs = labels.ids[(labels.split == "train") & (t_col == 0)]
    orders = build_orders(
        problem,
        candidates,
        base,
        full_train,
        np.concatenate([dropped, train_negs]),
        knn,
        config.seed,
        full_train_source=labels.source[labels.split == "train"],
    )
    sized = {c: size_set([c], orders, cost_model, budget, problem, base) for c in candidates}
    check_budget_buys(list(sized.values()), budget, problem, cost_model)
    sized = {c: s for c, s in sized.items() if problem.scale_count(s.n_images) >= 1}

    # screen: order by the chosen relation; train the top max_candidates (all by default)
    screen_rel = config.screen_relation or "similarity"
    if screen_rel not in RELATIONS:
        raise BudgetplanError(
            f"screen_relation {screen_rel!r} is not one of {', '.join(RELATIONS)}"
        )
    rel_by_class = relations.set_index("class")
    negs = sorted(
        [c for c in sized if c.kind == ANNOTATE_CLASS],
        key=lambda c: -_nan0(rel_by_class.loc[c.class_name, screen_rel]),
    )
    limit = config.simulation.max_candidates
    trained = negs[:limit] if limit else list(negs)
    trained += [c for c in sized if c.kind == ANNOTATE_TARGET]
    runner = Runner(
        problem,
        tcfg,
        cache=cache,
        executor=make_executor(config.simulation.executor, config.simulation.workers),
        max_replicas=config.simulation.max_replicas,
        job_fn=job_fn,
        progress=progress,
    )
    return Setup(
        config,
        data,
        problem,
        cost_model,
        base,
        relations,
        sized,
        orders,
        negs,
        trained,
        runner,
        notes,
    )


def simulate(s: Setup) -> tuple[pd.DataFrame, list, PredictorReport, dict]:
    """Steps 3-4: successive halving over the candidates, then the predictor.

    Returns the ranked table, the baseline's runs, the predictor report and the evidence per
    trained candidate.
    """
    config, runner = s.config, s.runner
    sim = config.simulation
    alpha = config.selection.alpha
    base_runs, evidence = successive_halving(
        runner,
        s.base,
        [s.sized[c].assembly for c in s.trained],
        sim.initial_seeds,
        config.max_seeds,
        sim.eta,
        alpha=alpha,
    )
    ev_by = dict(zip(s.trained, evidence, strict=True))
    rel_by_class = s.relations.set_index("class")
    measured = [c for c in s.trained if c.kind == ANNOTATE_CLASS]
    feats = rel_by_class.loc[[c.class_name for c in measured]].reset_index()
    gains = [ev_by[c].gain for c in measured]
    rel_cols = [r for r in RELATIONS if rel_by_class[r].notna().any()]
    report = fit_predictor(feats, gains, rel_cols)
    untrained = [c for c in s.negs if c not in ev_by]
    predicted = predict_gains(
        report,
        feats,
        gains,
        rel_by_class.loc[[c.class_name for c in untrained]].reset_index(),
        rel_cols,
    )
    table = _ranked_table(
        s.trained, untrained, predicted, ev_by, s.sized, rel_by_class, rel_cols, [], alpha,
        config.selection.min_gain,
    )  # fmt: skip
    return table, base_runs, report, ev_by


def recommend(
    config: RecommendConfig,
    store: str | None = None,
    progress: ProgressFn | None = None,
    cache: RunCache | None = None,
    job_fn: Any = execute_job,
    data: PlanData | None = None,
    cost_file: str | None = None,
) -> Recommendation:
    """Run the whole pipeline (module doc) and return the plan with its ranked table."""
    t0 = time.perf_counter()
    s = setup(config, store, progress, cache, job_fn, data, cost_file)
    table, base_runs, report, ev_by = simulate(s)
    runner, alpha, budget = s.runner, config.selection.alpha, config.budget
    singles = [(c, s.sized[c], ev_by[c].runs, ev_by[c].stats) for c in s.trained]
    steps = greedy_select(
        runner, s.base, base_runs, singles, s.orders, s.cost_model, budget, config.max_seeds,
        alpha, config.selection.max_classes, config.selection.greedy_width,
        min_gain=config.selection.min_gain,
    )  # fmt: skip
    chosen = list(steps[-1].sized.members) if steps else []
    rc_sets, _, rc_stats, rc_runs = random_control(
        runner, s.base, base_runs, list(s.sized), len(chosen), s.orders, s.cost_model,
        budget, config.max_seeds, config.selection.random_draws, config.seed, alpha,
    )  # fmt: skip
    chosen_names = {c.label for c in chosen}
    table["chosen"] = table["class"].isin(chosen_names)
    plan = _build_plan(
        config,
        s.data,
        s.problem,
        s.cost_model,
        budget,
        steps,
        base_runs,
        rc_sets,
        rc_stats,
        rc_runs,
        table,
        report,
        runner,
        s.notes,
    )
    return Recommendation(
        plan,
        table,
        report,
        s.data.simulated,
        s.data.name,
        runner.n_trained,
        runner.n_cached,
        time.perf_counter() - t0,
        s.notes,
    )


def class_candidates(
    labels: LabelTable, classes: list[str], per_source: bool = True
) -> list[Candidate]:
    """ "Annotate class c" for each class with training positives; per source x class when the
    class is labelled (has training positives) in several sources and ``per_source`` is set
    (DESIGN.md: "for several sources, each source x class"), e.g. "Effusion @ nih" and
    "Effusion @ chexpert", so the plan can say on which images a class is worth buying."""
    train = labels.split == "train"
    source = np.asarray(labels.source).astype(str)
    out: list[Candidate] = []
    for c in classes:
        pos = train & (labels.column(c) == 1)
        if not pos.any():
            continue
        sources = sorted(set(source[pos].tolist()))
        if per_source and len(sources) > 1:
            out.extend(Candidate(c, source=s) for s in sources)
        else:
            out.append(Candidate(c))
    return out


def _specs(assembly, seeds: int):
    from budgetplan.planner.runner import RunSpec

    return [RunSpec(assembly, s) for s in range(seeds)]


def _nan0(x: float) -> float:
    return float(x) if np.isfinite(x) else -math.inf


def _ranked_table(
    trained, untrained, predicted, ev_by, sized, rel_by_class, rel_cols, chosen, alpha, min_gain=0.0
) -> pd.DataFrame:
    rows = []
    for c in trained:
        ev, s = ev_by[c], sized[c]
        st = ev.stats
        rel = rel_by_class.loc[c.class_name] if c.kind == ANNOTATE_CLASS else None
        rows.append(
            {
                "class": c.label,
                "kind": c.kind,
                "source": c.source,
                **{r: (float(rel[r]) if rel is not None else float("nan")) for r in rel_cols},
                "gain": st["gain"],
                "gain_ci_low": st["ci_low"],
                "gain_ci_high": st["ci_high"],
                "p_value": st["p_value"],
                "runs": ev.n_runs,
                "significant": significant(st, alpha, min_gain),
                "n_images": s.n_images,
                "cost": s.cost,
                "gain_per_cost": st["gain"] / s.cost if s.cost > 0 else float("nan"),
                "chosen": c in chosen,
                "predicted": False,
            }
        )
    for c, g in zip(untrained, predicted, strict=True):
        rel = rel_by_class.loc[c.class_name]
        rows.append(
            {
                "class": c.label, "kind": c.kind, "source": c.source, **{r: float(rel[r]) for r in rel_cols},
                "gain": float(g), "gain_ci_low": float("nan"), "gain_ci_high": float("nan"), "p_value": float("nan"),
                "runs": 0, "significant": False, "n_images": sized[c].n_images, "cost": sized[c].cost,
                "gain_per_cost": float(g) / sized[c].cost if sized[c].cost > 0 else float("nan"),
                "chosen": False, "predicted": True,
            }
        )  # fmt: skip
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values(
            ["predicted", "gain"], ascending=[True, False], na_position="last"
        ).reset_index(drop=True)
    return df


def _build_plan(
    config,
    data,
    problem: SimProblem,
    cost_model,
    budget,
    steps,
    base_runs,
    rc_sets,
    rc_stats,
    rc_runs,
    table,
    report,
    runner,
    notes,
) -> AnnotationPlan:
    alpha = config.selection.alpha
    b_auc = mean_ci([r.auc for r in base_runs], alpha)
    baseline = {"auc": b_auc[0], "auc_ci_low": b_auc[1], "auc_ci_high": b_auc[2], "runs": len(base_runs),
                "ap": float(np.nanmean([r.ap for r in base_runs]))}  # fmt: skip
    actions: list[PlanAction] = []
    if steps:
        last = steps[-1]
        assign: dict[str, list[str]] = {}
        spent = 0.0
        for m in last.sized.members:
            ids = last.sized.assignments[m]
            for i in ids:
                assign.setdefault(i, []).append(m.class_name)
            total = cost_model.cost(assign)
            if m.kind == ANNOTATE_TARGET:
                reason = f"annotate {m.class_name} on {len(ids)} more images (about {round(len(ids) * _prevalence(problem))} new positives at the training prevalence)"
            else:
                where = f" on {m.source} images" if m.source else ""
                reason = f"{m.class_name} labels{where}: measured gain for {problem.target}; target's kNN hard negatives first"
            actions.append(
                PlanAction(
                    m.kind,
                    m.class_name,
                    m.source or data.name,
                    ids,
                    len(ids),
                    total - spent,
                    reason,
                )
            )
            spent = total
        e_auc = mean_ci([r.auc for r in last.runs], alpha)
        expected = {"gain": last.stats["gain"], "gain_ci_low": last.stats["ci_low"], "gain_ci_high": last.stats["ci_high"],
                    "auc": e_auc[0], "auc_ci_low": e_auc[1], "auc_ci_high": e_auc[2], "p_value": last.stats["p_value"],
                    "runs": len(last.runs),
                    "steps": [{"set": s.sized.assembly.name, "gain": s.stats["gain"], "gain_ci_low": s.stats["ci_low"],
                               "gain_ci_high": s.stats["ci_high"], "increment": s.increment["gain"], "n_images": s.sized.n_images,
                               "cost": s.sized.cost, "tried": s.tried} for s in steps]}  # fmt: skip
    else:
        expected = {
            "gain": 0.0,
            "gain_ci_low": 0.0,
            "gain_ci_high": 0.0,
            "auc": b_auc[0],
            "auc_ci_low": b_auc[1],
            "auc_ci_high": b_auc[2],
            "runs": 0,
        }
    plan_runs = steps[-1].runs if steps else base_runs
    vs = gain_stats(plan_runs, rc_runs, alpha)
    rc_auc = mean_ci([r.auc for r in rc_runs], alpha)
    control = {
        "classes": [m.class_name for m in rc_sets[0].members] if rc_sets else [],
        "draws": [[m.class_name for m in z.members] for z in rc_sets],
        "cost": float(np.mean([z.cost for z in rc_sets])) if rc_sets else 0.0,
        "gain": rc_stats["gain"], "gain_ci_low": rc_stats["ci_low"], "gain_ci_high": rc_stats["ci_high"],
        "auc": rc_auc[0], "auc_ci_low": rc_auc[1], "auc_ci_high": rc_auc[2],
        "plan_minus_random": vs["gain"], "plan_minus_random_ci_low": vs["ci_low"],
        "plan_minus_random_ci_high": vs["ci_high"], "plan_beats_random_p": vs["p_value"],
    }  # fmt: skip
    # without a budget the plan annotates whole training sets; its budget is then its own cost
    plan_budget = float(budget) if budget is not None else float(sum(a.cost for a in actions))
    verdict = _verdict(
        problem.target, steps, expected, control, table, alpha, cost_model.unit, budget,
        config.selection.min_gain,
    )  # fmt: skip
    evidence = {
        "predictor": report.to_dict(),
        "runs_trained": runner.n_trained,
        "runs_cached": runner.n_cached,
        "train_config": runner.config,
        "simulation": {"pool_images": len(problem.train_ids), "n_train_full": problem.n_train_full,
                       "val_images": len(problem.y_val), "test_images": len(problem.y_test),
                       "test_positives": int(np.sum(problem.y_test == 1)), "dim": int(problem.x_train.shape[1])},
        "notes": notes,
    }  # fmt: skip
    provenance = provenance_now(
        config=config, seeds=list(range(config.max_seeds)), simulated=data.simulated,
        store_path=config.data.store, store_checksum=data.checksum, method=config.method,
        data_name=data.name, budget_given=budget is not None,
    )  # fmt: skip
    candidates = [_json_row(r) for r in table.to_dict("records")]
    return AnnotationPlan(problem.target, plan_budget, cost_model.unit, cost_model, actions, baseline, expected, control,
                          candidates, verdict, evidence, provenance)  # fmt: skip


def _prevalence(problem: SimProblem) -> float:
    col = problem.y_train[:, problem.target_index]
    return float(np.nanmean(col))


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def _verdict(target, steps, expected, control, table, alpha, unit, budget, min_gain=0.0) -> str:
    if not steps:
        floor = f", and gain above {min_gain * 100:.1f} points" if min_gain > 0 else ""
        return (
            f"No class is worth its cost for {target}: no candidate's measured gain is significantly above zero "
            f"(one-sided paired test across seeds, p < {alpha}, and CI low > 0{floor}). Keep the budget, or collect more {target} labels."
        )
    names = steps[-1].sized.assembly.name
    g = expected["gain"] * 100
    lo, hi = expected["gain_ci_low"] * 100, expected["gain_ci_high"] * 100
    rc = control["plan_minus_random"] * 100
    beats = control["plan_beats_random_p"]
    cmp = (
        f"beats a random choice of equal cost by {rc:+.1f} AUC points (p = {beats:.3f})"
        if np.isfinite(beats) and beats < alpha
        else f"is not significantly better than a random choice of equal cost ({rc:+.1f} points)"
    )
    text = f"Annotate {names}: expected {target} AUC gain {g:+.1f} points (CI {lo:+.1f} to {hi:+.1f}); the plan {cmp}."
    if all(m.kind == ANNOTATE_TARGET for m in steps[-1].sized.members):
        helpful = []
        if len(table):
            sig = table[(table["kind"] == ANNOTATE_CLASS) & table["significant"].astype(bool)]
            helpful = [f"{r['class']} ({r['gain'] * 100:+.1f})" for r in sig.to_dict("records")]
        if helpful:
            text += (
                f" Negative classes with a significant gain ({', '.join(helpful)}) help less than more {target}"
                " labels of the same cost, and adding them to the plan did not measurably improve it."
            )
        else:
            text += f" No negative class is worth its cost here: more {target} labels are."
    return text
