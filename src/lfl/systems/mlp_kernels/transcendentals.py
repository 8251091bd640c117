"""Vectorisable exp and tanh for the kernels' item loops (numba calls scalar libm for ``np.exp`` and
``np.tanh``, which stops vectorisation): Cody-Waite reduction, 2**k built from its bits, exp by a
degree-11 polynomial, tanh by the [6/6] Pade approximant of exp with one division; relative error
below 5e-16 (tests/test_mlp.py checks both against numpy). Also the fast-math flag sets every kernel
module uses: element-wise loops allow fused multiply-add only (``ELEMENTWISE``), loops that sum over
items also reassociation (``SUMS``), so a sum is split over SIMD lanes; nothing assumes finite values.
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from lfl import kernel_cache

kernel_cache.install()


ELEMENTWISE = {"contract"}
SUMS = {"contract", "reassoc"}

_INV_LN2 = 1.4426950408889634
_SHIFTER = 6755399441055744.0  # 1.5 * 2**52: adding and subtracting it rounds to an integer
_SHIFTER_BITS = 0x4338000000000000  # its bits: those of k + _SHIFTER minus these are k (|k| < 2**51)
_LN2_HI = 6.93147180369123816490e-01  # fdlibm split of ln 2: k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10
_TANH_CLAMP = 40.0  # |2z| beyond this: tanh(z) rounds to +-1 exactly
EXP_FLOOR = -700.0  # exp below this is returned as 0 (keeps the exponent field normal)
# (expm1(r) - r) / r**2 on |r| <= ln2/2: Chebyshev interpolant of degree 9 computed in 50-digit
# decimal arithmetic; expm1 = r + r**2 P(r) has relative error below 5e-17 before rounding.
_P0, _P1, _P2, _P3, _P4 = 0.5000000000000001, 0.16666666666666669, 0.04166666666662413, 0.008333333333330062, 0.0013888888917213717
_P5, _P6, _P7, _P8, _P9 = 0.00019841269863053618, 2.4801521295954376e-05, 2.7557268459997064e-06, 2.7620088445409746e-07, 2.510038549551032e-08
# [6/6] Pade approximant of exp: c_j = (12 - j)! 6! / (12! j! (6 - j)!); its error on |r| <= ln2/2
# is below 2e-19, so rounding alone sets the accuracy of tanh
_PADE1, _PADE2, _PADE3 = 0.5, 0.11363636363636363, 0.015151515151515152
_PADE4, _PADE5, _PADE6 = 0.0012626262626262627, 6.313131313131313e-05, 1.503126503126503e-06


@intrinsic
def _bits_as_float(typingctx, bits):
    """Reinterpret the 64 bits of an int64 as a float64 (vectorisable, unlike ldexp)."""
    signature = types.float64(types.int64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return signature, codegen


@intrinsic
def _float_bits(typingctx, value):
    """The 64 bits of a float64 as an int64 (the inverse of _bits_as_float)."""
    signature = types.int64(types.float64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return signature, codegen


@njit(cache=True, inline="always")
def _power_of_two(shifted):
    """2**k from shifted = k + _SHIFTER: k sits in the low bits of its mantissa. Integer adds and a
    shift vectorise; np.int64(kf) does not (AVX2 has no packed double -> int64 conversion: LLVM
    emitted four scalar conversions and shuffles per vector, ~25 % of a tanh)."""
    return _bits_as_float((_float_bits(shifted) - _SHIFTER_BITS + 1023) << 52)


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def expm1_parts(w):
    """(2**k, expm1(r)) with w = k ln2 + r, |r| <= ln2/2, for -1022 < k < 1024."""
    shifted = w * _INV_LN2 + _SHIFTER
    kf = shifted - _SHIFTER
    r = (w - kf * _LN2_HI) - kf * _LN2_LO
    p = _P9
    p = p * r + _P8
    p = p * r + _P7
    p = p * r + _P6
    p = p * r + _P5
    p = p * r + _P4
    p = p * r + _P3
    p = p * r + _P2
    p = p * r + _P1
    p = p * r + _P0
    q = r + r * r * p
    return _power_of_two(shifted), q


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy", inline="always")
def exp_nonpositive(w):
    """exp(w) for w <= 0, below -700 returned as 0."""
    wc = w if w > EXP_FLOOR else EXP_FLOOR
    scale, q = expm1_parts(wc)
    e = scale + scale * q
    return e if w > EXP_FLOOR else 0.0


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def exp_array(values, out):
    """out = exp(values) for values <= 0 (exp below -700 returned as 0); a checked helper for tests."""
    for n in range(values.size):
        out[n] = exp_nonpositive(values[n])


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy", inline="always")
def tanh_value(z):
    """tanh(z) = (1 - e)/(1 + e), e = exp(-2|z|) = 2**k * N(r)/N(-r) with the [6/6] Pade approximant
    N(r) = even(r^2) + r odd(r^2) of exp: one division for the whole tanh, and with s = 2**k,
        tanh|z| = ((1 - s) even - (1 + s) r odd) / ((1 + s) even - (1 - s) r odd),
    where 1 - s is exact and nothing cancels (for k = 0 the numerator is -2 r odd). As many
    operations as expm1 by a degree-11 polynomial (the former way, also one division) but shorter
    dependency chains (two polynomials in r^2 of degree 3): 15 % faster. Relative error below
    5e-16; the [5/5] approximant (two operations fewer) misses it: 2.6e-15."""
    w = max(-2.0 * abs(z), -_TANH_CLAMP)
    shifted = w * _INV_LN2 + _SHIFTER
    kf = shifted - _SHIFTER
    r = (w - kf * _LN2_HI) - kf * _LN2_LO
    r2 = r * r
    even = ((_PADE6 * r2 + _PADE4) * r2 + _PADE2) * r2 + 1.0
    odd = ((_PADE5 * r2 + _PADE3) * r2 + _PADE1) * r
    s = _power_of_two(shifted)
    numerator = (1.0 - s) * even - (1.0 + s) * odd
    denominator = (1.0 + s) * even - (1.0 - s) * odd
    return math.copysign(numerator / denominator, z)


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy", inline="always")
def tanh_row(values):
    for n in range(values.size):
        values[n] = tanh_value(values[n])


@njit(cache=True, fastmath=ELEMENTWISE, error_model="numpy")
def tanh_inplace(rows):
    """rows[:, :] = tanh(rows) for a 2-d C-contiguous block (relative error < 5e-16)."""
    for j in range(rows.shape[0]):
        tanh_row(rows[j])
