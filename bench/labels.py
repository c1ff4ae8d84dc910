"""Label-table loading speed: budgetplan's loaders against plain pandas.read_csv of the same file.

Run: ``nice python bench/labels.py [--repeat 3]``. Prints the best of ``repeat`` wall times and the
ratio to the pandas peer measured in the same run (absolute times on a shared machine are noisy).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from _timing import best_of  # bench/ is on sys.path when run as a script

from budgetplan.data import load_chexpert, load_label_csv, load_nih, save_label_csv
from budgetplan.data.chexpert import chexpert_csv_path
from budgetplan.data.nih import nih_csv_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    nih = load_nih()
    with tempfile.TemporaryDirectory() as tmp:
        labels = Path(tmp) / "nih-labels.csv.gz"
        rows = [
            ("pandas.read_csv(NIH Data_Entry)", lambda: pd.read_csv(nih_csv_path()), None),
            ("load_nih()", load_nih, 0),
            ("pandas.read_csv(chexpert_train)", lambda: pd.read_csv(chexpert_csv_path()), None),
            ("load_chexpert()", load_chexpert, 2),
            ("save_label_csv(NIH table, .csv.gz)", lambda: save_label_csv(nih, labels), None),
            ("pandas.read_csv(saved NIH labels)", lambda: pd.read_csv(labels), None),
            ("load_label_csv(saved NIH labels)", lambda: load_label_csv(labels), 5),
        ]
        results = [best_of(fn, args.repeat) for _, fn, _ in rows]
        print(f"{'what':40s} {'best s':>8s} {'x pandas':>9s}")
        for (name, _, peer), secs in zip(rows, results, strict=True):
            ratio = f"{secs / results[peer]:9.1f}" if peer is not None else ""
            print(f"{name:40s} {secs:8.2f} {ratio}")


if __name__ == "__main__":
    main()
