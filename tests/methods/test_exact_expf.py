"""The engine's ``expf`` is the C library's, to the bit (glibc's FMA build, which this project's
machines use), vectorised or one number at a time, special cases included."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from budgetplan.methods.exact_expf import expf, expf_into, fma32


def _glibc_expf_fma():
    """glibc's ``expf`` where it is the FMA build (x86-64 with FMA), else None."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return None
    if not platform.libc_ver()[0] == "glibc":
        return None
    try:
        with open("/proc/cpuinfo") as f:
            if " fma " not in f.read():
                return None
    except OSError:
        return None
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.expf.restype = ctypes.c_float
    libm.expf.argtypes = [ctypes.c_float]
    return libm.expf


SPECIAL = np.array(
    [0.0, -0.0, 1.0, -1.0, 87.99, 88.0, 88.72, 88.73, -87.3, -88.0, -103.9, -104.0, -150.0]
    + [np.inf, -np.inf, np.nan, 1e-30, -1e-30, np.finfo(np.float32).tiny],
    dtype=np.float32,
)


def _inputs(n: int = 60_000) -> np.ndarray:
    """Every special case, random bit patterns (any float) and the range the losses use."""
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    near = rng.uniform(-90.0, 90.0, n).astype(np.float32)
    return np.concatenate([SPECIAL, bits, near])


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))


def test_expf_equals_the_c_library_bit_for_bit():
    libm_expf = _glibc_expf_fma()
    if libm_expf is None:
        pytest.skip("the reference is glibc's expf on x86-64 with FMA")
    x = _inputs()
    want = np.array([libm_expf(float(v)) for v in x], dtype=np.float32)
    got = np.empty_like(x)
    expf_into(x, got)
    bad = np.flatnonzero(~_same(got, want))
    assert bad.size == 0, f"{bad.size} differ, e.g. expf({x[bad[0]]!r})"


@njit(fastmath=True)
def _from_fast_math_code(x: np.ndarray, out: np.ndarray, one: np.ndarray) -> None:
    """As the engine calls them: from code compiled with fast math, whose flags numba also puts
    on the operations of the functions it calls (seen in the compiled code)."""
    expf_into(x, out)
    for i in range(x.shape[0]):
        one[i] = expf(x[i])


def test_fast_math_callers_get_the_same_bits():
    x = _inputs(400_000)
    want = np.empty_like(x)
    expf_into(x, want)
    got, one = np.empty_like(x), np.empty_like(x)
    _from_fast_math_code(x, got, one)
    assert _same(got, want).all() and _same(one, want).all()


def test_one_number_at_a_time_gives_the_array_answer():
    x = _inputs(5_000)
    got = np.empty_like(x)
    expf_into(x, got)
    one = np.array([expf(v) for v in x], dtype=np.float32)
    assert _same(one, got).all()
    close = np.abs(x) < 80
    np.testing.assert_allclose(got[close], np.exp(x[close].astype(np.float64)), rtol=1e-7)
    assert got[np.isposinf(x)][0] == np.inf and got[np.isneginf(x)][0] == 0.0


@njit
def _fused(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
    return fma32(a, b, c)


def test_fma32_rounds_once():
    """The label-assemble loss relies on it to reproduce the scalar loop's fused multiply-adds:
    (1 + 2^-12)^2 - (1 + 2^-11) is 2^-24 exactly, and 0 when the product is rounded first."""
    a = np.float32(1 + 2.0**-12)
    c = np.float32(-(1 + 2.0**-11))
    assert np.float32(a * a) + c == 0.0
    assert _fused(a, a, c) == np.float32(2.0**-24)


_CHILD = """
import sys
import numpy as np
from budgetplan.methods import exact_expf
assert not exact_expf._permutes_available(), "the child still compiles for AVX-512"
x = np.load(sys.argv[1])
out = np.empty_like(x)
exact_expf.expf_into(x, out)
code = exact_expf.expf_into.inspect_asm(exact_expf.expf_into.signatures[0])  # a fresh cache
assert "vpermt2q" not in code and "vpermi2q" not in code and "zmm" not in code
np.save(sys.argv[2], out)
"""


def test_a_cpu_without_avx512_gets_the_same_bits(tmp_path):
    """Where the target has no AVX-512, ``expf_into`` looks its table up one lane at a time:
    compiled so in a child process (numba told the CPU lacks AVX-512), the same numbers."""
    from numba.core.codegen import get_host_cpu_features

    features = get_host_cpu_features().split(",")
    if "+avx512f" not in features:
        pytest.skip("this machine compiles the one-load-per-lane lookup already")
    without = ",".join("-" + f[1:] if f.startswith("+avx512") else f for f in features)
    x = _inputs(20_000)
    np.save(tmp_path / "x.npy", x)
    env = {
        **os.environ,
        "NUMBA_CPU_FEATURES": without,
        "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    want = np.empty_like(x)
    expf_into(x, want)
    assert _same(np.load(tmp_path / "y.npy"), want).all()


def test_every_length_gives_the_scalar_answer_tail_and_specials_included():
    """``expf_into`` takes 8 entries at a time and the rest one by one; a special entry (NaN,
    overflow) anywhere in a block of 8 is redone alone, its neighbours kept."""
    rng = np.random.default_rng(3)
    for n in range(0, 27):
        x = rng.uniform(-20, 20, n).astype(np.float32)
        if n > 2:
            x[rng.integers(0, n)] = SPECIAL[rng.integers(0, SPECIAL.size)]
        got = np.full(n, -1.0, dtype=np.float32)
        expf_into(x, got)
        one = np.array([expf(v) for v in x], dtype=np.float32)
        assert _same(got, one).all(), n
