"""Fault-injection cases (issue 11), one table: every case does one bad thing a user or the
machine can do to budgetplan and grades the answer.

Grades (``OUTCOMES``): ``clear`` (a one-line error naming the file / row / key, non-zero exit,
nothing of the user's changed; or, for a fault budgetplan should absorb, the right result),
``flawed`` (an error, but not one line, too long, or not naming what it should), ``traceback``
(an exception reached the user: as a traceback, or as the ``budgetplan: internal error:`` line
that the command prints for an exception no stage expects, a bug), ``crash`` (killed by a
signal), ``silent`` (exit 0 or a result where an error or a different result was due),
``data-loss`` (a file of the user's changed or went away). ``skipped`` means the machine cannot
stage the fault (e.g. no tmpfs).

``tests/faults/test_faults.py`` asserts every case is ``clear``; ``bench/faults.py`` prints the
count table. Everything runs on a 300-image store made in about a second; the whole table takes
well under a minute.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np

OUTCOMES = ("clear", "flawed", "traceback", "crash", "silent", "data-loss", "skipped")


def _root() -> Path:
    """The source tree of the budgetplan imported (child processes get the same one)."""
    import budgetplan

    return Path(budgetplan.__file__).resolve().parents[1]


ROOT = _root()
CLASSES = ["Nodule", "Mass", "Effusion", "Atelectasis", "Empty"]  # "Empty": no positives
N, DIM = 300, 16
HUGE = 10_000_000  # characters of a "10 MB" id or cell


# ---------------------------------------------------------------------- running the CLI
@dataclass
class Run:
    code: int | None
    out: str
    err: str
    traceback: str | None = None
    signal: int | None = None
    seconds: float = 0.0


def cli(*argv: object) -> Run:
    """``budgetplan ARGV`` in this process; an exception escaping ``main`` is a traceback."""
    from budgetplan.cli import main

    out, err = io.StringIO(), io.StringIO()
    tb, code = None, None
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - what the user would see
            tb = traceback.format_exc()
    return Run(code, out.getvalue(), err.getvalue(), tb, None, time.perf_counter() - t0)


def script(code: str, timeout: float = 60, **popen: object) -> Run:
    """Python ``code`` in a child process (for signals: SIGBUS, SIGKILL, SIGPIPE)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,  # python -c puts the working directory first on sys.path
        timeout=timeout,
        **popen,  # type: ignore[call-overload]
    )
    sig = -p.returncode if p.returncode < 0 else None
    tb = p.stderr if "Traceback (most recent call last)" in p.stderr else None
    return Run(None if sig else p.returncode, p.stdout, p.stderr, tb, sig, time.perf_counter() - t0)


# ---------------------------------------------------------------------- grading
class Snapshot:
    """Content of files and folders of the user's, to prove nothing was lost or changed."""

    def __init__(self, *paths: Path) -> None:
        self.paths = paths
        self.before = {p: _fingerprint(p) for p in paths}

    def changed(self) -> list[Path]:
        return [p for p in self.paths if _fingerprint(p) != self.before[p]]


def _fingerprint(path: Path) -> object:
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_file():
        return ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    if path.is_dir():
        return ("dir", sorted((str(p.relative_to(path)), _fingerprint(p)) for p in path.iterdir()))
    return None


def _bug_reached_user(run: Run) -> bool:
    """An exception escaped ``main``, or ``main`` reported one as an internal error (a bug)."""
    return bool(
        run.traceback
        or "Traceback (most recent call last)" in run.err
        or "budgetplan: internal error:" in run.err
    )


def refused(run: Run, *names: str, protect: Snapshot | None = None, limit: int = 600) -> str:
    """Grade a run that must fail: one ``budgetplan: error:`` line naming ``names``."""
    if protect is not None and protect.changed():
        return "data-loss"
    if run.signal:
        return "crash"
    if _bug_reached_user(run):
        return "traceback"
    if run.code == 0:
        return "silent"
    errors = [line for line in run.err.splitlines() if line.startswith("budgetplan: error:")]
    if len(errors) != 1 or len(errors[0]) > limit:
        return "flawed"
    if not all(n.lower() in errors[0].lower() for n in names):
        return "flawed"
    return "clear"


def worked(run: Run, ok: bool, protect: Snapshot | None = None) -> str:
    """Grade a run that must succeed with the right result (``ok``)."""
    if protect is not None and protect.changed():
        return "data-loss"
    if run.signal:
        return "crash"
    if _bug_reached_user(run):
        return "traceback"
    if run.code != 0:
        return "flawed"
    return "clear" if ok else "silent"


def library(call: Callable[[], object], ok: Callable[[object], bool]) -> str:
    """Grade a library call that must absorb a fault (no exception, the right answer)."""
    try:
        result = call()
    except Exception:  # noqa: BLE001
        return "traceback"
    return "clear" if ok(result) else "silent"


def leftovers(parent: Path, name: str) -> list[Path]:
    """Temporary directories of ``name`` left in ``parent`` (``.name.*.tmp|.old|.build``)."""
    return [
        p
        for p in parent.iterdir()
        if p.name.startswith(f".{name}.") and p.name.endswith((".tmp", ".old", ".build"))
    ]


# ---------------------------------------------------------------------- the workspace
@dataclass
class Inputs:
    """What ``budgetplan ingest`` reads, and a store made from it."""

    vectors: Path
    ids: Path
    labels: Path
    store: Path


def make_inputs(folder: Path, n: int = N, dim: int = DIM, seed: int = 0) -> Inputs:
    """Labels with a co-occurring pair, 16-d embeddings, ids; and the store made from them."""
    from budgetplan.data.label_table import LabelTable
    from budgetplan.dataset import Dataset

    rng = np.random.default_rng(seed)
    prev = np.array([0.15, 0.15, 0.25, 0.2, 0.0])
    y = (rng.random((n, len(CLASSES))) < prev).astype(np.float32)
    y[:, 1] = np.where(y[:, 0] == 1, rng.random(n) < 0.5, y[:, 1])
    ids = np.array([f"img{i:04d}.png" for i in range(n)])
    split = np.where(np.arange(n) % 10 < 7, "train", np.where(np.arange(n) % 10 < 8, "val", "test"))
    table = LabelTable(
        values=y,
        classes=CLASSES,
        ids=ids,
        source=np.array(["site"] * n),
        patient=ids,
        split=split,
    )
    dirs = rng.normal(size=(len(CLASSES), dim))
    x = (y @ dirs + rng.normal(scale=0.8, size=(n, dim))).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    inputs = Inputs(
        folder / "vectors.npy", folder / "ids.txt", folder / "labels.csv", folder / "store"
    )
    np.save(inputs.vectors, x)
    inputs.ids.write_text("\n".join(ids) + "\n")
    table.to_frame().to_csv(inputs.labels, index=False)
    Dataset.create(inputs.store, table, x, ids, name="faults", default_target="Nodule")
    return inputs


_TEMPLATE: dict[str, Inputs] = {}


def workspace(tmp: Path) -> Inputs:
    """A fresh copy (mtimes kept) of a template made once per process."""
    key = "template"
    if key not in _TEMPLATE:
        base = Path(os.environ.get("BUDGETPLAN_CACHE", tmp)) / "faults-template"
        shutil.rmtree(base, ignore_errors=True)
        _TEMPLATE[key] = make_inputs(base)
    src = _TEMPLATE[key]
    dst = tmp / "ws"
    shutil.copytree(src.store.parent, dst, copy_function=shutil.copy2)
    return Inputs(dst / "vectors.npy", dst / "ids.txt", dst / "labels.csv", dst / "store")


def ingest(w: Inputs, out: Path, *extra: object, vectors: Path | None = None) -> Run:
    return cli(
        "ingest",
        "--embeddings",
        vectors or w.vectors,
        "--ids",
        w.ids,
        "--labels",
        w.labels,
        "--out",
        out,
        *extra,
    )


def write_plan(path: Path, target: str = "Nodule", action_class: str = "Mass") -> Path:
    """A valid plan over the workspace store's ids (or with a changed class / target)."""
    from budgetplan.planner.costs import CostModel
    from budgetplan.planner.plan import AnnotationPlan, PlanAction

    costs = CostModel({}, default_label_cost=1.0, image_read_cost=0.0, unit="labels")
    action = PlanAction(
        "annotate-class", action_class, "site", ["img0001.png", "img0002.png"], 2, 2.0
    )
    plan = AnnotationPlan(
        target=target,
        budget=5.0,
        unit="labels",
        cost_model=costs,
        actions=[action],
        baseline={"auc": 0.7, "auc_ci_low": 0.6, "auc_ci_high": 0.8},
        expected={
            **{"gain": 0.01, "gain_ci_low": 0.0, "gain_ci_high": 0.02},
            **{"auc": 0.71, "auc_ci_low": 0.6, "auc_ci_high": 0.8},
        },
        random_control=None,
    )
    return plan.save(path)


# ---------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    name: str
    fault: str  # the class: data-loss, silent, crash, traceback, flawed, app
    run: Callable[[Path], str]


CASES: list[Case] = []


def case(name: str, fault: str) -> Callable[[Callable[[Path], str]], Callable[[Path], str]]:
    def add(fn: Callable[[Path], str]) -> Callable[[Path], str]:
        CASES.append(Case(name, fault, fn))
        return fn

    return add


# ----- data loss: overwrites refused unless budgetplan wrote the target -----------------------
@case("ingest --overwrite onto a folder of unrelated files", "data-loss")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    out = tmp / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"\xff\xd8 my photo")
    snap = Snapshot(out)
    return refused(ingest(w, out, "--overwrite"), "photos", "refusing", protect=snap)


@case("ingest --overwrite onto a regular file", "data-loss")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    out = tmp / "notes.txt"
    out.write_text("my notes")
    snap = Snapshot(out)
    return refused(ingest(w, out, "--overwrite"), "notes.txt", protect=snap)


@case("ingest --overwrite onto the folder holding the inputs", "data-loss")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    snap = Snapshot(w.vectors, w.ids, w.labels)
    return refused(ingest(w, w.vectors.parent, "--overwrite"), "input", protect=snap)


@case("ingest --overwrite onto a dataset that holds the inputs", "data-loss")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    moved = w.store / "vectors.npy"
    shutil.copy2(w.vectors, moved)
    snap = Snapshot(moved)
    return refused(ingest(w, w.store, "--overwrite", vectors=moved), "input", protect=snap)


@case("ingest --overwrite onto a budgetplan dataset replaces it", "data-loss")
def _(tmp: Path) -> str:
    from budgetplan.dataset import Dataset

    w = workspace(tmp)
    run = ingest(w, w.store, "--overwrite", "--name", "again")
    ok = (
        run.code == 0
        and Dataset.open(w.store).name == "again"
        and not leftovers(tmp / "ws", "store")
    )
    return worked(run, ok)


@case("export plan.json -f csv --out plan.json", "data-loss")
def _(tmp: Path) -> str:
    plan = write_plan(tmp / "plan.json")
    snap = Snapshot(plan)
    return refused(cli("export", plan, "-f", "csv", "--out", plan), "plan.json", protect=snap)


@case("export -f json --out the plan through another path (symlink)", "data-loss")
def _(tmp: Path) -> str:
    plan = write_plan(tmp / "plan.json")
    (tmp / "alias.json").symlink_to(plan)
    snap = Snapshot(plan)
    run = cli("export", plan, "-f", "json", "--out", tmp / "alias.json")
    return refused(run, "alias.json", protect=snap)


@case("export --store S --out a file inside the store", "data-loss")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    plan = write_plan(tmp / "plan.json")
    snap = Snapshot(w.store)
    run = cli("export", plan, "-f", "csv", "--store", w.store, "--out", w.store / "labels.csv.gz")
    return refused(run, "labels.csv.gz", protect=snap)


@case("recommend --cost-file c.csv --out c.csv", "data-loss")
def _(tmp: Path) -> str:
    costs = tmp / "c.csv"
    costs.write_text("class,cost\nMass,2\n")
    snap = Snapshot(costs)
    run = cli("recommend", "--cost-file", costs, "--out", costs, "--quick")
    return refused(run, "c.csv", protect=snap)


# ----- silent wrong answers ----------------------------------------------------------------
def _flip(path: Path, offset: int = -7) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@case("store vectors: one byte flipped", "silent")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    _flip(w.store / "embeddings" / "vectors.npy")
    return refused(cli("relations", "--store", w.store), "vectors.npy", "changed")


@case("store vectors: all replaced (same shape, unit rows)", "silent")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    path = w.store / "embeddings" / "vectors.npy"
    x = np.random.default_rng(5).normal(size=(N, DIM)).astype(np.float32)
    np.save(path, x / np.linalg.norm(x, axis=1, keepdims=True))
    return refused(
        cli("simulate", "--store", w.store, "--target", "Nodule", "--quick"), "vectors.npy"
    )


@case("store vectors: NaN written (mtime kept)", "silent")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    path = w.store / "embeddings" / "vectors.npy"
    st = path.stat()
    arr = np.load(path, mmap_mode="r+")
    arr[3, 2] = np.nan
    arr.flush()
    del arr
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # a copy tool that rounds mtimes
    return refused(cli("relations", "--store", w.store), "vectors.npy")


@case("store ids.txt: an id renamed (same length)", "silent")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    path = w.store / "embeddings" / "ids.txt"
    path.write_text(path.read_text().replace("img0005.png", "img9995.png"))
    return refused(cli("graph", "--store", w.store, "--out", tmp / "g"), "ids")


@case("changed store is never answered from the run cache", "silent")
def _(tmp: Path) -> str:
    from budgetplan.dataset import Dataset
    from budgetplan.errors import BudgetplanError

    w = workspace(tmp)
    before = Dataset.open(w.store).checksum
    _flip(w.store / "embeddings" / "vectors.npy")
    try:
        after = Dataset.open(w.store).checksum
    except BudgetplanError:
        return "clear"  # refused: no cache key at all
    return "clear" if after != before else "silent"


def _cache_case(edit: Callable[[dict], object]) -> Callable[[Path], str]:
    def run(tmp: Path) -> str:
        from budgetplan.planner.cache import RunCache

        cache = RunCache(tmp / "runs")
        key = "ab" + "0" * 30
        cache.put(key, {"auc": 0.81, "ap": 0.4, "best_epoch": 3, "seed": 0})
        path = cache.path(key)
        record = json.loads(path.read_text())
        text = edit(record)
        path.write_text(text if isinstance(text, str) else json.dumps(record))
        return library(lambda: cache.get(key), lambda got: got is None)

    return run


for _name, _edit in [
    ("auc edited by hand", lambda r: r.update(auc=0.99)),
    ("auc removed", lambda r: r.pop("auc")),
    ("auc NaN", lambda r: json.dumps({**r, "auc": float("nan")})),
    ("auc a string", lambda r: r.update(auc="0.9")),
    ("auc out of range (digest recomputed)", lambda r: _redigest(r, auc=7.0)),
    ("truncated record", lambda r: json.dumps(r)[:20]),
    ("record nested 100k deep", lambda r: "[" * 100_000 + "]" * 100_000),
]:
    case(f"run cache record: {_name}", "silent")(_cache_case(_edit))


def _redigest(record: dict, **change: object) -> None:
    from budgetplan.planner.cache import DIGEST, record_digest

    record.update(change)
    record.pop(DIGEST)
    record[DIGEST] = record_digest(record)


@case("run cache record edited: the runner retrains, never uses it", "silent")
def _(tmp: Path) -> str:
    from budgetplan.planner.cache import RunCache

    cache = RunCache(tmp / "runs")
    cache.put("cd" + "1" * 30, {"auc": 0.5, "ap": 0.5, "best_epoch": 1})
    good = cache.get("cd" + "1" * 30)
    path = cache.path("cd" + "1" * 30)
    path.write_text(path.read_text().replace('"auc": 0.5', '"auc": 0.95'))
    return "clear" if good is not None and cache.get("cd" + "1" * 30) is None else "silent"


@case("labels CSV: a row with too few fields", "silent")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    lines = w.labels.read_text().splitlines()
    lines[5] = ",".join(lines[5].split(",")[:-2])
    w.labels.write_text("\n".join(lines) + "\n")
    return refused(ingest(w, tmp / "out"), "labels.csv", "row 5", "fields")


@case("plan: action class changed to one the store lacks", "silent")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    plan = write_plan(tmp / "plan.json", action_class="Pneumothorax")
    run = cli("export", plan, "-f", "csv", "--store", w.store, "--out", tmp / "w.csv")
    return refused(run, "plan.json", "Pneumothorax") if not (tmp / "w.csv").exists() else "silent"


@case("plan: target changed to one the store lacks", "silent")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    plan = write_plan(tmp / "plan.json", target="Cardiomegaly")
    run = cli("export", plan, "-f", "cvat", "--store", w.store, "--out", tmp / "w.jsonl")
    return refused(run, "Cardiomegaly") if not (tmp / "w.jsonl").exists() else "silent"


@case("graph --target with no positives", "silent")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    run = cli("graph", "--store", w.store, "--target", "Empty", "--out", tmp / "g")
    return refused(run, "Empty", "no positive")


@case("relations --target with no positives", "silent")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    return refused(cli("relations", "--store", w.store, "--target", "Empty"), "no positive")


@case("ingest: NaN in the embeddings names the file and row", "flawed")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    x = np.load(w.vectors)
    x[42, 1] = np.nan
    np.save(tmp / "nan.npy", x)
    return refused(ingest(w, tmp / "out", vectors=tmp / "nan.npy"), "nan.npy", "row 42", "NaN")


@case("ingest: inf in the embeddings names the file and row", "flawed")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    x = np.load(w.vectors)
    x[7, 0] = -np.inf
    np.savez(tmp / "inf.npz", embeddings=x)
    return refused(ingest(w, tmp / "out", vectors=tmp / "inf.npz"), "inf.npz", "row 7", "inf")


# ----- crashes: full disk, kill -9 ---------------------------------------------------------
@case("full disk (patched writer: ENOSPC) during ingest", "crash")
def _(tmp: Path) -> str:
    import budgetplan.embeddings.store as store_mod

    w = workspace(tmp)

    def full(path: Path, arr: np.ndarray) -> None:
        path.write_bytes(b"\x93NUMPY half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    with mock.patch.object(store_mod, "_write_normalised", full):
        run = ingest(w, tmp / "out")
    grade = refused(run, "no space left")
    return grade if not (tmp / "out").exists() and not leftovers(tmp, "out") else "silent"


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if not shutil.which("mount") or os.geteuid() != 0:
        return False
    try:
        p = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return p.returncode == 0


@case("full disk (a 1 MB tmpfs) during ingest: no SIGBUS, temp cleaned", "crash")
def _(tmp: Path) -> str:
    disk = tmp / "disk"
    if not _mount_tmpfs(disk, "1m"):
        return "skipped"
    try:
        big = tmp / "big"
        big.mkdir()
        rng = np.random.default_rng(0)
        np.save(big / "v.npy", rng.normal(size=(2000, 256)).astype(np.float32))  # 2 MB
        ids = [f"i{i}" for i in range(2000)]
        (big / "ids.txt").write_text("\n".join(ids) + "\n")
        (big / "l.csv").write_text("id,A\n" + "".join(f"{i},{k % 2}\n" for k, i in enumerate(ids)))
        run = script(
            f"""
            import sys
            from budgetplan.cli import main
            sys.exit(main(["ingest", "--embeddings", "{big / "v.npy"}", "--ids",
                           "{big / "ids.txt"}", "--labels", "{big / "l.csv"}",
                           "--out", "{disk / "out"}"]))
            """
        )
        grade = refused(run, "no space left")
        return grade if grade != "clear" or not list(disk.iterdir()) else "silent"
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


_KILL_AT = {
    "writing the vectors": "budgetplan.embeddings.store._write_normalised",
    "writing the index": "budgetplan.embeddings.faiss_index.write_index",
    "writing the labels": "budgetplan.dataset.save_label_csv",
}


def _kill_case(point: str, target: str) -> Callable[[Path], str]:
    def run(tmp: Path) -> str:
        from budgetplan.dataset import Dataset

        w = workspace(tmp)
        module, name = target.rsplit(".", 1)
        killed = script(
            f"""
            import os, signal, sys, importlib
            mod = importlib.import_module("{module}")
            real = getattr(mod, "{name}")
            def die(*a, **k):
                real(*a, **k)
                os.kill(os.getpid(), signal.SIGKILL)
            setattr(mod, "{name}", die)
            from budgetplan.cli import main
            main(["ingest", "--embeddings", "{w.vectors}", "--ids", "{w.ids}",
                  "--labels", "{w.labels}", "--out", "{tmp / "out"}"])
            """
        )
        if killed.signal != signal.SIGKILL:
            return "flawed"  # the fault was not staged where intended
        if (tmp / "out").exists():
            return "silent"  # a half-built dataset appeared at --out
        again = ingest(w, tmp / "out")
        ok = again.code == 0 and len(Dataset.open(tmp / "out")) == N and not leftovers(tmp, "out")
        return worked(again, ok)

    return run


for _point, _target in _KILL_AT.items():
    case(f"kill -9 of ingest while {_point}; rerun cleans up", "crash")(_kill_case(_point, _target))


@case("kill -9 of demo build leaves .build; the next build removes it", "crash")
def _(tmp: Path) -> str:
    from budgetplan.io import clean_stale_temp, make_temp_dir

    parent = tmp / "cache"
    parent.mkdir()
    child = script(
        f"""
        import os, signal
        from pathlib import Path
        from budgetplan.io import make_temp_dir
        d = make_temp_dir(Path("{parent}"), "demo-nih-v1", ".build")
        (d / "vectors.npy").write_bytes(b"0" * 100000)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    if child.signal != signal.SIGKILL or len(leftovers(parent, "demo-nih-v1")) != 1:
        return "flawed"
    live = make_temp_dir(parent, "demo-nih-v1", ".build")  # this process: a live build
    legacy = parent / ".demo-nih-v1.abc123.build"  # an older version's, two days old
    legacy.mkdir()
    os.utime(legacy, (time.time() - 2 * 86400,) * 2)
    removed = clean_stale_temp(parent, "demo-nih-v1")
    left = leftovers(parent, "demo-nih-v1")
    return "clear" if len(removed) == 2 and left == [live] else "silent"


@case("demo_dataset cleans a killed build's folder before building", "crash")
def _(tmp: Path) -> str:
    import budgetplan.demo as demo

    w = workspace(tmp)
    cache = tmp / "cache"
    cache.mkdir()
    stale = cache / f".{demo.DEMO_NAME}-n{N}.p999999999h{_host()}.x.build"
    stale.mkdir()

    def tiny(root: Path, **kw: object) -> object:
        shutil.copytree(w.store, root, copy_function=shutil.copy2)
        from budgetplan.dataset import Dataset

        return Dataset.open(root)

    with mock.patch.dict(os.environ, {"BUDGETPLAN_CACHE": str(cache)}):
        with mock.patch.object(demo, "build_demo", tiny):
            demo.demo_dataset(n_images=N)
    return (
        "clear"
        if not stale.exists() and not leftovers(cache, f"{demo.DEMO_NAME}-n{N}")
        else "silent"
    )


def _host() -> str:
    from budgetplan.io import _HOST

    return _HOST


@case("two ingests at once into one folder", "crash")
def _(tmp: Path) -> str:
    from budgetplan.dataset import Dataset

    w = workspace(tmp)
    code = """
        import sys
        from budgetplan.cli import main
        sys.exit(main(["ingest", "--embeddings", "{v}", "--ids", "{i}", "--labels", "{l}",
                       "--out", "{o}"]))
        """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(code.format(v=w.vectors, i=w.ids, l=w.labels, o=tmp / f"o{k}")),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    errs = [p.communicate(timeout=60)[1] for p in procs]
    if any(p.returncode < 0 for p in procs):
        return "crash"
    if any("Traceback" in e for e in errs):
        return "traceback"
    ok = all(p.returncode == 0 for p in procs) and all(
        len(Dataset.open(tmp / f"o{k}")) == N for k in range(2)
    )
    return "clear" if ok and not leftovers(tmp, "o0") and not leftovers(tmp, "o1") else "silent"


# ----- tracebacks -> one line ----------------------------------------------------------------
def _raising(err: int) -> Callable[..., object]:
    def fail(*a: object, **k: object) -> object:
        name = str(a[0]) if a and isinstance(a[0], str | Path) else None
        raise OSError(err, os.strerror(err), name)

    return fail


@case("read-only run cache (EROFS): refused before training", "traceback")
def _(tmp: Path) -> str:
    import budgetplan.io as bio

    w = workspace(tmp)
    with mock.patch.object(bio.tempfile, "mkstemp", _raising(errno.EROFS)):
        run = cli("simulate", "--store", w.store, "--target", "Nodule", "--quick")
    return refused(run, "read-only", "--no-cache") if run.seconds < 20 else "flawed"


@case("no space left while writing an export (ENOSPC)", "traceback")
def _(tmp: Path) -> str:
    import budgetplan.planner.export as exp

    plan = write_plan(tmp / "plan.json")
    with mock.patch.object(exp, "write_text_atomic", _raising(errno.ENOSPC)):
        run = cli("export", plan, "-f", "markdown", "--out", tmp / "r.md")
    return refused(run, "no space left")


@case("no space left while saving a run record (ENOSPC)", "traceback")
def _(tmp: Path) -> str:
    import budgetplan.io as bio

    w = workspace(tmp)
    with mock.patch.object(bio, "atomic_path", _raising(errno.ENOSPC)):
        run = cli("relations", "--store", w.store, "--out", tmp / "rel")
    return refused(run, "no space left")


@case("export --out a folder", "traceback")
def _(tmp: Path) -> str:
    plan = write_plan(tmp / "plan.json")
    (tmp / "d").mkdir()
    return refused(cli("export", plan, "-f", "csv", "--out", tmp / "d"), "is a directory")


@case("recommend --out a folder: refused before training", "traceback")
def _(tmp: Path) -> str:
    (tmp / "d").mkdir()
    run = cli("recommend", "--out", tmp / "d", "--quick")
    return refused(run, "is a directory") if run.seconds < 20 else "flawed"


@case("simulate --csv a folder: refused before training", "traceback")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    (tmp / "d").mkdir()
    run = cli("simulate", "--store", w.store, "--target", "Nodule", "--csv", tmp / "d", "--quick")
    return refused(run, "is a directory") if run.seconds < 20 else "flawed"


@case("relations --out a regular file", "traceback")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    (tmp / "f").write_text("x")
    return refused(cli("relations", "--store", w.store, "--out", tmp / "f"), "not a directory")


@case("graph --out a regular file", "traceback")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    (tmp / "f").write_text("x")
    return refused(cli("graph", "--store", w.store, "--out", tmp / "f"), "not a directory")


def _manifest_case(change: Callable[[dict], None], *names: str) -> Callable[[Path], str]:
    def run(tmp: Path) -> str:
        w = workspace(tmp)
        path = w.store / "embeddings" / "manifest.json"
        m = json.loads(path.read_text())
        change(m)
        path.write_text(json.dumps(m))
        return refused(cli("relations", "--store", w.store), "manifest.json", *names)

    return run


for _name, _change, _names in [
    ("n is a string", lambda m: m.update(n="abc"), ("'n'",)),
    ("dim is a float", lambda m: m.update(dim=16.5), ("'dim'",)),
    ("n is true", lambda m: m.update(n=True), ("'n'",)),
    ("index.params missing", lambda m: m["index"].pop("params"), ("index.params",)),
    ("index.kind unknown", lambda m: m["index"].update(kind="annoy"), ("index.kind",)),
]:
    case(f"manifest: {_name}", "traceback")(_manifest_case(_change, *_names))


@case("ingest: an .npz renamed .npy", "traceback")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    np.savez(tmp / "x.npz", embeddings=np.load(w.vectors))
    os.replace(tmp / "x.npz", tmp / "x.npy")
    return refused(ingest(w, tmp / "out", vectors=tmp / "x.npy"), "x.npy", "npz")


@case("ingest: an .npy renamed .npz is read", "traceback")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    shutil.copy(w.vectors, tmp / "x.npz")
    run = ingest(w, tmp / "out", vectors=tmp / "x.npz")
    return worked(run, (tmp / "out" / "dataset.json").is_file())


@case("store: vectors.npy replaced by an .npz archive", "traceback")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    path = w.store / "embeddings" / "vectors.npy"
    with open(path, "wb") as fh:
        np.savez(fh, v=np.zeros((N, DIM), np.float32))
    return refused(cli("relations", "--store", w.store), "vectors.npy", "npz")


@case("output piped into head (BrokenPipeError): quiet exit", "traceback")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    code = f"""
        import sys
        from budgetplan.cli import main
        sys.exit(main(["relations", "--store", "{w.store}"]))
        """
    p = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # like `| head` that stopped reading
    err = p.stderr.read()
    p.wait(timeout=60)
    if p.returncode < 0:
        return "crash"
    if "Traceback" in err or "Exception ignored" in err:
        return "traceback"
    return "clear" if p.returncode != 0 and not err.strip() else "flawed"


@case("plan JSON nested 100k deep", "traceback")
def _(tmp: Path) -> str:
    plan = tmp / "deep.json"
    plan.write_text("[" * 100_000 + "]" * 100_000)
    return refused(cli("export", plan, "-f", "csv"), "deep.json", "nested")


@case("plan file is binary garbage", "traceback")
def _(tmp: Path) -> str:
    plan = tmp / "plan.json"
    plan.write_bytes(os.urandom(4096))
    return refused(cli("export", plan, "-f", "csv"), "plan.json")


@case("labels CSV is gzip garbage", "traceback")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    (tmp / "l.csv.gz").write_bytes(gzip.compress(b"id,A\nx,1\n")[:15])
    run = cli(
        "ingest",
        "--embeddings",
        w.vectors,
        "--ids",
        w.ids,
        "--labels",
        tmp / "l.csv.gz",
        "--out",
        tmp / "o",
    )
    return refused(run, "l.csv.gz")


# ----- flawed errors -> short, early, naming the file ---------------------------------------
@case("ids file: a 10 MB id (repeated) is echoed cut", "flawed")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    huge = "x" * HUGE
    w.ids.write_text("\n".join([huge] * 2 + [f"i{k}" for k in range(N - 2)]) + "\n")
    return refused(ingest(w, tmp / "out"), "ids.txt", "line 1", limit=400)


@case("labels CSV: a 10 MB cell is echoed cut", "flawed")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    lines = w.labels.read_text().splitlines()
    cells = lines[3].split(",")
    cells[-1] = "7" * HUGE
    lines[3] = ",".join(cells)
    w.labels.write_text("\n".join(lines) + "\n")
    return refused(ingest(w, tmp / "out"), "labels.csv", "row 3", limit=400)


@case("labels CSV: a 10 MB id is echoed cut", "flawed")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    lines = w.labels.read_text().splitlines()
    lines[2] = "y" * HUGE + lines[2][lines[2].index(",") :]
    w.labels.write_text("\n".join(lines) + "\n")
    return refused(ingest(w, tmp / "out"), "labels.csv", "row 2", "characters", limit=400)


@case("--target of 10 MB is echoed cut", "flawed")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    return refused(
        cli("relations", "--store", w.store, "--target", "z" * HUGE), "unknown class", limit=600
    )


@case("labels CSV: a 1.2M-column header is refused at once", "flawed")
def _(tmp: Path) -> str:
    w = workspace(tmp)
    header = "id," + ",".join(f"c{k}" for k in range(1_200_000))
    (tmp / "wide.csv").write_text(header + "\nimg0000.png," + ",".join("1" * 1) + "\n")
    run = cli(
        "ingest",
        "--embeddings",
        w.vectors,
        "--ids",
        w.ids,
        "--labels",
        tmp / "wide.csv",
        "--out",
        tmp / "o",
    )
    grade = refused(run, "wide.csv", "header")
    return grade if run.seconds < 5 else "flawed"


# ----- the app -----------------------------------------------------------------------------
@case("app: streamlit run binds 127.0.0.1, no usage stats, upload limit", "app")
def _(tmp: Path) -> str:
    import tomllib

    from budgetplan.commands.app import UPLOAD_LIMIT_MB

    conf = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    ok = (
        conf["server"]["address"] == "127.0.0.1"
        and conf["browser"]["gatherUsageStats"] is False
        and conf["server"]["maxUploadSize"] == UPLOAD_LIMIT_MB <= 1024
    )
    return "clear" if ok else "silent"


@case("app: streamlit reads that config from the repository root", "app")
def _(tmp: Path) -> str:
    run = script(
        f"""
        import os
        os.chdir("{ROOT}")
        from streamlit import config
        config.get_config_options(force_reparse=True)
        print(config.get_option("server.address"), config.get_option("browser.gatherUsageStats"),
              config.get_option("server.maxUploadSize"))
        """
    )
    from budgetplan.commands.app import UPLOAD_LIMIT_MB

    return worked(run, run.out.split() == ["127.0.0.1", "False", str(UPLOAD_LIMIT_MB)])


def _app_errors(env: dict[str, str], patch: tuple[object, str, object] | None = None) -> str:
    """Run the app's first page with AppTest; grade: one-line st.error and no exception."""
    from streamlit.testing.v1 import AppTest

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, env))
        if patch is not None:
            stack.enter_context(mock.patch.object(*patch))
        at = AppTest.from_file(str(ROOT / "app" / "streamlit_app.py"), default_timeout=60).run()
    if at.exception:
        return "traceback"
    errors = [e.value for e in at.error]
    if len(errors) != 1 or "\n" in errors[0] or "Traceback" in errors[0]:
        return "flawed"
    return "clear"


@case("app: an OSError on a page is one st.error line", "app")
def _(tmp: Path) -> str:
    import budgetplan.app_support as sup

    w = workspace(tmp)
    env = {"BUDGETPLAN_APP_STORE": str(w.store)}
    return _app_errors(env, (sup, "prevalence_chart", _raising(errno.EIO)))


@case("app: a cache that cannot be created is one st.error line", "app")
def _(tmp: Path) -> str:
    (tmp / "cache-file").write_text("not a folder")
    env = {"BUDGETPLAN_APP_STORE": "demo:37", "BUDGETPLAN_CACHE": str(tmp / "cache-file" / "x")}
    return _app_errors(env)


@case("app: uploaded stores are pruned to the newest few", "app")
def _(tmp: Path) -> str:
    from budgetplan.dataset import prune_datasets

    w = workspace(tmp)
    root = tmp / "uploads"
    root.mkdir()
    made = []
    for k in range(8):
        d = root / f"upload-{k}"
        shutil.copytree(w.store, d)
        os.utime(d, (1000 + k, 1000 + k))
        made.append(d)
    (root / "not-a-dataset").mkdir()
    prune_datasets(root, keep=3, protect=[made[0]])  # made[0]: in use, so it counts as newest
    kept = sorted(p.name for p in root.iterdir())
    want = sorted(["not-a-dataset", "upload-0", "upload-7", "upload-6"])
    return "clear" if kept == want else "silent"


# ---------------------------------------------------------------------- the count table
def run_case(c: Case, tmp: Path) -> str:
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        return c.run(tmp)
    except Exception:  # noqa: BLE001 - the harness itself must not hide a case
        traceback.print_exc()
        return "traceback"


def count_table(results: list[tuple[Case, str]]) -> str:
    """The issue's table: cases tried, clear errors, tracebacks, crashes, silent wrong results,
    data losses (and flawed / skipped), overall and per fault class."""
    cols = ["tried", "clear", "flawed", "traceback", "crash", "silent", "data-loss", "skipped"]
    classes = sorted({c.fault for c, _ in results})
    rows = []
    for name in [*classes, "all"]:
        got = [g for c, g in results if name in ("all", c.fault)]
        counts = [len(got)] + [got.count(k) for k in cols[1:]]
        rows.append([name, *counts])
    width = [max(len(str(r[i])) for r in [["class", *cols], *rows]) for i in range(len(cols) + 1)]
    lines = ["  ".join(str(x).rjust(w) for x, w in zip(["class", *cols], width, strict=True))]
    lines += ["  ".join(str(x).rjust(w) for x, w in zip(r, width, strict=True)) for r in rows]
    return "\n".join(lines)
