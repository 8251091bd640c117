"""The outcome of one local optimisation, in the style of ``scipy.optimize.OptimizeResult``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class OptimizeResult:
    x: np.ndarray
    energy: float
    gradient: np.ndarray
    rms_gradient: float
    nit: int
    nfev: int
    success: bool
    message: str
    n_resets: int = 0  # how often the L-BFGS memory was thrown away (diagnostic)
    nhev: int = 0  # exact Hessians evaluated (the preconditioned network quench)

    @property
    def fun(self) -> float:
        return self.energy

    @property
    def jac(self) -> np.ndarray:
        return self.gradient
