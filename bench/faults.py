"""The fault-injection count table of issue 11: cases tried, clear errors, tracebacks, crashes,
silent wrong results, data losses (per fault class and overall).

    PYTHONPATH=$PWD python bench/faults.py            # this tree
    PYTHONPATH=/path/to/other/tree python bench/faults.py   # the same cases on another tree

The cases are the table of ``tests/faults/cases.py`` (the suite asserts each is clear). Runs
in a private cache directory; prints one line per case that is not clear.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    parser.add_argument(
        "--skip", default="", help="comma-separated parts of names of cases not to run"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="budgetplan-faults-") as tmp:
        os.environ["BUDGETPLAN_CACHE"] = str(Path(tmp) / "cache")
        os.environ.setdefault("TQDM_DISABLE", "1")
        import cases  # noqa: PLC0415 - after the cache is set

        results = []
        t0 = time.perf_counter()
        for i, c in enumerate(cases.CASES):
            skip = [x for x in args.skip.split(",") if x]
            if args.k not in c.name or any(x in c.name for x in skip):
                continue
            t = time.perf_counter()
            grade = cases.run_case(c, Path(tmp) / f"case{i}")
            results.append((c, grade))
            if grade != "clear":
                print(f"  {grade:<10} {c.fault:<10} {c.name} ({time.perf_counter() - t:.1f} s)")
        print(
            f"budgetplan from {cases.ROOT}; {len(results)} cases in "
            f"{time.perf_counter() - t0:.0f} s"
        )
        print(cases.count_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
