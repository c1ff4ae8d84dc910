"""Terminal rendering of a recommendation: readable at a glance, plain text, no colour codes.

Gains are shown in AUC points (x100) with their CI; ``*`` marks a gain significantly above zero;
a row whose gain is predicted from the relations (not trained) says so. The first line says when
the features are simulated.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from budgetplan.planner.draws import REDRAWN

SHOWN_RELATIONS = ("prototype-mean", "conditional", "knn-share")
RELATION_HEADERS = {"prototype-mean": "proto-mean", "conditional": "P(c|t)", "knn-share": "knn"}


def _pts(x: float) -> str:
    return "   n/a" if not math.isfinite(x) else f"{x * 100:+6.1f}"


def _num(x: float, fmt: str = "{:.2f}") -> str:
    return "n/a" if x is None or not math.isfinite(x) else fmt.format(x)


def render_table(table: pd.DataFrame, unit: str) -> str:
    """The ranked candidate table."""
    rels = [r for r in SHOWN_RELATIONS if r in table.columns]
    head = ["class"] + [RELATION_HEADERS[r] for r in rels]
    head += ["gain", "95% CI", "runs", f"cost ({unit})", "gain/1k", "chosen"]
    rows = []
    for r in table.to_dict("records"):
        if r.get("predicted"):
            ci, runs, gain = "(predicted)", "0", _pts(r["gain"])
        else:
            ci = f"[{_pts(r['gain_ci_low']).strip()}, {_pts(r['gain_ci_high']).strip()}]"
            runs = str(r["runs"])
            gain = _pts(r["gain"]) + ("*" if r.get("significant") else " ")
        gpc = (
            r["gain"] * 100 / r["cost"] * 1000
            if r["cost"] and math.isfinite(r["gain"])
            else float("nan")
        )
        rows.append(
            [str(r["class"])]
            + [_num(r[x]) for x in rels]
            + [
                gain,
                ci,
                runs,
                f"{r['cost']:,.0f}",
                _num(gpc, "{:+.2f}"),
                "yes" if r["chosen"] else "",
            ]
        )
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)
    ]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def render(rec: Any) -> str:
    """Everything the ``recommend`` command prints (without the progress bar)."""
    plan = rec.plan
    out: list[str] = []
    if rec.simulated:
        out.append(simulated_note(rec.data_name))
    sim = plan.evidence.get("simulation", {})
    out.append(
        f"Target {plan.target} on {rec.data_name}: baseline AUC {plan.baseline['auc']:.3f} "
        f"[{_num(plan.baseline['auc_ci_low'], '{:.3f}')}, "
        f"{_num(plan.baseline['auc_ci_high'], '{:.3f}')}] "
        f"over {plan.baseline.get('runs', '?')} seeds; "
        f"test split {sim.get('test_images', '?')} images "
        f"({sim.get('test_positives', '?')} positives)."
    )
    out.append("")
    out.append(
        "Candidates (gain = target AUC points over the baseline, paired by draw; runs = draws "
        "behind it; * = significant: Benjamini-Hochberg q < alpha over the candidates and "
        "CI low > 0):"
    )
    out.append(render_table(rec.table, plan.unit))
    out.append(f"Each draw of the study redraws {sim.get('redrawn', REDRAWN)}.")
    pred = rec.predictor
    if pred.rho:
        rhos = ", ".join(f"{k} {v:+.2f}" for k, v in pred.rho.items() if math.isfinite(v))
        chosen = (
            f"{pred.best} predicts out of sample (leave-one-out rho "
            f"{pred.loo_rho[pred.best]:+.2f}) and orders the untrained candidates"
            if pred.best is not None
            else "none predicts out of sample (leave-one-out), so untrained candidates are "
            "left unordered"
        )
        out.append(
            f"Rank correlation of relations with measured gains (n={pred.n}): {rhos}; {chosen}."
        )
    out.append("")
    out.append("Plan:")
    if plan.actions:
        for i, a in enumerate(plan.actions, 1):
            out.append(
                f"  {i}. {a.kind} {a.class_name}: {a.n_images:,} images, "
                f"cost {a.cost:,.1f} {plan.unit}"
            )
        out.append(f"  total cost {plan.total_cost:,.1f} of budget {plan.budget:,.1f} {plan.unit}")
        e = plan.expected
        out.append(
            f"  expected {plan.target} AUC {e['auc']:.3f} "
            f"[{_num(e['auc_ci_low'], '{:.3f}')}, {_num(e['auc_ci_high'], '{:.3f}')}], "
            f"gain {_pts(e['gain']).strip()} "
            f"[{_pts(e['gain_ci_low']).strip()}, {_pts(e['gain_ci_high']).strip()}] points"
        )
    else:
        out.append("  (nothing to annotate)")
    rc = plan.random_control
    if rc:
        draws = "; ".join(", ".join(d) for d in rc.get("draws", [rc["classes"]]))
        out.append(
            f"Random control (equal cost, {draws}): gain {_pts(rc['gain']).strip()} "
            f"[{_pts(rc['gain_ci_low']).strip()}, {_pts(rc['gain_ci_high']).strip()}] points; "
            f"plan minus random {_pts(rc['plan_minus_random']).strip()} "
            f"[{_pts(rc['plan_minus_random_ci_low']).strip()}, "
            f"{_pts(rc['plan_minus_random_ci_high']).strip()}]"
        )
    out.append("")
    out.append(plan.verdict)
    for note in rec.notes:
        out.append(f"note: {note}")
    out.append(
        f"({rec.runs_trained} runs trained, {rec.runs_cached} from cache, {rec.seconds:.0f} s)"
    )
    return "\n".join(out)


def simulated_note(data_name: str) -> str:
    """The NOTE line for simulated features: the demo's, the nih-chexpert recipe's (two sources,
    every embedding simulated by the demo's generator), or the generic one for other stores."""
    from budgetplan.demo import DEMO_TITLE
    from budgetplan.notices import DEMO_NOTICE, SIMULATED_NOTICE

    if data_name.startswith("nih+chexpert"):
        return (
            "NOTE: the features are SIMULATED (NIH and CheXpert labels are real; every image's "
            "embedding, CheXpert's too, is simulated by the embedded demo's generator); numbers "
            "illustrate the method, not a real image model."
        )
    return DEMO_NOTICE if data_name == DEMO_TITLE else SIMULATED_NOTICE
