"""Benchmark of the replica-batched trainer (budgetplan.methods.trainer), all figures in one run.

Measures, on this machine and in one process:

1. the matmul peak: a 4096 x 4096 float32 matmul (GFLOP/s), the reference for "share of peak";
2. seconds per epoch and achieved share of the matmul peak (forward + backward FLOPs counted by
   ``models.count_flops``) of ``train_replicas`` with one replica, for N = 20,000 and 112,120 rows
   x 1024-d, next to a plain PyTorch MLP epoch (nn.Sequential + torch.optim.Adam) of the same size;
3. batched vs looped training of K = 14 replicas at N = 20,000 x 1024 (compute-bound) and at
   N = 2,000 x 256 with a narrow trunk (overhead-bound);
4. the same with 1 vs 2 torch threads while a busy-loop process keeps one core busy.

Run it niced:  ``nice -n 10 python bench/train.py``  (``--quick`` for a smoke run; ``--json PATH``
writes the figures). The machine is shared: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from budgetplan.methods import models
from budgetplan.methods.trainer import TrainConfig, train_replicas

C = 14  # classes (NIH ChestX-ray14)


def matmul_gflops(n: int = 4096, repeats: int = 5, clock: str = "wall") -> float:
    """Best-of-``repeats`` float32 n x n matmul throughput in GFLOP/s."""
    tick = time.perf_counter if clock == "wall" else time.thread_time
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    torch.matmul(a, b)  # warm-up
    best = np.inf
    for _ in range(repeats):
        t0 = tick()
        torch.matmul(a, b)
        best = min(best, tick() - t0)
    return 2.0 * n**3 / best / 1e9


def data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = rng.standard_normal((d, C)).astype(np.float32) * 3
    y = (x @ w + rng.standard_normal((n, C)).astype(np.float32) > 1.0).astype(np.float32)
    y[rng.random(y.shape) < 0.3] = np.nan
    xv = x[:1000].copy()
    yv = np.nan_to_num(y[:1000], nan=0.0)
    yv[0] = 1.0
    return x, y, xv, yv


def engine_epoch(
    x,
    y,
    xv,
    yv,
    cfg: TrainConfig,
    replicas: int,
    epochs: int,
    clock: str = "wall",
    draws: int | None = None,
) -> float:
    """Seconds per epoch of ``train_replicas`` with ``replicas`` replicas (after one warm-up epoch).

    ``clock``: "wall" (perf_counter) or "cpu" (this thread's CPU time: less sensitive to other
    processes on the shared machine when torch runs one thread). ``draws``: how many distinct
    seeds the replicas have (default: each its own; a planner job holds the runs of 1-2 draws of
    the study, which share their seed).
    """
    tick = time.perf_counter if clock == "wall" else time.thread_time
    stamps: list[float] = []
    ys = np.broadcast_to(y, (replicas, *y.shape))
    run = TrainConfig(**{**cfg.to_dict(), "max_epochs": epochs + 1, "patience": epochs + 1})
    train_replicas(
        x,
        ys,
        xv,
        yv,
        run,
        [i % (draws or replicas) for i in range(replicas)],
        progress=lambda *a: stamps.append(tick()),
    )
    return float(np.median(np.diff(stamps)))


def looped_epoch(
    x, y, xv, yv, cfg: TrainConfig, replicas: int, epochs: int, clock: str = "wall"
) -> float:
    """Seconds per epoch of ``replicas`` one-replica runs one after the other."""
    return sum(engine_epoch(x, y, xv, yv, cfg, 1, epochs, clock) for _ in range(replicas))


def interleaved_ratio(
    x, y, xv, yv, cfg: TrainConfig, replicas: int, epochs: int, repeats: int
) -> dict[str, float]:
    """Batched and looped epochs measured in alternation ``repeats`` times (wall and CPU clock);
    the medians of the per-pair ratios, so that a load change hits both sides of a pair."""
    rows = []
    for _ in range(repeats):
        for clock in ("wall", "cpu"):
            b = engine_epoch(x, y, xv, yv, cfg, replicas, epochs, clock)
            lp = looped_epoch(x, y, xv, yv, cfg, replicas, epochs, clock)
            rows.append((clock, b, lp))
    out: dict[str, float] = {}
    for clock in ("wall", "cpu"):
        sel = [(b, lp) for c, b, lp in rows if c == clock]
        out[f"batched_{clock}_s"] = float(np.median([b for b, _ in sel]))
        out[f"looped_{clock}_s"] = float(np.median([lp for _, lp in sel]))
        out[f"speedup_{clock}"] = float(np.median([lp / b for b, lp in sel]))
    return out


def plain_epoch(
    x: np.ndarray, y: np.ndarray, hidden: int, batch: int, epochs: int, clock: str = "wall"
) -> float:
    """A plain PyTorch MLP epoch (the peer): nn.Sequential, Adam, BCE on annotated labels."""
    tick = time.perf_counter if clock == "wall" else time.thread_time
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(hidden, C),
    )
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    times = []
    for _ in range(epochs + 1):
        t0 = tick()
        perm = torch.randperm(len(xt), generator=g)
        for s in range(0, len(xt), batch):
            idx = perm[s : s + batch]
            yb = yt[idx]
            known = ~torch.isnan(yb)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                net(xt[idx]), torch.nan_to_num(yb), weight=known.float()
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(tick() - t0)
    return float(np.median(times[1:]))


PLANNER = {"n": 78_000, "n_val": 11_000, "hidden": 128, "batch": 512, "replicas": 8, "lr": 1e-3}


def planner_data(
    n: int, d: int, n_val: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training rows (n, d) with 30 % of the labels missing, fully labelled validation rows."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + n_val, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = rng.standard_normal((d, C)).astype(np.float32) * 3
    y = (x @ w + rng.standard_normal((n + n_val, C)).astype(np.float32) > 1.0).astype(np.float32)
    y_train = y[:n].copy()
    y_train[rng.random(y_train.shape) < 0.3] = np.nan
    return x[:n], y_train, x[n:], y[n:]


def planner_sizes(
    results: dict[str, Any],
    dims: list[int],
    methods: list[str],
    epochs: dict[int, int],
    log: Callable[[str], None],
    engines: Sequence[str] = ("auto",),
    draws: int | None = None,
    rounds: int = 1,
) -> None:
    """The planner's sizes (issue 13): 78,000 rows x d, hidden 128, 14 classes, batch 512,
    8 replicas (of ``draws`` distinct seeds; default 8), one torch thread. Per replica-epoch
    CPU seconds (this thread's clock) of ``train_replicas`` for each method, next to a plain
    per-model PyTorch loop and to the matrix-product limit (``models.count_flops`` / the
    4096^2 matmul GFLOP/s).

    ``rounds`` > 1 measures the peers in alternation (matmul, plain loop, then each method, once
    a round) and reports the medians of the per-round ratios, so that the machine's speed, which
    moves by 10-60 % within minutes on these shared machines, hits both sides of each ratio."""
    torch.set_num_threads(1)
    p = PLANNER
    out: dict[str, Any] = {**p, "rounds": rounds}
    for d in dims:
        x, y, xv, yv = planner_data(p["n"], d, p["n_val"])
        spec = models.ModelSpec(d, C, p["hidden"], 1)
        flops = models.count_flops(spec, p["n"])
        # issue 13 counted 6 N (d h + h C): it includes the first layer's input gradient, which
        # no trainer computes; both shares are reported, ours first
        issue_flops = 6.0 * p["n"] * (d * p["hidden"] + p["hidden"] * C)
        per_round: list[dict[str, float]] = []
        for k in range(rounds):
            peak = matmul_gflops(4096, clock="cpu")
            plain = plain_epoch(x, y, p["hidden"], p["batch"], 2, clock="cpu")
            got = {"peak": peak, "plain": plain}
            for engine in engines:
                tag = "" if engine == "auto" else f"@{engine}"
                for method in methods:
                    cfg = TrainConfig(
                        method=method,
                        hidden=p["hidden"],
                        batch_size=p["batch"],
                        lr=p["lr"],
                        device="cpu",
                        early_stop_classes=(0,),
                        engine=engine,
                    )
                    r = p["replicas"]
                    got[method + tag] = (
                        engine_epoch(x, y, xv, yv, cfg, r, epochs[d], clock="cpu", draws=draws) / r
                    )
            per_round.append(got)
            limit = flops / peak / 1e9
            log(
                f"[planner] d={d} round {k + 1}/{rounds}: 4096^2 matmul {peak:.1f} GFLOP/s, "
                f"limit {1e3 * limit:.1f} ms; plain loop {1e3 * plain:.0f} ms per model-epoch; "
                + ", ".join(
                    f"{name} {1e3 * t:.0f} ms ({plain / t:.2f}x plain, {100 * limit / t:.0f} %, "
                    f"{100 * limit * issue_flops / flops / t:.0f} % on the issue's count)"
                    for name, t in got.items()
                    if name not in ("peak", "plain")
                )
            )

        names = [n for n in per_round[0] if n not in ("peak", "plain")]
        ratios = [  # per round: time, x the plain loop, share of the limit, of each method
            {n: (g[n], g["plain"] / g[n], flops / g["peak"] / 1e9 / g[n]) for n in names}
            for g in per_round
        ]
        row: dict[str, Any] = {
            "matmul_gflops": float(np.median([g["peak"] for g in per_round])),
            "limit_s": float(np.median([flops / g["peak"] / 1e9 for g in per_round])),
            "plain_s": float(np.median([g["plain"] for g in per_round])),
        }
        for name in names:
            vs = [rr[name][1] for rr in ratios]
            row[name] = {
                "s": float(np.median([rr[name][0] for rr in ratios])),
                "vs_plain": float(np.median(vs)),
                "vs_plain_range": [min(vs), max(vs)],
                "share_of_limit": float(np.median([rr[name][2] for rr in ratios])),
                "share_of_limit_issue_count": float(
                    np.median([rr[name][2] * issue_flops / flops for rr in ratios])
                ),
            }
            log(
                f"[planner] d={d} {name}: {1e3 * row[name]['s']:.0f} ms per replica-epoch, "
                f"{row[name]['vs_plain']:.2f}x the plain loop ({min(vs):.2f}-{max(vs):.2f}), "
                f"{100 * row[name]['share_of_limit']:.0f} % of the matmul limit "
                f"({100 * row[name]['share_of_limit_issue_count']:.0f} % on the issue's count; "
                f"medians of {rounds} round(s))"
            )
        for engine in engines:
            tag = "" if engine == "auto" else f"@{engine}"
            if "ne" + tag in row and "label-assemble" + tag in row:
                la_ne = [g["label-assemble" + tag] / g["ne" + tag] for g in per_round]
                row["la_over_ne" + tag] = float(np.median(la_ne))
                row["la_over_ne_range" + tag] = [min(la_ne), max(la_ne)]
                log(
                    f"[planner] d={d} (engine {engine}): label-assemble / ne = "
                    f"{row['la_over_ne' + tag]:.2f} ({min(la_ne):.2f}-{max(la_ne):.2f}, "
                    f"{sum(v < 2.0 for v in la_ne)} of {len(la_ne)} rounds under 2)"
                )
        out[f"d{d}"] = row
    results["planner"] = out


def step_anatomy(d: int, method_name: str, steps: int, log: Callable[[str], None]) -> None:
    """CPU ms per phase of one training step at the planner's sizes (8 replicas x batch 512,
    hidden 128, 14 classes, dropout 0.2; 20,000 rows x d), built from the trainer's own pieces."""
    from budgetplan.methods.registry import StepContext, get_method
    from budgetplan.methods.trainer import ReplicaAdam, _decode, _label_codes
    from budgetplan.methods.views import FeatureViews, dropout_masks

    torch.set_num_threads(1)
    r, b, n = PLANNER["replicas"], PLANNER["batch"], 20_000
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, d), dtype=np.float32))
    y = (rng.random((r, n, C)) < 0.3).astype(np.float32)
    y[rng.random(y.shape) < 0.3] = np.nan
    codes = _label_codes(torch.from_numpy(y))
    method = get_method(method_name)
    spec = models.ModelSpec(d, C, PLANNER["hidden"], 1, head=method.default_head, dropout=0.2)
    gens = [torch.Generator().manual_seed(i) for i in range(r)]
    params = models.init_params(spec, gens)
    for p in params.values():
        p.requires_grad_(True)
    opt = ReplicaAdam(params, 1e-3)
    views = FeatureViews(scale=1.0)
    perm = torch.stack([torch.randperm(n, generator=g) for g in gens])
    offsets = (torch.arange(r) * n)[:, None]
    spent: dict[str, float] = {}

    def tick(name: str, t0: float) -> float:
        t1 = time.thread_time()
        spent[name] = spent.get(name, 0.0) + t1 - t0
        return t1

    xb = x[:b].expand(r, -1, -1)
    for it in range(steps + 5):
        if it == 5:
            spent.clear()
        s = (it * b) % (n - b)
        t0 = time.thread_time()
        idx = perm[:, s : s + b]
        xb = x.index_select(0, idx.reshape(-1)).view(r, b, d)
        t0 = tick("input row gather", t0)
        flat = (idx + offsets).reshape(-1)
        yb = _decode(codes.view(-1, C).index_select(0, flat).view(r, b, C))
        t0 = tick("label gather + decode", t0)
        ctx = StepContext(spec, params, {}, xb, yb, idx, gens, 0, 8, it, "entry-mean", views)
        loss = method.loss(ctx)
        t0 = tick("draws + forward + loss", t0)
        grads = torch.autograd.grad(loss.sum(), list(params.values()))
        t0 = tick("backward", t0)
        opt.step(params, dict(zip(params, grads, strict=True)))
        tick("Adam", t0)
    for _ in range(steps):  # the parts of "draws + forward + loss", measured alone
        t0 = time.thread_time()
        dropout_masks(gens, b, spec.dropout_widths, 0.2, torch.device("cpu"))
        t0 = tick("  of which one dropout-mask draw", t0)
        if method_name in ("label-assemble", "fixmatch"):
            views.weak(xb, gens)
            t0 = tick("  of which weak view", t0)
            views.strong(xb, gens)
            t0 = tick("  of which strong view", t0)
        with torch.no_grad():
            models.forward(spec, params, xb)
        tick("  of which one forward pass (no draws)", t0)
    total = sum(v for k, v in spent.items() if not k.startswith(" "))
    log(f"[anatomy] d={d} {method_name}, 8 replicas x 512 rows, CPU ms per step:")
    for k, v in spent.items():
        log(f"[anatomy]   {k:40s} {1e3 * v / steps:7.2f}")
    log(f"[anatomy]   {'total':40s} {1e3 * total / steps:7.2f}")


def trainer_step(
    d: int,
    method_name: str,
    replicas: int,
    *,
    dropout: float = 0.2,
    hidden: int = 128,
    batch: int = 512,
    n: int = 78_000,
) -> Callable[[int], None]:
    """One training step of ``train_replicas`` (row gather, label decode, the method's draws,
    forward, loss, backward, Adam) at the planner's sizes, built from the trainer's own pieces."""
    from budgetplan.methods.registry import StepContext, get_method
    from budgetplan.methods.trainer import ReplicaAdam, _decode, _label_codes
    from budgetplan.methods.views import FeatureViews

    r, b = replicas, batch
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, d), dtype=np.float32))
    y = (rng.random((r, n, C)) < 0.3).astype(np.float32)
    y[rng.random(y.shape) < 0.3] = np.nan
    codes = _label_codes(torch.from_numpy(y))
    method = get_method(method_name)
    spec = models.ModelSpec(d, C, hidden, 1, head=method.default_head, dropout=dropout)
    gens = [torch.Generator().manual_seed(i) for i in range(r)]
    params = models.init_params(spec, gens)
    for p in params.values():
        p.requires_grad_(True)
    opt = ReplicaAdam(params, 1e-3)
    views = FeatureViews(scale=1.0)
    perm = torch.stack([torch.randperm(n, generator=g) for g in gens])
    offsets = (torch.arange(r) * n)[:, None]

    def step(it: int) -> None:
        s = (it * b) % (n - b)
        idx = perm[:, s : s + b]
        xb = x.index_select(0, idx.reshape(-1)).view(r, b, d)
        yb = _decode(codes.view(-1, C).index_select(0, (idx + offsets).reshape(-1)).view(r, b, C))
        ctx = StepContext(spec, params, {}, xb, yb, idx, gens, 0, 8, it, "entry-mean", views)
        loss = method.loss(ctx)
        grads = torch.autograd.grad(loss.sum(), list(params.values()))
        opt.step(params, dict(zip(params, grads, strict=True)))

    return step


def plain_step(
    d: int, hidden: int = 128, batch: int = 512, n: int = 78_000
) -> Callable[[int], None]:
    """One step of the plain per-model PyTorch loop of ``plain_epoch`` (one model)."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, d), dtype=np.float32))
    y = (rng.random((n, C)) < 0.3).astype(np.float32)
    y[rng.random(y.shape) < 0.3] = np.nan
    yt = torch.from_numpy(y)
    net = torch.nn.Sequential(
        torch.nn.Linear(d, hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(hidden, C),
    )
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))

    def step(it: int) -> None:
        idx = perm[(it * batch) % (n - batch) :][:batch]
        yb = yt[idx]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            net(x[idx]), torch.nan_to_num(yb), weight=(~torch.isnan(yb)).float()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def matmuls_step(
    d: int, replicas: int = 8, hidden: int = 128, batch: int = 512
) -> Callable[[int], None]:
    """The five batched matrix products of one ``ne`` step alone (trunk forward and weight
    gradient, head forward, input and weight gradients), on fresh data."""
    r, b = replicas, batch
    x, w = torch.randn(r, b, d), torch.randn(r, d, hidden)
    dz, hw, hb = torch.randn(r, b, hidden), torch.randn(r, hidden, C), torch.randn(r, 1, C)
    dl = torch.randn(r, b, C)

    def step(it: int) -> None:
        torch.bmm(x, w)
        torch.bmm(x.transpose(1, 2), dz)
        torch.baddbmm(hb, dz, hw)
        torch.bmm(dl, hw.transpose(1, 2))
        torch.bmm(dz.transpose(1, 2), dl)

    return step


def step_floor(d: int, rounds: int, log: Callable[[str], None]) -> dict[str, float]:
    """Where a step's time goes at the planner's sizes (78,000 x d, hidden 128, batch 512):
    interleaved CPU-clock medians (ms per 8-replica step) of the full ``ne`` and
    ``label-assemble`` steps next to variants that each remove one cost, the matrix products
    alone, and the plain per-model loop (x 8), all in one process."""
    from budgetplan.methods.views import FeatureViews, dropout_masks

    torch.set_num_threads(1)
    r = PLANNER["replicas"]
    gens = [torch.Generator().manual_seed(i) for i in range(r)]
    xb = torch.randn(r, 512, d)
    views = FeatureViews(scale=1.0)
    cpu = torch.device("cpu")
    cases: dict[str, tuple[Callable[[int], None], float]] = {
        "ne step": (trainer_step(d, "ne", r), 1.0),
        "ne step, no dropout": (trainer_step(d, "ne", r, dropout=0.0), 1.0),
        "ne step, 1 replica (x 8)": (trainer_step(d, "ne", 1), float(r)),
        "fixed cost: ne step at d = hidden = batch = 4": (
            trainer_step(4, "ne", r, hidden=4, batch=4, n=1000),
            1.0,
        ),
        "label-assemble step": (trainer_step(d, "label-assemble", r), 1.0),
        "plain PyTorch loop step, one model (x 8)": (plain_step(d), float(r)),
        "the 5 matrix products of an ne step": (matmuls_step(d, r), 1.0),
        "one dropout-mask draw (8 x 512 x 128)": (
            lambda it: dropout_masks(gens, 512, (128,), 0.2, cpu),
            1.0,
        ),
        "label-assemble's weak + strong views": (
            lambda it: (views.weak(xb, gens), views.strong(xb, gens)),
            1.0,
        ),
    }
    for f, _ in cases.values():
        for it in range(3):
            f(it)
    times: dict[str, list[float]] = {k: [] for k in cases}
    for it in range(rounds):
        for name, (f, mult) in cases.items():
            t0 = time.thread_time()
            f(it)
            times[name].append(mult * (time.thread_time() - t0))
    med = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    log(f"[floor] d={d}, 8 replicas x 512 rows, hidden 128, 14 classes; CPU ms per 8-replica step:")
    for k, v in med.items():
        log(f"[floor]   {k:50s} {v:8.2f}")
    ne = med["ne step"]
    log(
        f"[floor]   plain loop / ne {med['plain PyTorch loop step, one model (x 8)'] / ne:.2f}x; "
        f"matrix products / ne {100 * med['the 5 matrix products of an ne step'] / ne:.0f} %; "
        f"label-assemble / ne {med['label-assemble step'] / ne:.2f}"
    )
    return med


def busy_loop() -> subprocess.Popen:
    """A process that keeps one core busy (pure Python spin)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def section(
    results: dict[str, Any],
    label: str,
    threads: int,
    quick: bool,
    log: Callable[[str], None],
    only_overhead: bool = False,
) -> None:
    torch.set_num_threads(threads)
    out: dict[str, Any] = {"threads": threads}
    peak = matmul_gflops(2048 if quick else 4096)
    out["matmul_gflops"] = peak
    log(f"[{label}] threads={threads}: 4096^2 matmul {peak:.1f} GFLOP/s")
    hidden, batch = 512, 1024
    sizes = [] if only_overhead else [2_000, 5_000] if quick else [20_000, 112_120]
    for n in sizes:
        x, y, xv, yv = data(n, 1024)
        cfg = TrainConfig(
            method="ne", hidden=hidden, depth=1, batch_size=batch, device="cpu", dropout=0.2
        )
        spec = models.ModelSpec(1024, C, hidden, 1)
        epochs = 1 if n > 50_000 else 2
        t_eng = engine_epoch(x, y, xv, yv, cfg, 1, epochs)
        t_plain = plain_epoch(x, y, hidden, batch, epochs)
        flops = models.count_flops(spec, n)
        out[f"epoch_N{n}"] = {
            "engine_s": t_eng,
            "plain_s": t_plain,
            "engine_share_of_peak": flops / t_eng / 1e9 / peak,
            "plain_share_of_peak": flops / t_plain / 1e9 / peak,
        }
        log(
            f"[{label}] N={n} x 1024, hidden {hidden}, batch {batch}: engine {t_eng:.2f} s/epoch "
            f"({100 * flops / t_eng / 1e9 / peak:.0f} % of peak), "
            f"plain PyTorch {t_plain:.2f} s/epoch "
            f"({100 * flops / t_plain / 1e9 / peak:.0f} %)"
        )
    k = 14
    cases = [
        ("compute", 2_000 if quick else 20_000, 1024, 512, 256),
        ("overhead", 2_000, 256, 32, 256),
    ]
    for name, n, d, hid, b in cases[1:] if only_overhead else cases:
        x, y, xv, yv = data(n, d, seed=1)
        cfg = TrainConfig(method="ne", hidden=hid, depth=1, batch_size=b, device="cpu", dropout=0.2)
        if name == "overhead":
            r = interleaved_ratio(x, y, xv, yv, cfg, k, 3, repeats=2 if quick else 5)
            out[f"K14_{name}"] = {"n": n, "d": d, "hidden": hid, **r}
            log(
                f"[{label}] K=14 {name}-bound N={n} x {d}, hidden {hid}: batched "
                f"{1e3 * r['batched_wall_s']:.1f} ms/epoch, looped {1e3 * r['looped_wall_s']:.1f} "
                f"ms/epoch, speed-up {r['speedup_wall']:.2f}x wall, {r['speedup_cpu']:.2f}x CPU "
                "(medians of interleaved pairs)"
            )
            continue
        t_b = engine_epoch(x, y, xv, yv, cfg, k, 1)
        t_l = looped_epoch(x, y, xv, yv, cfg, k, 1)
        out[f"K14_{name}"] = {
            "n": n,
            "d": d,
            "hidden": hid,
            "batched_s": t_b,
            "looped_s": t_l,
            "speedup": t_l / t_b,
        }
        log(
            f"[{label}] K=14 {name}-bound N={n} x {d}, hidden {hid}: batched {t_b:.2f} s/epoch, "
            f"looped {t_l:.2f} s/epoch, speed-up {t_l / t_b:.2f}x"
        )
    results[label] = out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--json", help="write the figures to this JSON file")
    ap.add_argument(
        "--overhead-only", action="store_true", help="only the K=14 overhead-bound case"
    )
    ap.add_argument(
        "--planner",
        action="store_true",
        help="only the planner's sizes (78,000 x 64 and x 1,024, 8 replicas; issue 13)",
    )
    ap.add_argument(
        "--anatomy", action="store_true", help="CPU ms per phase of one step (--dims, --methods)"
    )
    ap.add_argument(
        "--floor",
        action="store_true",
        help="where a step's time goes: full steps next to variants without one cost (--dims)",
    )
    ap.add_argument(
        "--engines",
        default="auto,torch",
        help="training engines of --planner: auto (the compiled CPU engine for ne and "
        "label-assemble) and torch (eager operations)",
    )
    ap.add_argument("--dims", default="64,1024", help="input dims of --planner (comma-separated)")
    ap.add_argument(
        "--draws",
        type=int,
        default=None,
        help="distinct seeds among --planner's 8 replicas (default 8: each its own; the planner's "
        "jobs hold the runs of 1-2 draws of the study, which share their seed)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="--planner: measure the matmul, the plain loop and each method in alternation this "
        "many times and report the medians of the per-round ratios",
    )
    ap.add_argument(
        "--methods", default="ne,label-assemble", help="methods of --planner (comma-separated)"
    )
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, flush=True)

    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "loadavg_start": os.getloadavg(),
    }
    t0 = time.perf_counter()
    if args.anatomy:
        for d in [int(v) for v in args.dims.split(",")]:
            for m in args.methods.split(","):
                step_anatomy(d, m, 60 if d <= 256 else 15, log)
        return 0
    if args.floor:
        for d in [int(v) for v in args.dims.split(",")]:
            results[f"floor_d{d}"] = step_floor(d, 40 if d <= 256 else 8, log)
        if args.json:
            from budgetplan.io import write_json_atomic

            write_json_atomic(args.json, results)
        return 0
    if args.planner:
        dims = [int(v) for v in args.dims.split(",")]
        planner_sizes(
            results,
            dims,
            args.methods.split(","),
            {d: 6 if d <= 256 else 2 for d in dims},
            log,
            args.engines.split(","),
            draws=args.draws,
            rounds=args.rounds,
        )
        results["seconds"] = time.perf_counter() - t0
        if args.json:
            from budgetplan.io import write_json_atomic

            write_json_atomic(args.json, results)
        return 0
    only = args.overhead_only
    section(results, "alone-2threads", 2, args.quick, log, only)
    section(results, "alone-1thread", 1, args.quick, log, only)
    busy = busy_loop()
    try:
        section(results, "busy-2threads", 2, args.quick, log, only)
        section(results, "busy-1thread", 1, args.quick, log, only)
    finally:
        busy.kill()
        busy.wait()
    results["loadavg_end"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - t0
    log(
        f"total {results['seconds']:.0f} s; load average start {results['loadavg_start']}, "
        f"end {results['loadavg_end']}"
    )
    if args.json:
        from budgetplan.io import write_json_atomic

        write_json_atomic(args.json, results)
    else:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
