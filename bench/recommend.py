"""Benchmarks of the planner (``budgetplan recommend``); results in bench/README.md.

Usage (run with ``nice``; each mode prints a small table):

    python bench/recommend.py reduction --recipe digits      # class-sum vs entry-mean gains
    python bench/recommend.py reduction --recipe nih-nodule
    python bench/recommend.py agreement --seeds 3 --dim-full 256 --json out.json
                                                             # reduced default vs full-size ranking
    python bench/recommend.py probe --dim-full 256           # cost of that full-size run first
    python bench/recommend.py agreement --seeds 3 --executor process --json raw.json
                                             # the default vs raw 1,024-d (no --dim-full)
    python bench/recommend.py reliability / resample         # noise floors of the reduced ranking
    python bench/recommend.py variant --pool-full N --dim-full D --compare out.json
                                                             # which reduction moves the ranking
    python bench/recommend.py walltime [--peer /path/to/checkout]
                                            # `recommend --target Nodule` cold, then warm

``agreement`` trains every single candidate of the default recipe (13 classes + "more Nodule")
with a fixed number of seeds twice, with the SAME schedule (the recipe's train section, seeds,
target positives, budget, method; the planner's own batched runner): on the default reduced
problem (8k pool, 3k validation images, PCA 64) and at full size (every training and validation
image; raw embeddings or ``--dim-full``), then reports Spearman's rho and Kendall's tau of the
two gain vectors, the top 3 of each, the significant candidates and both wall times.
The figures in bench/README.md for "the default reduced problem" were measured when the default
recipe used the 8k pool; that problem is now ``--recipe nih-nodule-quick`` (the default
``nih-nodule`` keeps every training image), so pass it to reproduce them.
``walltime`` runs the CLI in a subprocess with an empty cache (demo build included), then twice
with the cache warm (every run and the prepared problem cached): wall, CPU and peak RSS of each
(``wait4``); ``--peer DIR`` repeats the warm run with the code of another checkout (e.g. main
before the prepared-problem cache) on the same cache, the ratio measured in the same run.
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
from budgetplan.planner.study import StudyPlanner


def _data(recipe: str):
    """The recipe's data; for the demo, the generator directly if the demo store is not built
    yet."""
    from budgetplan.dataset import Dataset
    from budgetplan.planner.sources import load_plan_data

    cfg = load_recipe(recipe)
    try:
        return load_plan_data(cfg.data)
    except ImportError:
        from budgetplan.data.nih import load_nih
        from budgetplan.data.simulate_embeddings import simulate_embeddings

        table = load_nih()
        print("(demo store not installed: NIH labels + simulate_embeddings, the demo's generator)")
        return Dataset.from_arrays(
            table,
            simulate_embeddings(table),
            name="nih (simulated features)",
            simulated=True,
            default_target="Nodule",
            checksum="bench-nih-sim",
        )


DATA: dict = {}


def _gains(cfg, cache=None) -> tuple[dict[str, float], dict[str, float], float, float]:
    t0 = time.perf_counter()
    if cfg.recipe not in DATA:
        DATA[cfg.recipe] = _data(cfg.recipe)
    s = StudyPlanner(cfg, DATA[cfg.recipe], cache=cache or RunCache(enabled=False))
    sim = s.simulate()
    table, base_runs = sim.table, sim.base_runs
    gains = dict(zip(table["class"], table["gain"], strict=True))
    lows = dict(zip(table["class"], table["gain_ci_low"], strict=True))
    return gains, lows, float(np.mean([r.auc for r in base_runs])), time.perf_counter() - t0


def reduction(recipe: str, target_positives: int | None = None) -> None:
    cfg = load_recipe(recipe).with_overrides(target_positives=target_positives)
    rows = {}
    for red in ("class-sum", "entry-mean"):
        c = cfg.with_overrides(train={"reduction": red})
        rows[red] = _gains(c)
    classes = list(rows["class-sum"][0])
    print(f"recipe {recipe}: gain in AUC points (CI low) per candidate, same seeds")
    print(f"{'class':>10} {'class-sum':>18} {'entry-mean':>18}")
    for k in classes:
        cs = f"{rows['class-sum'][0][k] * 100:+.1f} ({rows['class-sum'][1][k] * 100:+.1f})"
        em = (
            f"{rows['entry-mean'][0].get(k, np.nan) * 100:+.1f} "
            f"({rows['entry-mean'][1].get(k, np.nan) * 100:+.1f})"
        )
        print(f"{k:>10} {cs:>18} {em:>18}")
    for red, (g, _low, base, sec) in rows.items():
        neg = [v for k, v in g.items() if not k.startswith("more ")]
        print(
            f"{red}: baseline AUC {base:.3f}, mean gain {np.nanmean(neg) * 100:+.2f}, "
            f"best {np.nanmax(neg) * 100:+.2f}, "
            f"{sum(1 for k in neg if k > 0)}/{len(neg)} candidates with a positive mean gain, "
            f"{sec:.0f} s"
        )


EXECUTOR: dict = {}  # agreement / probe: ``simulation.executor`` override (``--executor``)


def _fixed_seeds(cfg, seeds: int):
    """The recipe with successive halving switched off: every candidate gets ``seeds`` seeds."""
    sim = dataclasses.replace(
        cfg.simulation, initial_seeds=seeds, max_seeds=seeds, confirm_seeds=None, **EXECUTOR
    )
    return dataclasses.replace(cfg, simulation=sim, seeds=None)


def _full_config(cfg, pool: int | None, dim: int | None):
    """The same recipe and schedule; only the problem size changes (pool, validation, PCA)."""
    sim = dataclasses.replace(cfg.simulation, pool_images=pool, val_images=None, dim=dim)
    return dataclasses.replace(cfg, simulation=sim)


def _measure(cfg) -> dict:
    """Setup (data, pool, PCA, relations, kNN orders) then every candidate x seeds, timed apart."""
    if cfg.recipe not in DATA:
        DATA[cfg.recipe] = _data(cfg.recipe)
    t0 = time.perf_counter()
    s = StudyPlanner(cfg, DATA[cfg.recipe], cache=RunCache(enabled=False))
    t1 = time.perf_counter()
    sim = s.simulate()
    table, base_runs = sim.table, sim.base_runs
    t2 = time.perf_counter()
    return {
        "gain": dict(zip(table["class"], table["gain"], strict=True)),
        "low": dict(zip(table["class"], table["gain_ci_low"], strict=True)),
        "runs": dict(zip(table["class"], table["runs"], strict=True)),
        "base": float(np.mean([r.auc for r in base_runs])),
        "pool": len(s.problem.train_ids),
        "dim": int(s.problem.x_train.shape[1]),
        "val": len(s.problem.y_val),
        "setup_s": t1 - t0,
        "train_s": t2 - t1,
    }


def probe(recipe: str, seeds: int, pool: int | None, dim: int | None) -> None:
    """Cost of the full-size run before paying for it: setup, then ONE epoch of 2 x seeds
    replicas."""
    from budgetplan.planner.runner import Runner, RunSpec

    cfg = _full_config(_fixed_seeds(load_recipe(recipe), seeds), pool, dim)
    DATA[cfg.recipe] = DATA.get(cfg.recipe) or _data(cfg.recipe)
    t0 = time.perf_counter()
    s = StudyPlanner(cfg, DATA[cfg.recipe], cache=RunCache(enabled=False))
    t1 = time.perf_counter()
    one = dataclasses.replace(s.runner.config, max_epochs=1)
    runner = Runner(s.problem, one, cache=RunCache(enabled=False), max_replicas=64)
    cand = s.sized[s.trained[0]].assembly
    specs = [RunSpec(a, k) for a in (s.base, cand) for k in range(seeds)]
    runner.run(specs)
    t2 = time.perf_counter()
    n_rep = seeds * (len(s.trained) + 1)
    per = (t2 - t1) / len(specs)
    max_epochs = cfg.train.max_epochs
    print(
        f"pool {len(s.problem.train_ids)} x dim {s.problem.x_train.shape[1]}, "
        f"val {len(s.problem.y_val)}: "
        f"setup {t1 - t0:.0f} s; 1 epoch of {len(specs)} replicas {t2 - t1:.1f} s "
        f"({per:.2f} s per replica-epoch); "
        f"{n_rep} replicas x <= {max_epochs} epochs -> "
        f"<= {per * n_rep * max_epochs:.0f} s of training"
    )


def agreement(
    recipe: str,
    target_positives: int | None = None,
    seeds: int = 3,
    pool: int | None = None,
    dim: int | None = None,
    out: str | None = None,
) -> None:
    """Single-class gains of the default reduced problem vs a full-size run, same schedule.

    Both runs use the recipe's train section unchanged (epochs, patience, batch size, lr,
    hidden, reduction, method), the same seeds 0..seeds-1 for every candidate (no successive
    halving, so each gain has the same support), the same target positives and budget, and the
    planner's own runner (batched ``train_replicas``). Only the problem size differs: the
    reduced run uses the recipe's pool / validation sample / PCA dimension, the full-size run
    every training image (or ``pool``), every validation image and the raw embeddings (or PCA to
    ``dim``).
    """
    cfg = _fixed_seeds(load_recipe(recipe).with_overrides(target_positives=target_positives), seeds)
    small = _measure(cfg)
    print(
        f"reduced done: setup {small['setup_s']:.0f} s, training {small['train_s']:.0f} s",
        flush=True,
    )
    full = _measure(_full_config(cfg, pool, dim))
    keys = list(small["gain"])
    a = np.array([small["gain"][k] for k in keys])
    b = np.array([full["gain"].get(k, np.nan) for k in keys])
    print(f"{'candidate':>20} {'reduced':>16} {'full':>16}   (gain, CI low; AUC points)")
    for k, x, y in zip(keys, a, b, strict=True):
        lo_a, lo_b = small["low"][k] * 100, full["low"].get(k, np.nan) * 100
        print(f"{k:>20} {x * 100:+7.2f} ({lo_a:+6.2f}) {y * 100:+7.2f} ({lo_b:+6.2f})")
    for name, sel in (
        ("every candidate", keys),
        ("classes (decoy left out)", [k for k in keys if not k.startswith("decoy")]),
        (
            "negative classes",
            [k for k in keys if not k.startswith("more ") and not k.startswith("decoy")],
        ),
    ):
        idx = [keys.index(k) for k in sel]
        rho, p_rho = stats.spearmanr(a[idx], b[idx])
        tau, p_tau = stats.kendalltau(a[idx], b[idx])
        print(
            f"{name}: Spearman rho = {rho:.2f} (p = {p_rho:.3g}), "
            f"Kendall tau = {tau:.2f} (p = {p_tau:.3g}), n = {len(idx)}"
        )
    top = lambda g: [k for k, _ in sorted(g.items(), key=lambda kv: -kv[1])[:3]]  # noqa: E731
    negs = lambda r: {k: v for k, v in r["gain"].items() if not k.startswith("more ")}  # noqa: E731
    print(f"top 3 reduced {top(small['gain'])}, full {top(full['gain'])}")
    print(f"top 3 negative classes: reduced {top(negs(small))}, full {top(negs(full))}")
    for name, r in (("reduced", small), ("full", full)):
        sig = sorted((k for k in r["gain"] if r["low"][k] > 0), key=lambda k: -r["gain"][k])
        print(
            f"{name}: pool {r['pool']} x dim {r['dim']}, val {r['val']}; "
            f"baseline AUC {r['base']:.3f}; "
            f"significantly positive: {sig or 'none'}; setup {r['setup_s']:.0f} s "
            f"+ training {r['train_s']:.0f} s"
        )
    if out:  # the gains, for ``variant`` / ``proportional --compare``
        from budgetplan.io import write_json_atomic

        write_json_atomic(
            out, {"reduced": small["gain"], "full": full["gain"], "runs": [small, full]}
        )
    tot = lambda r: r["setup_s"] + r["train_s"]  # noqa: E731
    print(
        f"wall full / reduced: total {tot(full) / tot(small):.1f}x, "
        f"training {full['train_s'] / small['train_s']:.1f}x; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def reliability(recipe: str, seeds: int = 3) -> None:
    """Seed noise floor of ``agreement``: the reduced problem with 2 x seeds seeds, gains from
    seeds [0, S) against gains from seeds [S, 2S). Two rankings that differ only in seeds agree
    this well; a reduced-vs-full agreement near it means the reduction adds little error."""
    from budgetplan.planner.assembly import ANNOTATE_CLASS
    from budgetplan.planner.stats import gain_stats

    cfg = _fixed_seeds(load_recipe(recipe), 2 * seeds)
    if cfg.recipe not in DATA:
        DATA[cfg.recipe] = _data(cfg.recipe)
    s = StudyPlanner(cfg, DATA[cfg.recipe], cache=RunCache(enabled=False))
    sim = s.simulate()
    base_runs, ev_by = sim.base_runs, sim.evidence
    halves = ([r for r in base_runs if r.seed < seeds], [r for r in base_runs if r.seed >= seeds])
    names, a, b = [], [], []
    for c, ev in ev_by.items():
        names.append(c.class_name if c.kind == ANNOTATE_CLASS else f"more {c.class_name}")
        lo = [r for r in ev.runs if r.seed < seeds]
        hi = [r for r in ev.runs if r.seed >= seeds]
        a.append(gain_stats(lo, halves[0]).gain)
        b.append(gain_stats(hi, halves[1]).gain)
    label = f"reduced, seeds 0-{seeds - 1} vs {seeds}-{2 * seeds - 1}"
    _print_agreement(label, names, np.array(a), np.array(b))


def _print_agreement(
    label: str, keys: list[str], a: np.ndarray, b: np.ndarray, low: dict | None = None
) -> None:
    """Spearman's rho and Kendall's tau of two gain vectors (all candidates, then the negative
    classes only), then the gains side by side (AUC points; ``low``: CI low of ``a``)."""
    neg = np.array([not k.startswith("more ") for k in keys])
    for name, m in (("all", np.ones_like(neg)), ("negative classes", neg)):
        rho, p_rho = stats.spearmanr(a[m], b[m])
        tau, p_tau = stats.kendalltau(a[m], b[m])
        print(
            f"{label} ({name}, n = {int(m.sum())}): "
            f"Spearman rho = {rho:.2f} (p = {p_rho:.3g}), Kendall tau = {tau:.2f} (p = {p_tau:.3g})"
        )
    for k, x, y in zip(keys, a, b, strict=True):
        lo = f" ({low[k] * 100:+6.2f})" if low is not None else ""
        print(f"{k:>20} {x * 100:+7.2f}{lo} {y * 100:+7.2f}")


def _vs_full(label: str, r: dict, full: dict) -> None:
    """A measured variant ``r`` against the saved full-size gains ``full``."""
    keys = [k for k in full if k in r["gain"]]
    a = np.array([r["gain"][k] for k in keys])
    b = np.array([full[k] for k in keys])
    _print_agreement(f"{label} pool {r['pool']} x dim {r['dim']} vs full", keys, a, b, r["low"])
    print(
        f"baseline AUC {r['base']:.3f}; setup {r['setup_s']:.0f} s + training {r['train_s']:.0f} s"
    )


def resample(recipe: str, seeds: int = 3) -> None:
    """Sampling noise of the reduction itself: the reduced problem with ``seed`` 0 vs 1 (another
    pool sample, validation sample, PCA, kept target positives and kNN orders), same seeds."""
    cfg = _fixed_seeds(load_recipe(recipe), seeds)
    r0 = _measure(cfg)
    r1 = _measure(dataclasses.replace(cfg, seed=1))
    keys = list(r0["gain"])
    a = np.array([r0["gain"][k] for k in keys])
    b = np.array([r1["gain"].get(k, np.nan) for k in keys])
    _print_agreement("reduced, recipe seed 0 vs 1", keys, a, b)
    print(f"baseline AUC {r0['base']:.3f} vs {r1['base']:.3f}")


def _proportional_problem(table, vectors, target, sim=None, seed=0, checksum="", simulated=False):
    """Bench-only variant of ``prepare_problem``: a pool stratified by the target label (its
    positives at their natural rate, not all of them), so co-occurrence with the target and
    the target's prevalence in the pool match the full training set."""
    from budgetplan.planner import problem as pb

    t = table.class_index(target)
    col = table.values[:, t]
    train = np.flatnonzero(table.split == "train")
    rng = np.random.default_rng(seed)
    frac = sim.pool_images / len(train)
    keep = []
    for v in (0, 1):
        rows = train[col[train] == v]
        keep.append(rng.choice(rows, size=round(len(rows) * frac), replace=False))
    rows = np.sort(np.concatenate([np.flatnonzero(table.split != "train"), *keep]))
    prob = pb.prepare_problem(
        table.subset(rows),
        np.asarray(vectors[rows]),
        target,
        dataclasses.replace(sim, pool_images=None),
        seed=seed,
        data_checksum=checksum,
        simulated=simulated,
    )
    prob.n_train_full = len(train)
    return prob


def _natural_pool_problem(table, vectors, target, sim=None, seed=0, checksum="", simulated=False):
    """Bench-only variant of ``prepare_problem``: the pool is ``TARGET_POSITIVES`` target
    positives plus a UNIFORM sample of every other training image (so the target positives the
    base state hides, and the classes that co-occur with them, keep their natural rate), instead
    of every target positive plus a sample of the rest."""
    from budgetplan.planner import problem as pb

    t = table.class_index(target)
    col = table.values[:, t]
    train = np.flatnonzero(table.split == "train")
    rng = np.random.default_rng(seed)
    pos = train[col[train] == 1]
    kept = rng.choice(pos, size=min(TARGET_POSITIVES, len(pos)), replace=False)
    others = np.setdiff1d(train, kept)
    sample = rng.choice(others, size=sim.pool_images - len(kept), replace=False)
    rows = np.sort(np.concatenate([np.flatnonzero(table.split != "train"), kept, sample]))
    prob = pb.prepare_problem(
        table.subset(rows),
        np.asarray(vectors[rows]),
        target,
        dataclasses.replace(sim, pool_images=None),
        seed=seed,
        data_checksum=checksum,
        simulated=simulated,
    )
    prob.n_train_full = len(train)
    return prob


TARGET_POSITIVES = 500


def natural(recipe: str, seeds: int, pool: int | None, compare: str) -> None:
    """The reduced problem with the natural-rate pool of ``_natural_pool_problem`` (PCA and
    validation as the recipe), against the full-size gains saved in ``compare``."""
    import json

    from budgetplan.planner import recommend as rec

    global TARGET_POSITIVES
    full = json.load(open(compare))["full"]
    cfg = _fixed_seeds(load_recipe(recipe), seeds)
    if pool:
        cfg = dataclasses.replace(
            cfg, simulation=dataclasses.replace(cfg.simulation, pool_images=pool)
        )
    TARGET_POSITIVES = int(cfg.target_positives or 10**9)
    orig = rec.prepare_problem
    rec.prepare_problem = _natural_pool_problem
    try:
        r = _measure(cfg)
    finally:
        rec.prepare_problem = orig
    _vs_full("natural-rate", r, full)


def proportional(recipe: str, seeds: int, compare: str) -> None:
    """The reduced problem with a target-stratified pool and target positives scaled to the pool,
    against the full-size gains saved in ``compare`` (JSON {"full": {candidate: gain}})."""
    import json

    from budgetplan.planner import recommend as rec

    full = json.load(open(compare))["full"]
    cfg = _fixed_seeds(load_recipe(recipe), seeds)
    DATA.setdefault(cfg.recipe, _data(cfg.recipe))
    n_train = int(np.sum(DATA[cfg.recipe].labels.split == "train"))
    if cfg.simulation.pool_images is None:
        raise SystemExit(f"{recipe}: no pool_images to stratify; use --recipe nih-nodule-quick")
    frac = cfg.simulation.pool_images / n_train
    tp = max(1, round((cfg.target_positives or 0) * frac)) if cfg.target_positives else None
    orig = rec.prepare_problem
    rec.prepare_problem = _proportional_problem
    try:
        r = _measure(dataclasses.replace(cfg, target_positives=tp))
    finally:
        rec.prepare_problem = orig
    _vs_full(f"stratified (target positives {tp})", r, full)


def variant(
    recipe: str,
    seeds: int,
    pool: int | None,
    dim: int | None,
    compare: str,
    epochs: int | None = None,
    patience: int | None = None,
) -> None:
    """Which reduction moves the ranking: the recipe with only ``pool`` and ``dim`` (and, if
    given, ``epochs`` / ``patience``) changed, validation sample as the recipe, against the
    full-size gains saved in ``compare``."""
    import json

    full = json.load(open(compare))["full"]
    cfg = _fixed_seeds(load_recipe(recipe), seeds)
    if epochs or patience:
        cfg = cfg.with_overrides(
            train={
                "max_epochs": epochs or cfg.train.max_epochs,
                "patience": patience or cfg.train.patience,
            }
        )
    cfg = dataclasses.replace(
        cfg, simulation=dataclasses.replace(cfg.simulation, pool_images=pool, dim=dim)
    )
    r = _measure(cfg)
    _vs_full("variant", r, full)


def _timed_cli(
    cmd: list[str], env: dict[str, str], code: str
) -> tuple[float, float, float, str, str, int]:
    """Run ``cmd`` with the budgetplan of checkout ``code`` (its working directory and
    PYTHONPATH: ``python -m`` puts the working directory first); return wall s, CPU s (user +
    system), peak RSS GiB of that one child (its own ``wait4`` rusage), stdout, stderr and the
    exit code."""
    env = {**env, "PYTHONPATH": code}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=code, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return wall, cpu, usage.ru_maxrss / 2**20, out.read(), err.read(), proc.returncode


def walltime(peer: str | None = None, cache: str | None = None, warm_only: bool = False) -> None:
    """``budgetplan recommend --target Nodule`` cold (empty cache, demo build included), then
    warm (same cache: every run and the prepared problem cached); ``peer``: a checkout whose
    code (PYTHONPATH) repeats the warm run on the same cache, the ratio measured in this run."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, "-m", "budgetplan.cli", "recommend", "--target", "Nodule"]
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        env["BUDGETPLAN_CACHE"] = cache or tmp
        rows = []
        runs = ([] if warm_only else ["cold"]) + ["warm", "warm again"]
        for name in runs:
            wall, cpu, rss, out, err, code = _timed_cli(cmd, env, here)
            if code:
                print(err[-2000:])
                raise SystemExit(f"{name} run failed (exit {code})")
            rows.append((name, wall, cpu, rss, out.strip().splitlines()[-1]))
            print(f"{name}: wall {wall:.1f} s, CPU {cpu:.1f} s, peak {rss:.2f} GiB", flush=True)
        if peer:
            wall, cpu, rss, out, err, code = _timed_cli(cmd, env, os.path.abspath(peer))
            rows.append((f"warm, code of {peer}", wall, cpu, rss, out.strip().splitlines()[-1]))
    print(f"{'run':>28} {'wall s':>8} {'CPU s':>8} {'peak GiB':>9}  last line")
    for name, wall, cpu, rss, last in rows:
        print(f"{name:>28} {wall:8.1f} {cpu:8.1f} {rss:9.2f}  {last}")
    if peer:
        print(f"warm: {peer} / this checkout = {rows[-1][1] / rows[-2][1]:.1f}x wall")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "mode",
        choices=[
            "reduction",
            "agreement",
            "probe",
            "reliability",
            "resample",
            "proportional",
            "variant",
            "natural",
            "walltime",
        ],
    )
    ap.add_argument("--recipe", default="nih-nodule")
    ap.add_argument("--target-positives", type=int, default=None)
    ap.add_argument(
        "--pool-full",
        type=int,
        default=None,
        help="agreement: training images of the full run (all)",
    )
    ap.add_argument(
        "--dim-full", type=int, default=None, help="agreement: PCA dim of the full run (none)"
    )
    ap.add_argument("--seeds", type=int, default=3, help="agreement/probe: seeds per candidate")
    ap.add_argument("--epochs", type=int, default=None, help="variant: max_epochs")
    ap.add_argument("--patience", type=int, default=None, help="variant: patience")
    ap.add_argument("--json", default=None, help="agreement: save both gain vectors here")
    ap.add_argument(
        "--executor",
        default=None,
        help="agreement/probe: simulation.executor (e.g. process: a worker per core)",
    )
    ap.add_argument("--compare", default=None, help="proportional: JSON with the full-size gains")
    ap.add_argument(
        "--peer", default=None, help="walltime: checkout whose code repeats the warm run"
    )
    ap.add_argument(
        "--cache", default=None, help="walltime: this cache folder (default: a new one)"
    )
    ap.add_argument("--warm-only", action="store_true", help="walltime: skip the cold run")
    args = ap.parse_args()
    if args.executor:
        EXECUTOR["executor"] = args.executor
    if args.mode == "reduction":
        reduction(args.recipe, args.target_positives)
    elif args.mode == "agreement":
        agreement(
            args.recipe, args.target_positives, args.seeds, args.pool_full, args.dim_full, args.json
        )
    elif args.mode == "reliability":
        reliability(args.recipe, args.seeds)
    elif args.mode == "resample":
        resample(args.recipe, args.seeds)
    elif args.mode == "proportional":
        proportional(args.recipe, args.seeds, args.compare)
    elif args.mode == "variant":
        variant(
            args.recipe,
            args.seeds,
            args.pool_full,
            args.dim_full,
            args.compare,
            args.epochs,
            args.patience,
        )
    elif args.mode == "natural":
        natural(args.recipe, args.seeds, args.pool_full, args.compare)
    elif args.mode == "probe":
        probe(args.recipe, args.seeds, args.pool_full, args.dim_full)
    else:
        walltime(args.peer, args.cache, args.warm_only)


if __name__ == "__main__":
    main()
