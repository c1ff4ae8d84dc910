"""Are the compiled engine's numbers the same to the bit as a saved reference?

A speed change to ``budgetplan.methods.fused`` that keeps the bits keeps every measured figure
that depends on them (the trust tables in bench/README.md); one that does not needs them
measured again. So is an upgrade of numba, llvmlite or the BLAS under numpy and scipy.

    python bench/engine_bits.py save  [--file PATH]   # before the change
    python bench/engine_bits.py check [--file PATH]   # after it: "identical" or what differs

Exit codes: 0 identical (or saved), 1 the bits differ, 2 the reference cannot be read or written
(one line naming the file). The reference is written atomically and never unpickled.

It trains 4 replicas (2 seeds, 2 label draws) for 2 epochs on 20,000 x 64 rows (bench/train.py's
planner data) at two label densities (70 % and 7 % annotated: the planner's jobs are 6-8 %),
for ``ne`` and ``label-assemble`` with both reductions and both heads, one thread, and compares
every parameter. ~1 minute. The reference is only meaningful on the machine that saved it
(BLAS kernels differ between CPUs).
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path
from typing import NoReturn

import numpy as np
import threadpoolctl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import planner_data  # noqa: E402

from budgetplan.io import atomic_path  # noqa: E402
from budgetplan.methods import fused  # noqa: E402
from budgetplan.methods.trainer import TrainConfig, train_replicas  # noqa: E402

ROWS, DIM, REPLICAS = 20_000, 64, 4


def parameters() -> dict[str, np.ndarray]:
    """Every configuration's trained parameters, keyed ``density-method-reduction-head-name``."""
    x, y, xv, yv = planner_data(ROWS, DIM, 2_000)
    rng = np.random.default_rng(7)
    out: dict[str, np.ndarray] = {}
    for density, keep in (("dense", 1.0), ("sparse", 0.1)):
        ys = np.stack([y.copy() for _ in range(REPLICAS)])
        ys[rng.random(ys.shape) > keep] = np.nan  # 70 % annotated, or 7 %
        for method in ("ne", "label-assemble"):
            for reduction in ("entry-mean", "class-sum"):
                for head in ("linear", "adapter"):
                    cfg = TrainConfig(
                        method=method,
                        reduction=reduction,
                        head=head,
                        hidden=128,
                        batch_size=512,
                        max_epochs=2,
                        stopping="fixed",
                        device="cpu",
                        early_stop_classes=(0,),
                    )
                    fit = train_replicas(x, ys, xv, yv, cfg, [1, 1, 2, 2])
                    for name, value in fit.params.items():
                        out[f"{density}-{method}-{reduction}-{head}-{name}"] = value.numpy()
    return out


def _fail(message: str) -> NoReturn:
    """One line on stderr and exit code 2 (1 means: the bits differ)."""
    print(f"engine_bits: {message}", file=sys.stderr)
    raise SystemExit(2)


def _load(path: str) -> dict[str, np.ndarray]:
    """The saved reference, or one line naming the file and the problem (exit code 2)."""
    try:
        with np.load(path, allow_pickle=False) as ref:
            return {k: ref[k] for k in ref.files}
    except OSError as exc:
        _fail(f"cannot read the reference {path}: {exc.strerror or exc}")
    except (ValueError, zipfile.BadZipFile):  # never unpickled: not a .npz of arrays
        _fail(f"{path} is not a reference saved by `engine_bits.py save` (.npz of arrays)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("save", "check"))
    ap.add_argument("--file", default="engine_bits.npz", help="the reference (.npz)")
    args = ap.parse_args(argv)
    ref = _load(args.file) if args.mode == "check" else {}  # before a minute of training
    torch.set_num_threads(1)
    print(f"engine: {fused.__file__}")
    with threadpoolctl.threadpool_limits(1):
        got = parameters()
    if args.mode == "save":
        try:
            with atomic_path(args.file) as tmp, open(tmp, "wb") as out:
                np.savez(out, **got)
        except OSError as exc:
            _fail(f"cannot write {args.file}: {exc.strerror or exc}")
        print(f"saved {len(got)} arrays to {args.file}")
        return 0
    keys = sorted(set(ref) | set(got))
    same_shape = [k for k in keys if k in ref and k in got and ref[k].shape == got[k].shape]
    differ = [k for k in keys if k not in same_shape or not np.array_equal(ref[k], got[k])]
    if not differ:
        print(f"identical ({len(keys)} arrays)")
        return 0
    gaps = [float(np.abs(ref[k] - got[k]).max()) for k in differ if k in same_shape]
    where = f"DIFFER in {len(differ)} of {len(keys)} arrays, e.g. {differ[:3]}"
    print(f"{where}; largest gap {max(gaps, default=float('nan')):.3g}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
