"""Atomic writes: a file is either the old one or the complete new one, never half-written.

Also the guards every writer uses (docs/ARCHITECTURE.md, "Reliability policy"): outputs are
checked before long work (:func:`check_writable`), never replace an input
(:func:`check_not_inputs`) and replace a directory only when budgetplan wrote it
(:func:`check_replaceable`); temporary directories carry their owner's pid in their name, so a
later run removes those a killed process left behind (:func:`clean_stale_temp`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from budgetplan.errors import InputFileError

#: Temporary directories with no owner in their name (older versions) count as stale after this.
STALE_SECONDS = 6 * 3600


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path`` (os.replace).

    The temp file's name says whose it is, as :func:`make_temp_dir`'s do, so that one left by a
    killed process (a SIGKILL mid-write: a 343 MB vectors cache, the prepared problem) is
    removed by the next write of ``path`` on this machine (:func:`clean_stale_temp`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temp(path.parent, path.name, (".tmp",), foreign_after=None)
    fd, tmp = tempfile.mkstemp(prefix=_owned_prefix(path.name), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.is_file():  # mkstemp makes 0600; give the file the usual umask-based mode
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(
    path: str | os.PathLike[str], overwrite: bool = False, *, marker: str | None = None
) -> Iterator[Path]:
    """Yield a new temp directory beside ``path``; on success rename it to ``path``.

    An existing ``path`` is replaced (moved aside, then deleted) only when ``overwrite`` and it
    is a directory holding ``marker`` (a file budgetplan writes there, e.g. ``dataset.json``);
    anything else at ``path`` is refused (:func:`check_replaceable`). On any error the temp
    directory is removed, so a half-built directory never appears at ``path``; temp directories
    of killed earlier runs are removed first (:func:`clean_stale_temp`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temp(path.parent, path.name)
    tmp = make_temp_dir(path.parent, path.name, ".tmp")
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a store should be as readable as any dir
    try:
        yield tmp
        if path.exists() or path.is_symlink():
            if not overwrite:
                raise InputFileError(path, "already exists; choose another directory")
            check_replaceable(path, marker)
            old = make_temp_dir(path.parent, path.name, ".old")
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------- guards
def check_replaceable(path: str | os.PathLike[str], marker: str | None) -> None:
    """Refuse (one line) to replace ``path`` unless it is a directory budgetplan wrote.

    budgetplan's directories hold ``marker`` (``dataset.json``, ``manifest.json``); a regular
    file, a symlink or a folder without it (the user's own files, the folder of the inputs) is
    never deleted. Nothing at ``path`` is fine.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    what = "a directory budgetplan wrote"
    if path.is_symlink() or not path.is_dir():
        raise InputFileError(
            path, f"exists and is not {what}; refusing to replace it (choose another --out)"
        )
    if marker is None or not (path / marker).is_file():
        raise InputFileError(
            path,
            f"exists and is not {what} (no {marker or 'marker file'}); refusing to replace "
            "it (choose another --out)",
        )


def check_not_inputs(
    outputs: Iterable[str | os.PathLike[str]], inputs: Iterable[str | os.PathLike[str] | None]
) -> None:
    """Refuse an output that is one of the inputs, a directory holding one, or a path inside
    an input directory (a store), with one line naming both."""
    ins = [(Path(i), _resolved(i)) for i in inputs if i is not None]
    for out in outputs:
        o = _resolved(out)
        for given, r in ins:
            inside = r.is_dir() and r in o.parents
            if o == r or o in r.parents or inside or _same_file(out, given):
                raise InputFileError(
                    out,
                    f"would overwrite the input {given}; refusing (choose another output path)",
                )


def check_writable(path: str | os.PathLike[str], *, directory: bool = False) -> None:
    """Fail at once, naming ``path``, when it cannot be written (before minutes of work).

    ``path`` is a file to create or replace (``directory=False``: it must not be a directory)
    or a directory to create or write into. Probes by creating and removing a temp file in the
    nearest existing directory, so read-only file systems and full disks of quota are caught.
    """
    path = Path(path)
    if directory:
        if path.exists() and not path.is_dir():
            raise InputFileError(path, "exists and is not a directory")
        probe = path
    else:
        if path.is_dir():
            raise InputFileError(path, "is a directory; give a file name")
        probe = path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise InputFileError(path, f"cannot be created: {probe} is not a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".budgetplan-probe.", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise InputFileError(path, f"cannot be written ({describe_os_error(exc)})") from None


def describe_os_error(exc: OSError) -> str:
    """One line for an operating-system error (what the CLI and the app print), with a hint."""
    name = " ".join(str(exc.filename).split())[:300] if exc.filename is not None else ""
    where = f"{name}: " if name else ""
    text = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0][:300]
    hint = {
        errno.ENOSPC: "; free some space, or point BUDGETPLAN_CACHE / --out at another disk",
        errno.EROFS: "; the file system is read-only: choose a writable place "
        "(BUDGETPLAN_CACHE, --out, --no-cache)",
        errno.EACCES: "; no permission: choose a writable place (BUDGETPLAN_CACHE, --out)",
        errno.EISDIR: "; give a file name, not a directory",
        errno.EDQUOT: "; disk quota exceeded: free some space",
    }.get(exc.errno or 0, "")
    return f"{where}{text}{hint}"


def describe_error(exc: BaseException) -> str:
    """The one line shown for a user-facing error: an OSError as :func:`describe_os_error`,
    anything else (a ``BudgetplanError``) as its message."""
    return describe_os_error(exc) if isinstance(exc, OSError) else str(exc)


# ---------------------------------------------------------------------- temp directories
def _machine() -> str:
    """8 hex digits of the host name and its process-id namespace (``/proc/self/ns/pid``): a
    pid means something only within both. A folder shared by several machines (a cluster's
    scratch as ``TMPDIR``) or by containers holds temp dirs whose pids mean nothing here."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return hashlib.sha256(f"{socket.gethostname()}|{namespace}".encode()).hexdigest()[:8]


_HOST = _machine()


def make_temp_dir(parent: Path, name: str, suffix: str) -> Path:
    """``parent/.<name>.p<pid>h<host>.<random><suffix>``: a temp dir that says who owns it."""
    return Path(tempfile.mkdtemp(prefix=_owned_prefix(name), suffix=suffix, dir=parent))


def _owned_prefix(name: str) -> str:
    return f".{name}.p{os.getpid()}h{_HOST}."


def clean_stale_temp(
    parent: Path,
    name: str,
    suffixes: tuple[str, ...] = (".tmp", ".old", ".build"),
    foreign_after: float | None = STALE_SECONDS,
) -> list[Path]:
    """Remove the temp dirs and files of ``name`` under ``parent`` that a dead process left
    behind.

    One made by :func:`make_temp_dir` or :func:`atomic_path` on this host (and pid namespace) is
    stale when its pid is gone; one without an owner (older versions) or from another host when
    older than ``foreign_after`` seconds (``None``: never), and then only if it is a folder. A
    live concurrent write is never touched, nor another user's entry, nor a link. Returns what
    was removed.
    """
    owned = re.compile(rf"^\.{re.escape(name)}\.p(\d+)h([0-9a-f]{{8}})\.")
    legacy = re.compile(rf"^\.{re.escape(name)}\.[^.]+$")
    removed: list[Path] = []
    start = f".{name}."
    try:  # names first: most folders hold many other entries (a cache shard, the user's files)
        with os.scandir(parent) as it:
            names = [e.name for e in it if e.name.startswith(start) and e.name.endswith(suffixes)]
    except OSError:
        return removed
    for entry in (parent / n for n in names):
        m = owned.match(entry.name)
        ours = m is not None and m.group(2) == _HOST
        if m is not None and ours:
            stale = not process_alive(int(m.group(1)))
        elif foreign_after is None:
            continue
        elif m or legacy.match(entry.name.removesuffix(_suffix_of(entry.name, suffixes))):
            try:
                stale = time.time() - entry.stat().st_mtime > foreign_after
            except OSError:
                continue
        else:
            continue
        # by age, folders only: a user's own file may have the shape of an unowned temp name
        if stale and _remove_own(entry, files=ours):
            removed.append(entry)
    return removed


def _remove_own(path: Path, files: bool = True) -> bool:
    """Remove ``path`` if it is this user's directory, or regular file when ``files`` (a link
    is never followed); whether it went."""
    try:
        info = path.lstat()
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            return False
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(path, ignore_errors=True)
        elif files and stat.S_ISREG(info.st_mode):
            path.unlink()
        else:
            return False
    except OSError:
        return False
    return not os.path.lexists(path)


def _suffix_of(name: str, suffixes: tuple[str, ...]) -> str:
    return next(s for s in suffixes if name.endswith(s))


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists. POSIX only: on Windows ``os.kill(pid, 0)`` would send it
    Ctrl-C, so every pid counts as alive there (its temp dirs go by age alone)."""
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


def _resolved(path: str | os.PathLike[str]) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def write_with_atomic(path: str | os.PathLike[str], writer: Callable[[BinaryIO], None]) -> None:
    """Call ``writer(fileobj)`` on a temp file, then move it into place."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        writer(fh)


def save_npy_atomic(path: str | os.PathLike[str], array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
