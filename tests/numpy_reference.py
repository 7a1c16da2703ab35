"""An independent NumPy implementation of Eve, written from the paper (not from eveopt).

Used by the tests as a reference trajectory. Float64 throughout; one parameter vector.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


class NumpyEve:
    """Algorithm 1 of arXiv:1611.01505 (final version), with the SPEC.md edge cases it needs."""

    def __init__(
        self,
        theta: Array,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        beta3: float = 0.999,
        c: float = 10.0,
        eps: float = 1e-8,
        f_star: float = 0.0,
    ) -> None:
        self.theta = theta.astype(np.float64).copy()
        self.lr, self.beta1, self.beta2, self.beta3 = lr, beta1, beta2, beta3
        self.c, self.eps, self.f_star = c, eps, f_star
        self.m = np.zeros_like(self.theta)
        self.v = np.zeros_like(self.theta)
        self.t = 0
        self.d = 1.0
        self.f_prev: float | None = None

    def coefficient(self, f: float) -> float:
        if self.f_prev is not None:
            num = abs(f - self.f_prev)
            den = abs(min(f, self.f_prev) - self.f_star)
            d_hat = (
                (1.0 if num == 0 else self.c)
                if den == 0
                else np.clip(num / den, 1 / self.c, self.c)
            )
            self.d = self.beta3 * self.d + (1 - self.beta3) * float(d_hat)
        self.f_prev = f
        return self.d

    def moments(self, g: Array) -> tuple[Array, Array]:
        """Adam's bias-corrected moments after gradient g (t already advanced)."""
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        return self.m / (1 - self.beta1**self.t), self.v / (1 - self.beta2**self.t)

    def step(self, f: float, g: Array) -> None:
        self.t += 1
        d = self.coefficient(f)
        m_hat, v_hat = self.moments(g)
        self.theta = self.theta - (self.lr / d) * m_hat / (np.sqrt(v_hat) + self.eps)


class NumpyEve2016(NumpyEve):
    """The first version: thresholds k, K on a smoothed loss; d multiplies sqrt(v_hat) only."""

    def __init__(self, theta: Array, lr: float = 1e-3, k: float = 0.1, K: float = 10.0) -> None:
        super().__init__(theta, lr=lr)
        self.k, self.K = k, K
        self.f_hat: float | None = None

    def coefficient(self, f: float) -> float:
        if self.f_hat is None:
            self.f_hat = f
            return self.d
        if f > self.f_hat:
            delta, Delta = self.k + 1, self.K + 1
        else:
            delta, Delta = 1 / (self.K + 1), 1 / (self.k + 1)
        c_t = min(max(delta, f / self.f_hat), Delta)
        f_hat_new = c_t * self.f_hat
        r = abs(f_hat_new - self.f_hat) / min(f_hat_new, self.f_hat)
        self.d = self.beta3 * self.d + (1 - self.beta3) * r
        self.f_hat = f_hat_new
        return self.d

    def step(self, f: float, g: Array) -> None:
        self.t += 1
        d = self.coefficient(f)
        m_hat, v_hat = self.moments(g)
        self.theta = self.theta - self.lr * m_hat / (d * np.sqrt(v_hat) + self.eps)
