"""Eve's global coefficient ``d_tilde``: pure math, no framework.

Eve (Hayashi, Koushik, Neubig, https://arxiv.org/abs/1611.01505) divides Adam's learning rate by one
coefficient computed from the loss alone. Two versions were published:

Final version (the default; ``final_update``), with clip constant ``c`` and known minimum
``f_star``::

    t = 1:  d_tilde_1 = 1
    t > 1:  d_t       = |f_t - f_{t-1}| / |min(f_t, f_{t-1}) - f_star|
            d_hat_t   = clip(d_t, 1/c, c)
            d_tilde_t = beta3 d_tilde_{t-1} + (1 - beta3) d_hat_t

First version (2016, "Improving Stochastic Gradient Descent with Feedback"; ``first_update``), with
thresholds ``k <= K`` on a smoothed loss ``f_hat`` (the corrected branch, not the printed typo)::

    t = 1:  f_hat_1 = f_1,  d_1 = 1
    t > 1:  lo, hi  = (k + 1, K + 1)            if f_t > f_hat_{t-1}   (loss went up)
                    = (1 / (K + 1), 1 / (k + 1)) otherwise
            f_hat_t = clip(f_t / f_hat_{t-1}, lo, hi) * f_hat_{t-1}
            r_t     = |f_hat_t - f_hat_{t-1}| / min(f_hat_t, f_hat_{t-1})
            d_t     = beta3 d_{t-1} + (1 - beta3) r_t

Edge cases, decided once for every port (SPEC.md):

1. A zero denominator distance gives ``d_hat = 1`` when the numerator is 0 too, else ``c``.
2. A loss below ``f_star`` is flagged (``LossEvent.BELOW_F_STAR``) and then used with rule 1.
3. A non-finite loss (and, for the first version, a loss <= 0) is skipped: ``d_tilde``, the previous
   loss and the step count keep their values. ``d_tilde`` never becomes NaN.
4. The first usable loss only initialises the previous loss; ``d_tilde`` stays 1.
5. A missing loss (``None``) is skipped like rule 3 and flagged ``LossEvent.MISSING``.

In the final version, ``d_tilde`` (a convex combination of 1 and values in ``[1/c, c]``) is
clamped to ``[1/c, c]``: this only removes rounding beyond the range, and makes ``c = 1`` give
exactly ``d_tilde = 1``, so Eve with ``c = 1`` is Adam bit for bit.

Two implementations of the final rule live here: ``final_update`` on Python floats (about a
microsecond, with events for warnings), and ``final_update_arrays`` over an array namespace
(NumPy, torch, jax.numpy) with no data-dependent Python branching, for device-resident state.
"""

from __future__ import annotations

import enum
import math
import numbers
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "FINAL_DEFAULTS",
    "FIRST_DEFAULTS",
    "FeedbackState",
    "FeedbackUpdate",
    "LossEvent",
    "final_update",
    "final_update_arrays",
    "first_update",
    "validate_final_hyperparameters",
    "validate_first_hyperparameters",
]


@dataclass(frozen=True)
class FinalDefaults:
    """Default hyperparameters of the final version (SPEC.md)."""

    beta3: float = 0.999
    c: float = 10.0
    f_star: float = 0.0


@dataclass(frozen=True)
class FirstDefaults:
    """Default hyperparameters of the first (2016) version (SPEC.md)."""

    beta3: float = 0.999
    k: float = 0.1
    K: float = 10.0


FINAL_DEFAULTS = FinalDefaults()
FIRST_DEFAULTS = FirstDefaults()


class FeedbackState(NamedTuple):
    """The whole state of the feedback, shared by both versions.

    Attributes:
        d_tilde: the smoothed coefficient (1.0 before the second usable loss).
        prev_loss: the loss the next one is compared with: ``f_{t-1}`` in the final version, the
            smoothed ``f_hat_{t-1}`` in the first; ``None`` before the first usable loss.
        steps: how many losses the feedback has used (skipped losses do not count).
    """

    d_tilde: float = 1.0
    prev_loss: float | None = None
    steps: int = 0


class LossEvent(enum.Enum):
    """Why a loss was not used as given. The caller decides how to report it."""

    MISSING = "missing"
    NON_FINITE = "non-finite"
    NON_POSITIVE = "non-positive"
    BELOW_F_STAR = "below-f-star"


class FeedbackUpdate(NamedTuple):
    """The state after one loss, and the event it raised (``None`` for an ordinary loss)."""

    state: FeedbackState
    event: LossEvent | None


def validate_final_hyperparameters(beta3: float, c: float, f_star: float) -> None:
    """Raise ``ValueError`` naming the argument if a final-version hyperparameter is invalid."""
    _check_beta3(beta3)
    if not (_is_real(c) and c >= 1.0 and math.isfinite(c)):
        raise ValueError(f"Invalid c: {c!r}; the clip constant must be a finite number >= 1.")
    if not (_is_real(f_star) and math.isfinite(f_star)):
        raise ValueError(
            f"Invalid f_star: {f_star!r}; it must be a finite lower bound of the loss "
            "(0.0 for cross-entropy or squared error without regularisation)."
        )


def validate_first_hyperparameters(beta3: float, k: float, K: float) -> None:
    """Raise ``ValueError`` naming the argument if a first-version hyperparameter is invalid."""
    _check_beta3(beta3)
    if not (_is_real(k) and k >= 0.0 and math.isfinite(k)):
        raise ValueError(f"Invalid k: {k!r}; the lower threshold must be a finite number >= 0.")
    if not (_is_real(K) and k <= K and math.isfinite(K)):
        raise ValueError(f"Invalid K: {K!r}; the upper threshold must be finite and >= k ({k}).")


def _is_real(value: object) -> bool:
    """A real number (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_beta3(beta3: float) -> None:
    if not (_is_real(beta3) and 0.0 <= beta3 < 1.0):
        raise ValueError(f"Invalid beta3: {beta3!r}; it must satisfy 0 <= beta3 < 1.")


def final_update(
    state: FeedbackState,
    loss: float | None,
    *,
    beta3: float = FINAL_DEFAULTS.beta3,
    c: float = FINAL_DEFAULTS.c,
    f_star: float = FINAL_DEFAULTS.f_star,
) -> FeedbackUpdate:
    """Feed one loss to the final-version rule and return the new state.

    Args:
        state: the state after the previous step.
        loss: the loss ``f_t`` of this step, or ``None`` when the loop gave none.
        beta3: smoothing of ``d_tilde``.
        c: clip constant; ``d_hat`` stays within ``[1/c, c]``.
        f_star: the known minimum of the loss.

    Example:
        >>> state = FeedbackState()
        >>> for loss in [2.0, 1.5]:
        ...     state = final_update(state, loss).state
        >>> round(state.d_tilde, 12)
        0.999333333333
    """
    if loss is None:
        return FeedbackUpdate(state, LossEvent.MISSING)
    if not math.isfinite(loss):
        return FeedbackUpdate(state, LossEvent.NON_FINITE)
    event = LossEvent.BELOW_F_STAR if loss < f_star else None
    prev_loss = state.prev_loss
    if prev_loss is None:
        return FeedbackUpdate(FeedbackState(state.d_tilde, loss, state.steps + 1), event)
    d_hat = _clipped_relative_change(loss, prev_loss, c, f_star)
    d_tilde = min(max(beta3 * state.d_tilde + (1.0 - beta3) * d_hat, 1.0 / c), c)
    return FeedbackUpdate(FeedbackState(d_tilde, loss, state.steps + 1), event)


def _clipped_relative_change(loss: float, prev_loss: float, c: float, f_star: float) -> float:
    """``d_hat_t = clip(|f_t - f_{t-1}| / |min(f_t, f_{t-1}) - f_star|, 1/c, c)`` (rule 1)."""
    numerator = abs(loss - prev_loss)
    distance = abs(min(loss, prev_loss) - f_star)
    if distance == 0.0:
        return 1.0 if numerator == 0.0 else c
    ratio = numerator / distance
    if math.isnan(ratio):  # inf / inf: the losses overflow the float range apart; no information
        return 1.0
    return min(max(ratio, 1.0 / c), c)


def first_update(
    state: FeedbackState,
    loss: float | None,
    *,
    beta3: float = FIRST_DEFAULTS.beta3,
    k: float = FIRST_DEFAULTS.k,
    K: float = FIRST_DEFAULTS.K,
) -> FeedbackUpdate:
    """Feed one loss to the first-version (2016) rule and return the new state.

    ``state.prev_loss`` holds the smoothed loss ``f_hat``. This version assumes positive losses, so
    a loss <= 0 is skipped like a non-finite one (``LossEvent.NON_POSITIVE``).

    Example:
        >>> state = FeedbackState()
        >>> for loss in [2.0, 1.5, 1.6]:
        ...     state = first_update(state, loss).state
        >>> round(state.prev_loss, 12), round(state.d_tilde, 12)
        (1.65, 0.998434)
    """
    if loss is None:
        return FeedbackUpdate(state, LossEvent.MISSING)
    if not math.isfinite(loss):
        return FeedbackUpdate(state, LossEvent.NON_FINITE)
    if loss <= 0.0:
        return FeedbackUpdate(state, LossEvent.NON_POSITIVE)
    prev_smoothed = state.prev_loss
    if prev_smoothed is None:
        return FeedbackUpdate(FeedbackState(state.d_tilde, loss, state.steps + 1), None)
    if loss > prev_smoothed:
        lo, hi = k + 1.0, K + 1.0
    else:
        lo, hi = 1.0 / (K + 1.0), 1.0 / (k + 1.0)
    change = min(max(lo, loss / prev_smoothed), hi)
    smoothed = change * prev_smoothed
    relative_change = abs(smoothed - prev_smoothed) / min(smoothed, prev_smoothed)
    d_tilde = beta3 * state.d_tilde + (1.0 - beta3) * relative_change
    return FeedbackUpdate(FeedbackState(d_tilde, smoothed, state.steps + 1), None)


def final_update_arrays(
    d_tilde: Any,
    prev_loss: Any,
    steps: Any,
    loss: Any,
    *,
    beta3: float,
    c: float,
    f_star: float,
    xp: Any,
) -> tuple[Any, Any, Any]:
    """The final-version rule over arrays, branch-free, for state that lives on a device.

    ``xp`` is an array namespace with ``abs``, ``minimum``, ``clip``, ``where``, ``isfinite`` and
    ``nan_to_num``
    (``numpy``, ``torch``, ``jax.numpy``). ``d_tilde``, ``prev_loss`` and ``steps`` are 0-dim
    arrays; ``prev_loss`` is ignored while ``steps == 0``. Applies the same edge cases as
    ``final_update`` with ``where`` instead of branches and reports no events (reading a flag
    would need a host synchronisation). Returns the new ``(d_tilde, prev_loss, steps)``.

    Divisions by zero are part of the rule (``x / 0`` clips to ``c``, ``0 / 0`` becomes 1), so
    with NumPy call it under ``np.errstate(divide="ignore", invalid="ignore")``.

    Example:
        >>> import numpy as np
        >>> d, prev, steps = np.float64(1.0), np.float64(0.0), np.int64(0)
        >>> with np.errstate(divide="ignore", invalid="ignore"):
        ...     for loss in [2.0, 1.5]:
        ...         d, prev, steps = final_update_arrays(
        ...             d, prev, steps, np.float64(loss), beta3=0.999, c=10.0, f_star=0.0, xp=np)
        >>> round(float(d), 12)
        0.999333333333
    """
    finite = xp.isfinite(loss)
    numerator = xp.abs(loss - prev_loss)
    # No Python branch on f_star either: it may be a traced array (e.g. optax.inject_hyperparams).
    distance = xp.abs(xp.minimum(loss, prev_loss) - f_star)
    # Rule 1 without a branch: x / 0 is inf (clipped to c) and 0 / 0 is NaN, which becomes 1.
    d_hat = xp.clip(xp.nan_to_num(numerator / distance, nan=1.0), 1.0 / c, c)
    smoothed = xp.clip(beta3 * d_tilde + (1.0 - beta3) * d_hat, 1.0 / c, c)
    use = finite & (steps > 0)
    new_d_tilde = xp.where(use, smoothed, d_tilde)
    new_prev_loss = xp.where(finite, loss, prev_loss)
    new_steps = steps + finite
    return new_d_tilde, new_prev_loss, new_steps
