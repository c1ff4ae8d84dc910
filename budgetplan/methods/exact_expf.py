"""``expf`` with the bits of glibc's ``expf`` on x86-64 with FMA, eight numbers at a time.

The compiled engine's losses take float32 exponentials of the logits: the BCE's ``exp(-|a|)``
on every annotated entry, ``label-assemble``'s two sigmoids on every unannotated one. numba
lowers ``np.exp`` on a float32 to one call of the C library's ``expf`` at a time (~5 ns each);
:func:`expf_into` computes the same function over an array at ~0.5 ns an entry, and
:func:`expf` is the same arithmetic for one number (bench/README.md, "train.py").

The algorithm is glibc's (``sysdeps/ieee754/flt-32/e_expf.c``, from Arm's optimized-routines):
in double precision, ``x * N / ln 2 = k + r`` with ``N = 32``, ``2^(k/N)`` from a 32-entry table
and the exponent bits, ``2^(r/N)`` by a cubic; then one rounding to float. The multiply-adds are
fused exactly where glibc's FMA build (``__expf_fma``, the one this machine's ``libm`` picks)
fuses them, read off its machine code, so the result is the same float, to the bit, for every
one of the 2^32 inputs (checked exhaustively, both ways of the table below;
``tests/methods/test_exact_expf.py`` checks a sample and every special case against the C
library). Inputs with ``|x| >= 88`` (overflow, underflow, infinities, NaN) are passed to
``np.exp`` itself.

:func:`expf_into` writes the arithmetic for a vector of 8 doubles itself (an intrinsic, LLVM IR),
because the loop LLVM vectorised from the scalar code looked the table up with a gather and
checked the special cases in a second loop that did not vectorise: 3.3 ns an entry. Where the
target has AVX-512, two two-register permutes (``vpermi2q``) look the table up from four vector
registers; elsewhere one load per lane does (0.5 and 1.0 ns an entry here, bench/README.md).
Every lane runs the scalar's operations (``llvm.fma`` per lane, no fast-math flags), so the
numbers are the same either way and the same as :func:`expf`'s.

:func:`expf`, called from code compiled with fast math (the engine's losses), carries the
caller's fast-math flags on its operations (numba puts them on everything it links in); LLVM has
nothing to reorder in this sequence of fused multiply-adds, and a test checks that such a caller
gets the same bits.

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
from numba.core import cgutils, config
from numba.core.codegen import get_host_cpu_features as host_features
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
LANES = 8  # expf_into's entries per step: one vector of 8 doubles


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


def _permutes_available() -> bool:
    """Whether numba compiles for a CPU with AVX-512F, whose two-register permutes look up the
    table (the features numba gives its target machine: ``NUMBA_CPU_FEATURES``, else the host's
    as ``numba.core.codegen`` reads them, AVX removed when ``NUMBA_ENABLE_AVX=0``)."""
    chosen = getattr(config, "CPU_FEATURES", None)  # set by numba at import, from the environment
    features = chosen if chosen is not None else host_features()
    return "+avx512f" in features.split(",")


_F32, _F64, _I32, _I64 = ir.FloatType(), ir.DoubleType(), ir.IntType(32), ir.IntType(64)
_VF, _VD, _VI = (ir.VectorType(t, LANES) for t in (_F32, _F64, _I64))
_VI32 = ir.VectorType(_I32, LANES)


def _splat(ty: ir.VectorType, value: float | int) -> ir.Constant:
    return ir.Constant(ty, [value] * LANES)


@intrinsic
def _expf_lanes_intrinsic(typingctx, x, out, i):  # type: ignore[no-untyped-def]
    """``(x, out, i) -> special``: ``out[i : i + LANES] = expf(x[i : i + LANES])`` by
    :func:`_core`'s operations on a vector of doubles, each lane the scalar's arithmetic
    (``llvm.fma`` per lane, no fast-math flags), and whether a lane is special (``|x| >= 88``
    or NaN: the caller redoes those). The table is looked up by AVX-512's two-register permutes
    of its 32 entries held in four vectors where the target has them, else by one load per lane
    (decided when the caller compiles: numba's cache keeps code per CPU and feature set)."""
    for arr in (x, out):
        if not (
            isinstance(arr, types.Array)
            and arr.dtype == types.float32
            and arr.ndim == 1
            and arr.layout == "C"
        ):
            return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        x_ty, out_ty, _ = signature.args
        xa = context.make_array(x_ty)(context, builder, args[0])
        oa = context.make_array(out_ty)(context, builder, args[1])
        x_ptr = builder.bitcast(builder.gep(xa.data, [args[2]]), _VF.as_pointer())
        out_ptr = builder.bitcast(builder.gep(oa.data, [args[2]]), _VF.as_pointer())
        xv = builder.load(x_ptr, align=4)
        module = builder.module
        fma_t = ir.FunctionType(_VD, [_VD] * 3)
        fma = cgutils.get_or_insert_function(module, fma_t, f"llvm.fma.v{LANES}f64")

        def d(value: float) -> ir.Constant:
            return _splat(_VD, value)

        xd = builder.fpext(xv, _VD)
        kd = builder.call(fma, [d(_INV_LN2_N), xd, d(_SHIFT)])
        ki = builder.bitcast(kd, _VI)
        kd = builder.fsub(kd, d(_SHIFT))
        r = builder.call(fma, [d(_INV_LN2_N), xd, builder.fneg(kd)])
        z = builder.call(fma, [r, d(_C0), d(_C1)])
        r2 = builder.fmul(r, r)
        y = builder.call(fma, [r, d(_C2), d(1.0)])
        y = builder.call(fma, [z, r2, y])
        entry = builder.and_(ki, _splat(_VI, 31))
        tab = _permute_lookup(builder, entry) if _permutes_available() else _lookup(builder, entry)
        s = builder.bitcast(builder.add(tab, builder.shl(ki, _splat(_VI, 47))), _VD)
        builder.store(builder.fptrunc(builder.fmul(y, s), _VF), out_ptr, align=4)
        bits = builder.bitcast(xv, _VI32)
        top = builder.lshr(builder.and_(bits, _splat(_VI32, 0x7FFFFFFF)), _splat(_VI32, 20))
        special = builder.icmp_unsigned(">=", top, _splat(_VI32, int(_LARGE_TOP)))
        flags = builder.bitcast(special, ir.IntType(LANES))
        return builder.icmp_unsigned("!=", flags, ir.Constant(ir.IntType(LANES), 0))

    return types.boolean(x, out, i), codegen


def _permute_lookup(builder: ir.IRBuilder, entry: ir.Value) -> ir.Value:
    """``_TABLE[entry]`` per lane: entries 0-15 and 16-31 each by one ``vpermi2q`` of two
    8-entry vectors (bit 3 of the index picks the vector), then bit 4 picks between them."""
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(_VI, [_VI] * 3), "llvm.x86.avx512.vpermi2var.q.512"
    )
    quarters = [ir.Constant(_VI, [int(v) for v in _TABLE[k : k + 8]]) for k in range(0, 32, 8)]
    low = builder.call(fn, [quarters[0], entry, quarters[1]])
    high = builder.call(fn, [quarters[2], entry, quarters[3]])
    upper = builder.icmp_unsigned("!=", builder.and_(entry, _splat(_VI, 16)), _splat(_VI, 0))
    return builder.select(upper, high, low)


def _lookup(builder: ir.IRBuilder, entry: ir.Value) -> ir.Value:
    """``_TABLE[entry]`` per lane, one load each from a constant array (any CPU)."""
    module = builder.module
    table_t = ir.ArrayType(_I64, 32)
    table = ir.GlobalVariable(module, table_t, name=module.get_unique_name("expf_table"))
    table.global_constant = True
    table.linkage = "internal"
    table.initializer = ir.Constant(table_t, [int(v) for v in _TABLE])
    out = ir.Constant(_VI, ir.Undefined)
    for k in range(LANES):
        lane = ir.Constant(_I32, k)
        index = builder.extract_element(entry, lane)
        value = builder.load(builder.gep(table, [ir.Constant(_I32, 0), index]))
        out = builder.insert_element(out, value, lane)
    return out


# The intrinsic as the jitted code calls it (mypy sees numba's ``_Intrinsic`` otherwise).
_expf_lanes: Callable[[np.ndarray, np.ndarray, int], bool] = _expf_lanes_intrinsic  # type: ignore[assignment]


@njit(cache=True, nogil=True, error_model="numpy")
def expf_into(x: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = expf(x[i])`` for 1-d contiguous float32 arrays (``out`` must not be ``x``),
    ``LANES`` at a time."""
    n = x.shape[0]
    whole = n - n % LANES
    special = False
    for i in range(0, whole, LANES):
        special |= _expf_lanes(x, out, i)
    for i in range(whole, n):
        out[i] = expf(x[i])
    if special:  # |x| >= 88 or NaN: the library's own answer
        for i in range(whole):
            if _special(x[i]):
                out[i] = np.exp(x[i])
