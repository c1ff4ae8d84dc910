"""Trust: does a recommendation replicate on a new draw of the study? (bench/README.md, "Trust")

Every figure is measured over independent runs: run k uses recipe ``seed`` k, so its draws of
the study (kept target positives, images, initial weights, batch order) share nothing with the
other runs' (``budgetplan.planner.draws``).

    python bench/trust.py replicate --recipe digits --target 8 --runs 5
    python bench/trust.py coverage  --recipe digits --target 8 --runs 5 --reference-draws 20
    python bench/trust.py power     --recipe digits --target 8 --runs 5
    python bench/trust.py reference --recipe digits --target 8 --draws 8
    python bench/trust.py replicate --recipe digits --target 8 --runs 5 --train stopping=fixed
    python bench/trust.py analyse --runs-from rep8.json --reference-from ref8.json --max-draws 12

``replicate``: share of recommended (significant) classes recommended again by another run,
rank correlation of per-class gains between runs, and the share of runs whose decoy came out
significant. ``coverage``: share of candidates whose 95 % CI from one run covers their mean gain
over ``--reference-draws`` draws of a separate run. ``power``: a planted helpful class (the
target's superclass, e.g. "8 or 3", labelled like any class) and how often it is recommended.
``analyse``: a saved run's table recomputed from its per-draw gains (``--max-draws``,
``--min-gain``), coverage against the mean over every other saved draw, beside the coverage an
exactly calibrated CI would reach against that (noisy) mean. ``reference``: a plain trainer
written apart from budgetplan.methods (full-batch Adam, masked BCE, fixed steps, no early
stopping) on the planner's own draws; rank correlation of its per-class gains with the
planner's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from budgetplan.config import RecommendConfig, load_recipe
from budgetplan.data.label_table import LabelTable
from budgetplan.dataset import Dataset
from budgetplan.io import write_json_atomic
from budgetplan.planner.cache import RunCache
from budgetplan.planner.sources import load_plan_data
from budgetplan.planner.stats import GainStats, benjamini_hochberg, mean_ci
from budgetplan.planner.study import StudyPlanner


def _config(args: argparse.Namespace, seed: int, **sim: Any) -> RecommendConfig:
    cfg = load_recipe(args.recipe).with_overrides(target=args.target, seed=seed)
    train = {k: _value(v) for k, v in (kv.split("=", 1) for kv in args.train)}
    sim = {**{k: _value(v) for k, v in (kv.split("=", 1) for kv in args.sim)}, **sim}
    return cfg.with_overrides(train=train or None, simulation=sim or None)


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() in ("null", "none"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _run(cfg: RecommendConfig, data: Dataset) -> dict[str, Any]:
    t0 = time.perf_counter()
    planner = StudyPlanner(cfg, data, cache=RunCache(enabled=False))
    sim = planner.simulate()
    rows = sim.table[~sim.table["predicted"].astype(bool)]
    out = {
        "seed": cfg.seed,
        "gain": dict(zip(rows["class"], rows["gain"].astype(float), strict=True)),
        "low": dict(zip(rows["class"], rows["gain_ci_low"].astype(float), strict=True)),
        "high": dict(zip(rows["class"], rows["gain_ci_high"].astype(float), strict=True)),
        "runs": dict(zip(rows["class"], rows["runs"].astype(int), strict=True)),
        "significant": sorted(rows.loc[rows["significant"].astype(bool), "class"]),
        "diffs": _diffs(sim),
        "seconds": time.perf_counter() - t0,
    }
    print(
        f"  seed {cfg.seed}: significant {out['significant'] or 'none'}; "
        f"{planner.runner.n_trained} runs in {out['seconds']:.0f} s",
        flush=True,
    )
    return out


def _diffs(sim: Any) -> dict[str, dict[str, float]]:
    """Per candidate, its paired gain in each draw ({draw index: candidate AUC - baseline})."""
    base = {r.seed: float(r.auc) for r in sim.base_runs}
    return {
        c.label: {str(r.seed): float(r.auc) - base[r.seed] for r in ev.runs if r.seed in base}
        for c, ev in sim.evidence.items()
    }


def _pairs_summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    decoy = "decoy (random labels)"
    again, rhos = [], []
    for a, b in itertools.permutations(runs, 2):
        sa = [c for c in a["significant"] if c != decoy]
        sb = set(b["significant"])
        if sa:
            again.append(np.mean([c in sb for c in sa]))
    for a, b in itertools.combinations(runs, 2):
        keys = [k for k in a["gain"] if k in b["gain"] and k != decoy]
        rho = stats.spearmanr([a["gain"][k] for k in keys], [b["gain"][k] for k in keys])[0]
        rhos.append(float(rho))
    return {
        "recommended_again": float(np.mean(again)) if again else float("nan"),
        "pairs_with_recommendations": len(again),
        "rank_correlation_mean": float(np.mean(rhos)),
        "rank_correlation_min": float(np.min(rhos)),
        "decoy_significant_share": float(np.mean([decoy in r["significant"] for r in runs])),
    }


def replicate(args: argparse.Namespace) -> dict[str, Any]:
    data = load_plan_data(load_recipe(args.recipe).data)
    print(f"replicate: {args.recipe}, target {args.target}, {args.runs} runs", flush=True)
    seeds = range(args.first_seed, args.first_seed + args.runs)
    runs = []
    for s in seeds:  # saved after every run: an interrupted measurement keeps what it has
        runs.append(_run(_config(args, s), data))
        if args.save:
            _save(args.save, {"runs": runs, "summary": {}, "args": _args(args)})
    summary = _pairs_summary(runs)
    print(json.dumps(summary, indent=2))
    return {"runs": runs, "summary": summary}


def coverage(args: argparse.Namespace) -> dict[str, Any]:
    data = load_plan_data(load_recipe(args.recipe).data)
    n = args.reference_draws
    print(f"coverage: reference run of {n} draws (seed 1000), then {args.runs} runs", flush=True)
    if args.reference_from:
        ref = json.loads(Path(args.reference_from).read_text())["reference"]
    else:
        ref = _run(_config(args, 1000, initial_seeds=n, max_seeds=n), data)
    if args.runs_from:  # the runs of an earlier `replicate --save` (same recipe and settings)
        runs = json.loads(Path(args.runs_from).read_text())["runs"]
    else:
        runs = [_run(_config(args, s), data) for s in range(args.runs)]
    if not runs:
        return {"reference": ref, "runs": [], "summary": {}}
    hits = [
        r["low"][c] <= ref["gain"][c] <= r["high"][c]
        for r in runs
        for c in r["gain"]
        if c in ref["gain"] and np.isfinite(r["low"][c])
    ]
    summary = {
        "coverage": float(np.mean(hits)),
        "intervals": len(hits),
        "reference_draws": n,
        **_pairs_summary(runs),
    }
    print(json.dumps(summary, indent=2))
    return {"reference": ref, "runs": runs, "summary": summary}


def planted_data(target: str, partner: str) -> Dataset:
    """Digits with one more class, "<target> or <partner>": the target's superclass."""
    base = load_plan_data(load_recipe("digits").data)
    t = base.labels
    col = np.maximum(t.column(target), t.column(partner))[:, None]
    name = f"{target} or {partner}"
    table = LabelTable(
        np.concatenate([t.values, col], axis=1),
        [*t.classes, name],
        t.ids,
        t.source,
        t.patient,
        t.split,
    )
    return Dataset.from_arrays(table, np.asarray(base.vectors), name="digits + planted")


def power(args: argparse.Namespace) -> dict[str, Any]:
    data = planted_data(args.target, args.partner)
    name = f"{args.target} or {args.partner}"
    print(f"power: planted class {name!r}, {args.runs} runs", flush=True)
    runs = [_run(_config(args, s), data) for s in range(args.runs)]
    summary = {
        "planted": name,
        "recommended_share": float(np.mean([name in r["significant"] for r in runs])),
        "planted_gain_mean": float(np.mean([r["gain"][name] for r in runs])),
        **_pairs_summary(runs),
    }
    print(json.dumps(summary, indent=2))
    return {"runs": runs, "summary": summary}


def plain_auc(x_tr, y_tr, x_te, y_te, t: int, seed: int, steps: int = 300) -> float:
    """A plain reference: one hidden layer, full-batch Adam, masked BCE, fixed steps."""
    import torch
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(x_tr)
    y = torch.as_tensor(y_tr)
    known = ~torch.isnan(y)
    target = torch.where(known, y, torch.zeros_like(y))
    d, c = x.shape[1], y.shape[1]
    w1 = (torch.randn(d, 64, generator=g) / d**0.5).requires_grad_()
    b1 = torch.zeros(64, requires_grad=True)
    w2 = (torch.randn(64, c, generator=g) / 8).requires_grad_()
    b2 = torch.zeros(c, requires_grad=True)
    opt = torch.optim.Adam([w1, b1, w2, b2], lr=3e-3)
    for _ in range(steps):
        logits = torch.relu(x @ w1 + b1) @ w2 + b2
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, target, reduction="none"
        )
        loss = (loss * known).sum() / known.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        s = (torch.relu(torch.as_tensor(x_te) @ w1 + b1) @ w2 + b2)[:, t].numpy()
    return float(roc_auc_score(y_te, s))


def reference(args: argparse.Namespace) -> dict[str, Any]:
    data = load_plan_data(load_recipe(args.recipe).data)
    cfg = _config(args, 0, initial_seeds=args.draws, max_seeds=args.draws)
    planner = StudyPlanner(cfg, data, cache=RunCache(enabled=False))
    print(f"reference: plain trainer on {args.draws} draws of seed 0", flush=True)
    sim = planner.simulate()
    p = planner.problem
    t = p.target_index
    base = planner.sizer.size([])
    plain: dict[str, list[float]] = {}
    for s in range(args.draws):
        ys = p.y_test
        b = plain_auc(
            p.x_train,
            planner.draws.assembly(base, s).apply((p.y_train, p.train_ids, p.classes)),
            p.x_test,
            ys,
            t,
            planner.draws.seed(s),
        )
        for c in planner.trained:
            a = planner.draws.assembly(planner.sized[c], s)
            y = a.apply((p.y_train, p.train_ids, p.classes))
            g = plain_auc(p.x_train, y, p.x_test, ys, t, planner.draws.seed(s)) - b
            plain.setdefault(c.label, []).append(g)
    rows = sim.table.set_index("class")
    keys = [k for k in plain if k != "decoy (random labels)"]
    ours = [float(rows.loc[k, "gain"]) for k in keys]
    theirs = [float(np.mean(plain[k])) for k in keys]
    rho, pval = stats.spearmanr(ours, theirs)
    summary = {
        "draws": args.draws,
        "spearman": float(rho),
        "p_value": float(pval),
        "planner": dict(zip(keys, ours, strict=True)),
        "plain": dict(zip(keys, theirs, strict=True)),
    }
    print(json.dumps(summary, indent=2))
    return {"summary": summary}


def _stats_of(diffs: dict[str, float], max_draws: int | None) -> GainStats:
    """Paired gain statistics from per-draw differences (draws below ``max_draws`` only)."""
    x = np.array([v for k, v in diffs.items() if max_draws is None or int(k) < max_draws])
    if x.size < 2:
        return GainStats(float(x.mean()) if x.size else float("nan"), n_draws=int(x.size))
    ci = mean_ci(x.tolist())
    se = x.std(ddof=1) / np.sqrt(x.size)
    p = float(stats.t.sf(x.mean() / se, x.size - 1)) if se > 0 else float(x.mean() <= 0)
    return GainStats(ci.mean, ci.ci_low, ci.ci_high, p, int(x.size))


def _decide(run: dict[str, Any], max_draws: int | None, min_gain: float) -> dict[str, Any]:
    """A saved run's table recomputed from its per-draw gains: stats, BH, the decision rule."""
    st = {c: _stats_of(d, max_draws) for c, d in run["diffs"].items()}
    q = benjamini_hochberg([g.p_value for g in st.values()])
    st = {c: replace(g, q_value=qi) for (c, g), qi in zip(st.items(), q, strict=True)}
    return {
        "gain": {c: g.gain for c, g in st.items()},
        "low": {c: g.ci_low for c, g in st.items()},
        "high": {c: g.ci_high for c, g in st.items()},
        "runs": {c: g.n_draws for c, g in st.items()},
        "significant": sorted(c for c, g in st.items() if g.significant(0.05, min_gain)),
    }


def _expected_coverage(n: int, n_ref: int) -> float:
    """Coverage of an exactly calibrated 95 % t-interval over ``n`` draws when the mean it is
    checked against is itself a mean over ``n_ref`` other draws (same spread per draw)."""
    if n < 2:
        return float("nan")
    q = stats.t.ppf(0.975, n - 1) / np.sqrt(1 + n / n_ref)
    return float(1 - 2 * stats.t.sf(q, n - 1))


def _spread_ratio(runs: list[dict[str, Any]]) -> float:
    """Median over candidates of var(the runs' mean gains) / mean(within-run var / draws): about
    1 when a run's draws vary everything that differs between runs, above 1 when something is
    fixed per run (e.g. a recipe seed's pool) that its CIs cannot see."""
    ratios = []
    for c in {c for r in runs for c in r["diffs"]}:
        xs = [np.array(list(r["diffs"].get(c, {}).values())) for r in runs]
        xs = [x for x in xs if x.size >= 2]
        if len(xs) >= 3:
            within = np.mean([x.var(ddof=1) / x.size for x in xs])
            ratios.append(np.var([x.mean() for x in xs], ddof=1) / within)
    return float(np.median(ratios)) if ratios else float("nan")


def analyse(args: argparse.Namespace) -> dict[str, Any]:
    """Coverage and replication recomputed from saved runs' per-draw gains: each run's CIs
    against the mean over every other saved draw (the other runs and ``--reference-from``), and
    the decision rule at ``--max-draws`` draws with ``--min-gain``."""
    runs = [r for f in args.runs_from.split(",") for r in json.loads(Path(f).read_text())["runs"]]
    extra = (
        json.loads(Path(args.reference_from).read_text())["reference"]
        if args.reference_from
        else None
    )
    decided = [_decide(r, args.max_draws, args.min_gain) for r in runs]
    hits, expected, by_n = [], [], {}
    for k, dec in enumerate(decided):
        for c in dec["gain"]:
            pool = [v for j, o in enumerate(runs) if j != k for v in o["diffs"].get(c, {}).values()]
            pool += list(extra["diffs"].get(c, {}).values()) if extra else []
            if len(pool) < 20 or not np.isfinite(dec["low"][c]):
                continue
            hit = bool(dec["low"][c] <= np.mean(pool) <= dec["high"][c])
            hits.append(hit)
            expected.append(_expected_coverage(dec["runs"][c], len(pool)))
            by_n.setdefault(dec["runs"][c], []).append(hit)
    summary = {
        "coverage": float(np.mean(hits)),
        "intervals": len(hits),
        "coverage_if_calibrated": float(np.mean(expected)),
        "spread_ratio_median": _spread_ratio(runs),
        "coverage_by_draws": {n: [int(sum(h)), len(h)] for n, h in sorted(by_n.items())},
        "significant_per_run": [d["significant"] for d in decided],
        **_pairs_summary(decided),
    }
    print(json.dumps(summary, indent=2))
    return {"summary": summary}


def _args(args: argparse.Namespace) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}


def _save(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, json.loads(json.dumps(result, default=float)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("what", choices=["replicate", "coverage", "power", "reference", "analyse"])
    ap.add_argument("--recipe", default="digits")
    ap.add_argument("--target", default="8")
    ap.add_argument("--partner", default="3", help="power: the planted superclass's other class")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0, help="replicate: recipe seeds from here")
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--reference-draws", type=int, default=20)
    ap.add_argument("--train", nargs="*", default=[], help="train overrides, e.g. stopping=fixed")
    ap.add_argument("--sim", nargs="*", default=[], help="simulation overrides, e.g. max_seeds=12")
    ap.add_argument("--save", type=Path, default=None, help="write the results as JSON")
    ap.add_argument("--runs-from", default=None, help="coverage: runs saved by `replicate --save`")
    ap.add_argument("--reference-from", default=None, help="coverage: a saved reference run")
    ap.add_argument("--max-draws", type=int, default=None, help="analyse: draws below this only")
    ap.add_argument("--min-gain", type=float, default=0.0, help="analyse: the rule's min_gain")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    steps = {"replicate": replicate, "coverage": coverage, "power": power, "reference": reference}
    result = {**steps, "analyse": analyse}[args.what](args)
    result["args"] = _args(args)
    result["seconds"] = time.perf_counter() - t0
    if args.save:
        _save(args.save, result)
    print(f"({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
