"""Scale benchmarks: executors on one machine, and the per-run costs behind the cost model.

Usage (run with ``nice``; results in bench/README.md, "Scale"):

    python bench/scale.py executors --recipe digits [--quick]
    python bench/scale.py executors --recipe nih-nodule-quick
    python bench/scale.py runcost
    python bench/scale.py embedcost

``executors`` runs the whole ``recommend`` pipeline once per executor (local, process with 2
workers, Ray on this machine's cores), each with an empty run cache, the same recipe and seeds;
prints wall time (Ray: start-up of the local Ray separately), training time, jobs, runs and
whether the gains and the plan equal local's; then the overhead per job: the same executor
mapping a no-op over jobs carrying the recipe's arrays (nothing trained), divided by the jobs.

``runcost`` times ``train_replicas`` (label-assemble, hidden 128, batch 512, one thread) for a
few pool sizes N, classes C and replicas R on random data: seconds per replica-epoch, the input
of the cost model. ``embedcost``: seconds per image to read and resize a 1024 x 1024 8-bit PNG
(``read_image``) and to run DenseNet-121 (random weights, 224 x 224, batch 16, one thread).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _noop(job) -> list[dict[str, float]]:
    return [{"auc": 0.5, "ap": 0.5, "best_epoch": 0} for _ in job.seeds]


def _plan_content(rec) -> dict:
    plan = json.loads(rec.plan.to_json())
    return {k: v for k, v in plan.items() if k not in ("provenance", "plan_id")}


def executors(recipe: str, kinds: list[str], quick: bool = False) -> None:
    from budgetplan.config import load_recipe, quick_config
    from budgetplan.planner.cache import RunCache
    from budgetplan.planner.executor import executor_for
    from budgetplan.planner.recommend import recommend
    from budgetplan.planner.runner import Runner, RunSpec
    from budgetplan.planner.sources import load_plan_data
    from budgetplan.planner.study import StudyPlanner

    cfg = quick_config(load_recipe(recipe)) if quick else load_recipe(recipe)
    ref = None
    rows = []
    for kind in kinds:
        c = cfg.with_overrides(simulation={"executor": kind})
        start = 0.0
        if kind == "ray":
            import ray

            t = time.perf_counter()
            ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            start = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            rec = recommend(c, cache=RunCache(Path(tmp) / "runs"))
            wall = time.perf_counter() - t
            # overhead per job: the same jobs (arrays, sizes) with a no-op in place of training
            s = StudyPlanner(c, load_plan_data(c.data), cache=RunCache(enabled=False))
            n_jobs = 40
            specs = [RunSpec(s.base, seed) for seed in range(n_jobs)]
            probe = Runner(
                s.problem,
                s.runner.config,
                cache=RunCache(enabled=False),
                executor=executor_for(c.simulation, c.device, 1),
                max_replicas=1,
                job_fn=_noop,
            )
            t = time.perf_counter()
            probe.run(specs)
            per_job = (time.perf_counter() - t) / n_jobs
        same = "-"
        if ref is None:
            ref = rec
        else:
            same = str(rec.table.equals(ref.table) and _plan_content(rec) == _plan_content(ref))
        rows.append((kind, start, wall, rec.seconds, rec.runs_trained, per_job, same))
        print(
            f"{kind:8s} start {start:6.1f} s  wall {wall:7.1f} s  runs {rec.runs_trained:4d}  "
            f"overhead/job {per_job * 1000:8.1f} ms  same as local: {same}",
            flush=True,
        )
        if kind == "ray":
            import ray

            ray.shutdown()
    base = rows[0][2]
    print("\n| executor | Ray start s | wall s | x local | runs | overhead per job ms | same |")
    print("|---|---|---|---|---|---|---|")
    for kind, start, wall, _, runs, per_job, same in rows:
        print(
            f"| {kind} | {start:.1f} | {wall:.1f} | {wall / base:.2f} | {runs} | "
            f"{per_job * 1000:.1f} | {same} |"
        )


def runcost(epochs: int) -> None:
    from budgetplan.methods.train_config import TrainConfig
    from budgetplan.methods.trainer import train_replicas

    rng = np.random.default_rng(0)
    print("| N images | C classes | R replicas | d | s per replica-epoch |")
    print("|---|---|---|---|---|")
    for n, c, r in [(4000, 14, 8), (16000, 14, 8), (64000, 14, 4), (16000, 50, 8), (16000, 14, 32)]:
        d = 64
        x = rng.normal(size=(n, d)).astype(np.float32)
        y = (rng.random((r, n, c)) < 0.1).astype(np.float32)
        y[:, rng.random(n) < 0.5, 1:] = np.nan
        xv = rng.normal(size=(2000, d)).astype(np.float32)
        yv = (rng.random((2000, c)) < 0.1).astype(np.float32)
        cfg = TrainConfig.from_dict(
            {
                "method": "label-assemble",
                "hidden": 128,
                "batch_size": 512,
                "max_epochs": epochs,
                "patience": epochs,
                "threads": 1,
                "device": "cpu",
                "early_stop_classes": [0],
            }
        )
        t = time.perf_counter()
        train_replicas(x, y, xv, yv, cfg, tuple(range(r)))
        sec = (time.perf_counter() - t) / (r * epochs)
        print(f"| {n:,} | {c} | {r} | {d} | {sec:.4f} |", flush=True)


def embedcost(images: int = 16) -> None:
    import torch
    from PIL import Image

    from budgetplan.embeddings.backbones import backbone_spec, load_backbone
    from budgetplan.embeddings.extract import _embed_batch, read_image

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        yy, xx = np.mgrid[0:1024, 0:1024]
        for i in range(images):  # smooth image plus noise: compresses like a radiograph, not noise
            img = 128 + 60 * np.sin(xx / (40 + i)) * np.cos(yy / 55) + rng.normal(0, 8, xx.shape)
            paths.append(str(Path(tmp) / f"x{i}.png"))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(paths[-1])
        t = time.perf_counter()
        for path in paths:
            read_image(path, 224)
        read = (time.perf_counter() - t) / images
        model, _ = load_backbone("densenet121-imagenet", random_weights=True)
        spec = backbone_spec("densenet121-imagenet")
        _embed_batch(model, paths[:2], spec, 224, torch.device("cpu"))  # warm-up
        t = time.perf_counter()
        _embed_batch(model, paths, spec, 224, torch.device("cpu"))
        total = (time.perf_counter() - t) / images
    print(
        f"read+resize {read * 1000:.1f} ms/image; read + DenseNet-121 forward (1 thread) "
        f"{total * 1000:.1f} ms/image"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("executors")
    e.add_argument("--recipe", default="digits")
    e.add_argument("--kinds", nargs="+", default=["local", "process", "ray"])
    e.add_argument("--quick", action="store_true", help="the recipe's --quick settings")
    r = sub.add_parser("runcost")
    r.add_argument("--epochs", type=int, default=3)
    sub.add_parser("embedcost")
    args = ap.parse_args()
    if args.mode == "executors":
        executors(args.recipe, args.kinds, args.quick)
    elif args.mode == "runcost":
        runcost(args.epochs)
    else:
        embedcost()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
