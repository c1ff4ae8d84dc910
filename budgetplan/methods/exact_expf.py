"""``expf`` with the bits of glibc's ``expf`` on x86-64 with FMA, in a loop LLVM vectorises.

The compiled engine's losses take float32 exponentials of the logits: the BCE's ``exp(-|a|)``
on every annotated entry, ``label-assemble``'s two sigmoids on every unannotated one. numba
lowers ``np.exp`` on a float32 to one call of the C library's ``expf`` at a time (~5 ns each);
:func:`expf_into` computes the same function over an array at ~1.6 ns an entry, and
:func:`expf` is the same arithmetic for one number (bench/README.md, "train.py").

The algorithm is glibc's (``sysdeps/ieee754/flt-32/e_expf.c``, from Arm's optimized-routines):
in double precision, ``x * N / ln 2 = k + r`` with ``N = 32``, ``2^(k/N)`` from a 32-entry table
and the exponent bits, ``2^(r/N)`` by a cubic; then one rounding to float. The multiply-adds are
fused exactly where glibc's FMA build (``__expf_fma``, the one this machine's ``libm`` picks)
fuses them, read off its machine code, so the result is the same float, to the bit, for every
one of the 2^32 inputs (checked exhaustively once; ``tests/methods/test_exact_expf.py`` checks
a sample and every special case against the C library). Inputs with ``|x| >= 88`` (overflow,
underflow, infinities, NaN) are passed to ``np.exp`` itself.

Called from code compiled with fast math (the engine's losses), its operations carry the
caller's fast-math flags too (numba puts them on everything it links in); LLVM has nothing to
reorder in this sequence of fused multiply-adds, and a test checks that such a caller gets the
same bits.

:func:`fma32` is ``a * b + c`` on float32 rounded once: ``label-assemble``'s vectorised loss
uses it where the compiled scalar loop it replaced had fused multiply-adds, for the same bits.

On a machine whose ``expf`` is another one (no FMA, another libm), this still gives glibc's FMA
results (``llvm.fma`` is an exact fused multiply-add everywhere, in software where the CPU has
none): the engine's numbers do not depend on the machine's libm.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.extending import intrinsic

# __exp2f_data of glibc 2.36 (e_exp2f_data.c): tab[i] = bits(2^(i/32)) - (i << 47)
_TABLE = np.array(
    [
        0x3FF0000000000000,
        0x3FEFD9B0D3158574,
        0x3FEFB5586CF9890F,
        0x3FEF9301D0125B51,
        0x3FEF72B83C7D517B,
        0x3FEF54873168B9AA,
        0x3FEF387A6E756238,
        0x3FEF1E9DF51FDEE1,
        0x3FEF06FE0A31B715,
        0x3FEEF1A7373AA9CB,
        0x3FEEDEA64C123422,
        0x3FEECE086061892D,
        0x3FEEBFDAD5362A27,
        0x3FEEB42B569D4F82,
        0x3FEEAB07DD485429,
        0x3FEEA47EB03A5585,
        0x3FEEA09E667F3BCD,
        0x3FEE9F75E8EC5F74,
        0x3FEEA11473EB0187,
        0x3FEEA589994CCE13,
        0x3FEEACE5422AA0DB,
        0x3FEEB737B0CDC5E5,
        0x3FEEC49182A3F090,
        0x3FEED503B23E255D,
        0x3FEEE89F995AD3AD,
        0x3FEEFF76F2FB5E47,
        0x3FEF199BDD85529C,
        0x3FEF3720DCEF9069,
        0x3FEF5818DCFBA487,
        0x3FEF7C97337B9B5F,
        0x3FEFA4AFA2A490DA,
        0x3FEFD0765B6E4540,
    ],
    dtype=np.uint64,
)
# invln2_scaled (32 / ln 2), shift (0x1.8p52), poly_scaled (the cubic's coefficients / 32^k)
_INV_LN2_N, _SHIFT, _C0, _C1, _C2 = (
    float(v)
    for v in np.array(
        [
            0x40471547652B82FE,
            0x4338000000000000,
            0x3EBC6AF84B912394,
            0x3F2EBFCE50FAC4F3,
            0x3F962E42FF0C52D6,
        ],
        dtype=np.uint64,
    ).view(np.float64)
)
_LARGE_TOP = np.uint32(0x42B)  # top 12 bits (sign cleared) of 88.0f: glibc's special-case cut


def _fused_multiply_add(of: types.Float, ll: ir.Type):  # type: ignore[no-untyped-def]
    """The intrinsic ``a * b + c`` of numba type ``of`` (LLVM type ``ll``), rounded once
    (``llvm.fma``)."""

    @intrinsic
    def fma(typingctx, a, b, c):  # type: ignore[no-untyped-def]
        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            fn = builder.module.declare_intrinsic("llvm.fma", [ll], ir.FunctionType(ll, [ll] * 3))
            return builder.call(fn, args)

        return of(of, of, of), codegen

    return fma


_fma_f64 = _fused_multiply_add(types.float64, ir.DoubleType())
_fma_f32 = _fused_multiply_add(types.float32, ir.FloatType())


@intrinsic
def _bits_of(typingctx, a):  # type: ignore[no-untyped-def]
    """The 64 bits of a double as an unsigned integer."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(64))

    return types.uint64(types.float64), codegen


@intrinsic
def _double_of(typingctx, a):  # type: ignore[no-untyped-def]
    """The double whose 64 bits are ``a``."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.uint64), codegen


# The intrinsics as the jitted code calls them (mypy sees numba's ``_Intrinsic`` otherwise).
_fma: Callable[[float, float, float], float] = _fma_f64  # type: ignore[assignment]
fma32: Callable[[np.float32, np.float32, np.float32], np.float32] = _fma_f32  # type: ignore[assignment]
_bits: Callable[[float], np.uint64] = _bits_of  # type: ignore[assignment]
_double: Callable[[np.uint64], float] = _double_of  # type: ignore[assignment]


# No fast-math: every operation is the one glibc performs, in its order.
@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _core(x: np.float32) -> np.float32:
    """glibc's ``expf`` for ``|x| < 88`` (no special cases: a branch-free body that vectorises)."""
    xd = np.float64(x)
    # x N / ln 2 rounded to an integer, in its low bits (mypy cannot see numba's intrinsics)
    kd = _fma(_INV_LN2_N, xd, _SHIFT)
    ki = _bits(kd)
    kd = kd - _SHIFT
    r = _fma(_INV_LN2_N, xd, -kd)
    z = _fma(r, _C0, _C1)
    r2 = r * r
    y = _fma(r, _C2, 1.0)
    y = _fma(z, r2, y)
    s = _double(_TABLE[ki & np.uint64(31)] + (ki << np.uint64(47)))  # 2^(k / N)
    return np.float32(y * s)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _special(x: np.float32) -> bool:
    """``|x| >= 88`` or NaN: glibc's special-case cut (its top 12 bits, sign cleared)."""
    return bool((np.float32(x).view(np.uint32) >> np.uint32(20)) & np.uint32(0x7FF) >= _LARGE_TOP)


@njit(cache=True, nogil=True, error_model="numpy")
def expf(x: np.float32) -> np.float32:
    """``expf(x)`` of one float32."""
    return np.exp(x) if _special(x) else _core(x)


@njit(cache=True, nogil=True, error_model="numpy")
def expf_into(x: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = expf(x[i])`` for 1-d float32 arrays (``out`` must not be ``x``)."""
    for i in range(x.shape[0]):
        out[i] = _core(x[i])
    for i in range(x.shape[0]):  # |x| >= 88 or NaN: the library's own answer
        if _special(x[i]):
            out[i] = np.exp(x[i])
