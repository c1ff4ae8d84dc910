"""Benchmarks of the planner (``budgetplan recommend``); results in bench/README.md.

Usage (run with ``nice``; each mode prints a small table):

    python bench/recommend.py reduction --recipe digits      # class-sum vs entry-mean gains
    python bench/recommend.py reduction --recipe nih-nodule
    python bench/recommend.py agreement                      # reduced default vs full-size ranking
    python bench/recommend.py walltime                       # fresh-install `recommend --target Nodule`

``agreement`` trains every single candidate of the default recipe twice: with the default
reduced problem (pool, PCA, few epochs) and at full size (all training images, full dimension,
all validation images, more epochs), then reports Spearman's rho between the two gain vectors.
``walltime`` runs the CLI in a subprocess with an empty cache (demo build included), then again
with the cache warm (the peer measured in the same run).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import stats

from budgetplan.config import load_recipe
from budgetplan.planner.cache import RunCache
from budgetplan.planner.recommend import setup, simulate


def _data(recipe: str):
    """The recipe's data; for the demo, the generator directly if the demo store is not built yet."""
    from budgetplan.planner.sources import PlanData, load_plan_data

    cfg = load_recipe(recipe)
    try:
        return load_plan_data(cfg.data)
    except ImportError:
        from budgetplan.data.nih import load_nih
        from budgetplan.data.simulate_embeddings import simulate_embeddings

        table = load_nih()
        print("(demo store not installed: NIH labels + simulate_embeddings, the demo's generator)")
        return PlanData(
            "nih (simulated features)",
            table,
            simulate_embeddings(table),
            "bench-nih-sim",
            True,
            "Nodule",
        )


DATA = {}
POOL_FULL: int | None = None  # None = every training image; --pool-full N for a cheaper "large" run


def _gains(cfg, cache=None) -> tuple[dict[str, float], dict[str, float], float, float]:
    t0 = time.perf_counter()
    if cfg.recipe not in DATA:
        DATA[cfg.recipe] = _data(cfg.recipe)
    s = setup(cfg, cache=cache or RunCache(enabled=False), data=DATA[cfg.recipe])
    table, base_runs, _, _ = simulate(s)
    gains = dict(zip(table["class"], table["gain"], strict=True))
    lows = dict(zip(table["class"], table["gain_ci_low"], strict=True))
    return gains, lows, float(np.mean([r.auc for r in base_runs])), time.perf_counter() - t0


def reduction(recipe: str, target_positives: int | None = None) -> None:
    cfg = load_recipe(recipe).with_overrides(target_positives=target_positives)
    rows = {}
    for red in ("class-sum", "entry-mean"):
        c = dataclasses.replace(cfg, train={**dict(cfg.train), "reduction": red})
        rows[red] = _gains(c)
    classes = list(rows["class-sum"][0])
    print(f"recipe {recipe}: gain in AUC points (CI low) per candidate, same seeds")
    print(f"{'class':>10} {'class-sum':>18} {'entry-mean':>18}")
    for k in classes:
        cs = f"{rows['class-sum'][0][k] * 100:+.1f} ({rows['class-sum'][1][k] * 100:+.1f})"
        em = f"{rows['entry-mean'][0].get(k, np.nan) * 100:+.1f} ({rows['entry-mean'][1].get(k, np.nan) * 100:+.1f})"
        print(f"{k:>10} {cs:>18} {em:>18}")
    for red, (g, _low, base, sec) in rows.items():
        neg = [v for k, v in g.items() if not k.startswith("more ")]
        print(
            f"{red}: baseline AUC {base:.3f}, mean gain {np.nanmean(neg) * 100:+.2f}, best {np.nanmax(neg) * 100:+.2f}, "
            f"{sum(1 for k in neg if k > 0)}/{len(neg)} candidates with a positive mean gain, {sec:.0f} s"
        )


def agreement(recipe: str, target_positives: int | None = None) -> None:
    cfg = load_recipe(recipe).with_overrides(target_positives=target_positives)
    cfg = dataclasses.replace(
        cfg, simulation=dataclasses.replace(cfg.simulation, initial_seeds=2, max_seeds=2)
    )
    small = _gains(cfg)
    # full size: every training image (or --pool-full), all 1024 dimensions, every validation image; larger
    # batches (2048, lr 4e-3) keep the steps per epoch affordable on 2 cores
    full_sim = dataclasses.replace(
        cfg.simulation, pool_images=None, val_images=None, dim=None, max_replicas=16
    )
    full_train = {
        **dict(cfg.train),
        "batch_size": 2048,
        "lr": 0.004,
        "max_epochs": 6,
        "patience": 2,
    }
    full_cfg = dataclasses.replace(cfg, simulation=full_sim, train=full_train)
    full = _gains(full_cfg)
    keys = [k for k in small[0] if not k.startswith("more ")]
    a = np.array([small[0][k] for k in keys])
    b = np.array([full[0][k] for k in keys])
    rho, p = stats.spearmanr(a, b)
    print(f"{'class':>20} {'reduced':>9} {'full':>9}")
    for k, x, y in zip(keys, a, b, strict=True):
        print(f"{k:>20} {x * 100:+9.2f} {y * 100:+9.2f}")
    print(f"Spearman rho (reduced vs full-size gains) = {rho:.2f} (p = {p:.3f}), n = {len(keys)}")
    print(
        f"baseline AUC reduced {small[2]:.3f} vs full {full[2]:.3f}; time reduced {small[3]:.0f} s vs full {full[3]:.0f} s"
    )


def _child_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def walltime() -> None:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        env["BUDGETPLAN_CACHE"] = tmp
        cmd = [sys.executable, "-m", "budgetplan.cli", "recommend", "--target", "Nodule"]
        c0 = _child_cpu()
        t0 = time.perf_counter()
        first = subprocess.run(cmd, env=env, capture_output=True, text=True)
        t1 = time.perf_counter()
        c1 = _child_cpu()
        second = subprocess.run(cmd, env=env, capture_output=True, text=True)
        t2 = time.perf_counter()
        c2 = _child_cpu()
    print(first.stdout)
    if first.returncode:
        print(first.stderr[-2000:])
    print(
        f"fresh cache (demo build + relations + training): wall {t1 - t0:.1f} s, CPU {c1 - c0:.1f} s; "
        f"warm cache: wall {t2 - t1:.1f} s, CPU {c2 - c1:.1f} s; wall ratio {(t1 - t0) / max(t2 - t1, 1e-9):.1f}x"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(second.stdout.splitlines()[-1] if second.stdout else second.stderr[-500:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["reduction", "agreement", "walltime"])
    ap.add_argument("--recipe", default="nih-nodule")
    ap.add_argument("--target-positives", type=int, default=None)
    ap.add_argument(
        "--pool-full", type=int, default=None, help="agreement: training images of the large run"
    )
    args = ap.parse_args()
    global POOL_FULL
    POOL_FULL = args.pool_full
    if args.mode == "reduction":
        reduction(args.recipe, args.target_positives)
    elif args.mode == "agreement":
        agreement(args.recipe, args.target_positives)
    else:
        walltime()


if __name__ == "__main__":
    main()
