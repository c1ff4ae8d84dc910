"""How long exporting a large plan takes, against pandas writing the same worklist (the peer).

A plan of 3 classes x 40,000 images drawn from 100,000 (about 78k distinct images, the
NIH ChestX-ray14 scale) is exported in every format; each time is reported with its ratio to
``pandas.DataFrame.to_csv`` of a table of the same rows, measured in the same run.

    nice python bench/export_scale.py [--images 100000] [--per-class 40000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from budgetplan.planner.costs import CostModel
from budgetplan.planner.export import FORMATS, export_plan, worklist_frame
from budgetplan.planner.images import make_action
from budgetplan.planner.plan import AnnotationPlan


def build_plan(n: int, per_class: int, seed: int = 0) -> AnnotationPlan:
    rng = np.random.default_rng(seed)
    ids = np.array([f"{i:08d}_000.png" for i in range(n)], dtype=object)
    cm = CostModel({"Mass": 2.0}, image_read_cost=0.5)
    actions: list = []
    read: set[int] = set()
    for cls in ("Mass", "Effusion", "Infiltration"):
        rows = rng.choice(n, per_class, replace=False)
        actions.append(
            make_action(
                "annotate-class", cls, "nih", rows, ids, cm, already_read=read, reason="bench"
            )
        )
        read.update(rows.tolist())
    block = {"auc": 0.7, "auc_ci_low": 0.68, "auc_ci_high": 0.72}
    expected = {**block, "gain": 0.01, "gain_ci_low": 0.0, "gain_ci_high": 0.02}
    return AnnotationPlan("Nodule", 1e9, "units", cm, actions, block, expected, None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--per-class", type=int, default=40_000)
    args = ap.parse_args()
    t = time.perf_counter()
    plan = build_plan(args.images, args.per_class)
    t_build = time.perf_counter() - t
    out = Path(tempfile.mkdtemp())
    frame = worklist_frame(plan)
    t = time.perf_counter()
    frame.to_csv(out / "peer.csv", index=False)
    peer = time.perf_counter() - t
    print(
        f"plan: {len(plan.assignments())} distinct images, built and validated in {t_build:.2f} s"
    )
    print(f"peer pandas.to_csv of the same {len(frame)} rows: {peer:.2f} s")
    for fmt in FORMATS:
        t = time.perf_counter()
        export_plan(plan, fmt, out / f"plan.{fmt}.jsonl", image_size=(1024, 1024))
        dt = time.perf_counter() - t
        print(f"{fmt:12s} {dt:6.2f} s   x{dt / peer:5.1f} the peer")
    _ = pd  # pandas is the peer


if __name__ == "__main__":
    main()
