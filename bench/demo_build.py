"""Time the embedded demo build: label table, simulated embeddings, dataset store (exact index).

Peer in the same run: drawing an (N, 1024) float32 standard-normal array with NumPy (the least
any simulation of N x 1024 vectors must do) and np.save of the result to the same disk.

    nice python bench/demo_build.py [--with-auto]   # --with-auto also times index="auto"
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from budgetplan.data.nih import load_nih
from budgetplan.data.simulate_embeddings import simulate_embeddings
from budgetplan.dataset import Dataset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--with-auto", action="store_true")
    args = ap.parse_args()
    t = time.perf_counter()
    table = load_nih()
    t_labels = time.perf_counter() - t
    t = time.perf_counter()
    x = simulate_embeddings(table)
    t_sim = time.perf_counter() - t
    t = time.perf_counter()
    peer = np.random.default_rng(0).standard_normal(x.shape, dtype=np.float32)
    t_peer = time.perf_counter() - t
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        t = time.perf_counter()
        np.save(Path(tmp) / "peer.npy", peer)
        t_save = time.perf_counter() - t
        del peer
        t = time.perf_counter()
        Dataset.create(Path(tmp) / "flat", table, x, table.ids, index="flat", simulated=True)
        t_flat = time.perf_counter() - t
        rows = [
            ("load_nih", t_labels),
            ("simulate_embeddings (112,120 x 1024)", t_sim),
            ("peer: standard_normal (112,120 x 1024)", t_peer),
            ("Dataset.create, index=flat", t_flat),
            ("peer: np.save of the same size", t_save),
        ]
        if args.with_auto:
            t = time.perf_counter()
            Dataset.create(Path(tmp) / "auto", table, x, table.ids, index="auto", simulated=True)
            rows.append(("Dataset.create, index=auto", time.perf_counter() - t))
    for name, sec in rows:
        print(f"{name:42s} {sec:7.2f} s")
    print(f"simulate / standard_normal peer: {t_sim / t_peer:.1f}x")
    print(f"store (flat) / np.save peer: {t_flat / t_save:.1f}x")


if __name__ == "__main__":
    main()
