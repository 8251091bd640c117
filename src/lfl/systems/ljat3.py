"""The LJAT3 cluster: three atoms, Lennard-Jones plus the Axilrod-Teller three-body term (SCIENCE.md §1).

    V = sum_{i<j} 4 (r_ij^-12 - r_ij^-6) + Z (1 + 3 cos t1 cos t2 cos t3) / (r12 r13 r23)^3

Coordinates: one flat vector of 9 Cartesians (atom 1, atom 2, atom 3). The three-body term is
written in the squared distances a = r12^2, b = r13^2, c = r23^2: by the law of cosines

    cos t1 cos t2 cos t3 = (a + b - c)(a - b + c)(-a + b + c) / (8 a b c)

so V_AT = Z [ P^(-3/2) + (3/8) Q P^(-5/2) ] with P = abc and Q that product, and the gradient
follows from dV/da etc. and d(a)/d(x1) = 2 (x1 - x2).

Classes of a minimum (fixed by SCIENCE.md): 0 equilateral triangle, 1/2/3 linear chain with atom
1/2/3 in the middle, -1 none of these.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lfl import kernel_cache
from lfl.errors import LflError
from lfl.systems.base import System

kernel_cache.install()

N_ATOMS = 3
N_DOF = 9
N_CLASSES = 4
UNCLASSIFIED = -1
ANGLE_TOLERANCE = 1e-2  # radians
LENGTH_TOLERANCE = 1e-2  # relative spread of the bonds that must be equal


@njit(cache=True)
def ljat3_energy_gradient(x, grad_out, z: float) -> float:
    """Energy of the 9 coordinates x; the gradient is written into grad_out (System.kernel form)."""
    d12x = x[0] - x[3]
    d12y = x[1] - x[4]
    d12z = x[2] - x[5]
    d13x = x[0] - x[6]
    d13y = x[1] - x[7]
    d13z = x[2] - x[8]
    d23x = x[3] - x[6]
    d23y = x[4] - x[7]
    d23z = x[5] - x[8]
    a = d12x * d12x + d12y * d12y + d12z * d12z
    b = d13x * d13x + d13y * d13y + d13z * d13z
    c = d23x * d23x + d23y * d23y + d23z * d23z

    # Lennard-Jones in the squared distance s: 4 (s^-6 - s^-3), derivative 4 (-6 s^-7 + 3 s^-4)
    ia = 1.0 / a
    ib = 1.0 / b
    ic = 1.0 / c
    ia3 = ia * ia * ia
    ib3 = ib * ib * ib
    ic3 = ic * ic * ic
    energy = 4.0 * (ia3 * ia3 - ia3) + 4.0 * (ib3 * ib3 - ib3) + 4.0 * (ic3 * ic3 - ic3)
    dva = 4.0 * ia * (-6.0 * ia3 * ia3 + 3.0 * ia3)
    dvb = 4.0 * ib * (-6.0 * ib3 * ib3 + 3.0 * ib3)
    dvc = 4.0 * ic * (-6.0 * ic3 * ic3 + 3.0 * ic3)

    # Axilrod-Teller
    fa = a - b + c  # the three factors of Q, each symmetric in its own way
    fb = -a + b + c
    fc = a + b - c
    q = fa * fb * fc
    p = a * b * c
    p_m32 = 1.0 / (p * np.sqrt(p))  # P^(-3/2)
    p_m52 = p_m32 / p
    energy += z * (p_m32 + 0.375 * q * p_m52)
    dqa = fb * fc - fa * fc + fa * fb
    dqb = -fb * fc + fa * fc + fa * fb
    dqc = fb * fc + fa * fc - fa * fb
    dva += z * (-1.5 * p_m32 * ia + 0.375 * p_m52 * (dqa - 2.5 * q * ia))
    dvb += z * (-1.5 * p_m32 * ib + 0.375 * p_m52 * (dqb - 2.5 * q * ib))
    dvc += z * (-1.5 * p_m32 * ic + 0.375 * p_m52 * (dqc - 2.5 * q * ic))

    ga = 2.0 * dva
    gb = 2.0 * dvb
    gc = 2.0 * dvc
    grad_out[0] = ga * d12x + gb * d13x
    grad_out[1] = ga * d12y + gb * d13y
    grad_out[2] = ga * d12z + gb * d13z
    grad_out[3] = -ga * d12x + gc * d23x
    grad_out[4] = -ga * d12y + gc * d23y
    grad_out[5] = -ga * d12z + gc * d23z
    grad_out[6] = -gb * d13x - gc * d23x
    grad_out[7] = -gb * d13y - gc * d23y
    grad_out[8] = -gb * d13z - gc * d23z
    return energy


@njit(cache=True)
def ljat3_energy(x, z: float) -> float:
    scratch = np.empty(N_DOF)
    return ljat3_energy_gradient(x, scratch, z)


@njit(cache=True)
def ljat3_distances(x):
    """(r12, r13, r23) of one 9-vector."""
    out = np.empty(3)
    pairs = ((0, 3), (0, 6), (3, 6))
    for k in range(3):
        i, j = pairs[k]
        total = 0.0
        for m in range(3):
            diff = x[i + m] - x[j + m]
            total += diff * diff
        out[k] = np.sqrt(total)
    return out


@njit(cache=True)
def ljat3_classify(x, angle_tolerance: float = ANGLE_TOLERANCE, length_tolerance: float = LENGTH_TOLERANCE) -> int:
    """Class of a (minimised) structure: 0 triangle, 1/2/3 linear with that atom in the middle, -1 none.

    Triangle: all three internal angles within ``angle_tolerance`` of 60 degrees and the three sides
    equal within ``length_tolerance`` (relative). Linear, atom k in the middle: the angle at k within
    ``angle_tolerance`` of 180 degrees and the two bonds to k equal within ``length_tolerance``.
    """
    r = ljat3_distances(x)
    r12 = r[0]
    r13 = r[1]
    r23 = r[2]
    if r12 == 0.0 or r13 == 0.0 or r23 == 0.0:
        return UNCLASSIFIED
    # internal angles by the law of cosines (clipped: round-off can leave |cos| a hair above 1)
    cos1 = min(1.0, max(-1.0, (r12 * r12 + r13 * r13 - r23 * r23) / (2.0 * r12 * r13)))
    cos2 = min(1.0, max(-1.0, (r12 * r12 + r23 * r23 - r13 * r13) / (2.0 * r12 * r23)))
    cos3 = min(1.0, max(-1.0, (r13 * r13 + r23 * r23 - r12 * r12) / (2.0 * r13 * r23)))
    t1 = np.arccos(cos1)
    t2 = np.arccos(cos2)
    t3 = np.arccos(cos3)
    third = np.pi / 3.0
    if abs(t1 - third) < angle_tolerance and abs(t2 - third) < angle_tolerance and abs(t3 - third) < angle_tolerance:
        longest = max(r12, max(r13, r23))
        shortest = min(r12, min(r13, r23))
        if longest - shortest < length_tolerance * shortest:
            return 0
        return UNCLASSIFIED
    if np.pi - t1 < angle_tolerance and abs(r12 - r13) < length_tolerance * min(r12, r13):
        return 1
    if np.pi - t2 < angle_tolerance and abs(r12 - r23) < length_tolerance * min(r12, r23):
        return 2
    if np.pi - t3 < angle_tolerance and abs(r13 - r23) < length_tolerance * min(r13, r23):
        return 3
    return UNCLASSIFIED


class LJAT3System(System):
    """The LJAT3 cluster as a :class:`System` of 9 Cartesian coordinates."""

    n_dof = N_DOF
    kernel = staticmethod(ljat3_energy_gradient)

    def __init__(self, z: float = 2.0) -> None:
        self.z = float(z)
        self.kernel_args = (self.z,)

    def energy_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        x = _coordinates(x)
        gradient = np.empty(N_DOF)
        energy = ljat3_energy_gradient(x, gradient, self.z)
        return energy, gradient

    def energy(self, x: np.ndarray) -> float:
        return ljat3_energy(_coordinates(x), self.z)

    def classify(self, x: np.ndarray) -> int:
        return int(ljat3_classify(_coordinates(x)))


def _coordinates(x: np.ndarray) -> np.ndarray:
    """A contiguous float64 9-vector (the kernels do not check bounds)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.shape != (N_DOF,):
        raise LflError(f"LJAT3 coordinates must be a flat vector of {N_DOF} numbers, got shape {x.shape}")
    return x
