"""The paper's four claims as tests on final losses (and curves), with explicit thresholds.

Hayashi, Koushik, Neubig, arXiv 1611.01505 (``../shared/PAPER.md``) claims:

1. (experiment 1, CIFAR-100 ResNet) "Eve surpasses the others quickly and ends with a much
   lower loss."
2. (experiment 2, PTB character GRU) "All optimizers perform similarly; Eve slightly worse than
   Adam and Adamax."
3. (experiment 3) "Decay closes some of the gap but Eve converges faster; Adam's result varies a
   lot with g."
4. (experiment 4) "For almost all settings Eve beats Adam; the defaults (0.999, 10) are close to
   the best."

Words like "much lower" and "almost all" need numbers to be checked; each function states the
thresholds it uses (module constants) in the verdict it returns, so a report reader can judge
them. The same functions check the paper's own logged numbers, for calibration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeGuard

__all__ = [
    "ALMOST_ALL",
    "CLAIMS",
    "CLOSE_TO_BEST",
    "EVE_DEFAULTS",
    "MUCH_LOWER",
    "SIMILAR_SPREAD",
    "SLIGHTLY_WORSE",
    "TIE",
    "VARIES_A_LOT",
    "Verdict",
    "check_decay",
    "check_eve_wins",
    "check_rnn_similar",
    "check_sensitivity",
]

CLAIMS: Mapping[int, str] = {
    1: "Eve surpasses the others quickly and ends with a much lower loss",
    2: "all optimizers perform similarly; Eve slightly worse than Adam and Adamax",
    3: "decay closes some of the gap but Eve converges faster; Adam's result varies a lot with g",
    4: "for almost all settings Eve beats Adam; the defaults (0.999, 10) are close to the best",
}
EVE_DEFAULTS = (0.999, 10.0)
"""Eve's default (beta3, c): the pair claim 4 is about."""
MUCH_LOWER = 2.0
"""Claim 1: the runner-up's final loss is at least this many times Eve's."""
SIMILAR_SPREAD = 1.25
"""Claim 2: the worst best final loss is at most this many times the best one."""
SLIGHTLY_WORSE = 1.10
"""Claim 2: Eve's final loss is above Adam's (Adamax's) by a factor up to this."""
VARIES_A_LOT = 2.0
"""Claim 3: Adam's final losses across the decay strengths k span this factor or more."""
ALMOST_ALL = 0.9
"""Claim 4: at least this fraction of the (beta3, c) pairs ends below Adam."""
CLOSE_TO_BEST = 2.0
"""Claim 4: the defaults' final loss is at most this many times the best pair's."""
TIE = 1e-3
"""Final losses within this relative difference are a tie: neither is below the other.

Runs that differ by rounding (two optimizers that coincide for a few steps, or kernels that
round differently) must not decide a verdict."""

SUPPORTED = "supported"
PARTLY = "partly supported"
NOT_SUPPORTED = "not supported"
NOT_TESTED = "not tested"

Finals = Mapping[str, float | None]
"""Final loss per optimizer (or variant) at its best lr; ``None``: every run diverged."""


@dataclass(frozen=True)
class Verdict:
    """Whether numbers support a claim: ``supported``, ``partly supported``, ``not supported``
    or ``not tested``, and the measurements behind it in one sentence."""

    status: str
    details: str


def _below(value: float, other: float) -> bool:
    """``value`` is below ``other`` by more than a :data:`TIE`."""
    return value < other and (other - value) > TIE * abs(other)


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


def _stays_lowest_from(curves: Mapping[str, Sequence[float]], name: str) -> int | None:
    """The first epoch (1-based) from which ``name``'s curve is the lowest to the end."""
    own = curves[name]
    others = [curve for key, curve in curves.items() if key != name]
    since: int | None = None
    for epoch in range(1, len(own)):
        lowest = all(
            epoch < len(curve) and (not _finite(curve[epoch]) or _below(own[epoch], curve[epoch]))
            for curve in others
        ) and _finite(own[epoch])
        if lowest and since is None:
            since = epoch
        elif not lowest:
            since = None
    return since


def check_eve_wins(
    finals: Finals,
    labels: Mapping[str, str],
    curves: Mapping[str, Sequence[float]] | None = None,
) -> Verdict:
    """Claim 1: Eve ends lowest, by :data:`MUCH_LOWER` or more, and is lowest from mid-run on.

    ``curves`` (the initial loss then each epoch's, per optimizer's best run) are optional:
    without them "quickly" is not checked.

    Example:
        >>> check_eve_wins({"eve": 0.001, "adam": 0.01}, {"eve": "Eve", "adam": "Adam"}).status
        'supported'
    """
    eve = finals.get("eve")
    others = {name: value for name, value in finals.items() if name != "eve" and _finite(value)}
    if "eve" not in finals or not others:
        return Verdict(NOT_TESTED, "needs Eve and at least one other optimizer")
    if not _finite(eve):
        return Verdict(NOT_SUPPORTED, "every Eve run diverged")
    assert eve is not None
    runner_up = min(others, key=lambda name: float(others[name] or math.inf))
    runner_up_loss = float(others[runner_up] or math.inf)
    rank = 1 + sum(1 for value in others.values() if _below(float(value or math.inf), eve))
    parts = [f"Eve ranks {rank} of {len(others) + 1} (ties share a rank) with {eve:.4g}"]
    lowest = _below(eve, runner_up_loss)
    margin = runner_up_loss / eve if eve > 0 else math.inf
    if not lowest and not _below(runner_up_loss, eve):
        parts.append(
            f"it ties with {labels.get(runner_up, runner_up)} ({runner_up_loss:.4g}; a tie: "
            f"within {TIE:g} relative)"
        )
    elif lowest:
        parts.append(
            f"the runner-up {labels.get(runner_up, runner_up)} ends at {runner_up_loss:.4g}, "
            f"{margin:.3f}x Eve's (much lower: >= {MUCH_LOWER:g}x)"
        )
    else:
        parts.append(f"{labels.get(runner_up, runner_up)} ends lowest at {runner_up_loss:.4g}")
    quick = True
    if curves is not None and "eve" in curves:
        epochs = len(curves["eve"]) - 1
        since = _stays_lowest_from(curves, "eve")
        quick = since is not None and since <= max(1, epochs // 2)
        parts.append(
            f"Eve's curve is the lowest from epoch {since} of {epochs} on"
            if since is not None
            else "Eve's curve is not the lowest at the end"
        )
    if lowest and margin >= MUCH_LOWER and quick:
        status = SUPPORTED
    elif lowest:
        status = PARTLY
    else:
        status = NOT_SUPPORTED
    return Verdict(status, "; ".join(parts))


def check_rnn_similar(finals: Finals, labels: Mapping[str, str]) -> Verdict:
    """Claim 2: best final losses within :data:`SIMILAR_SPREAD`; Eve above Adam and Adamax by
    at most :data:`SLIGHTLY_WORSE`.

    Example:
        >>> check_rnn_similar({"eve": 1.02, "adam": 1.0, "adamax": 1.0}, {}).status
        'supported'
    """
    finished = {name: float(value) for name, value in finals.items() if _finite(value)}
    if len(finished) < 2 or "eve" not in finished:
        return Verdict(NOT_TESTED, "needs Eve and at least one other optimizer with a finite loss")
    spread = max(finished.values()) / min(finished.values())
    similar = spread <= SIMILAR_SPREAD and len(finished) == len(finals)
    parts = [
        f"the best final losses span {spread:.2f}x (similar: <= {SIMILAR_SPREAD:g}x"
        + ("" if len(finished) == len(finals) else "; some optimizers diverged at every lr")
        + ")"
    ]
    slightly_worse = []
    compared = [name for name in ("adam", "adamax") if name in finished]
    for name in compared:
        ratio = finished["eve"] / finished[name]
        slightly_worse.append(_below(finished[name], finished["eve"]) and ratio <= SLIGHTLY_WORSE)
        parts.append(f"Eve/{labels.get(name, name)} = {ratio:.4f}")
    if compared:
        parts[-1] += f" (slightly worse: in (1 + {TIE:g}, {SLIGHTLY_WORSE:g}])"
    if len(compared) < 2:
        parts.append('Adam and Adamax were not both run: "slightly worse" is not fully tested')
    both = len(compared) == 2 and all(slightly_worse)
    if similar and both:
        status = SUPPORTED
    elif similar or any(slightly_worse):
        status = PARTLY
    else:
        status = NOT_SUPPORTED
    return Verdict(status, "; ".join(parts))


def check_decay(
    eve: float | None,
    adam: float | None,
    decayed: Mapping[str, Mapping[float, float | None]],
    curves: Mapping[str, Sequence[float]] | None = None,
) -> Verdict:
    """Claim 3 from Eve's, constant Adam's and each policy's final loss per k (best lrs).

    Three sub-claims: Eve ends below constant Adam and the best decayed Adam does too (decay
    closes some of the gap, which needs a gap); Eve converges faster: with ``curves`` (the
    initial loss then each epoch's, of ``"eve"`` and ``"decayed"``, the best decayed run), Eve's
    curve is below it at more than half of the epochs, without them Eve ends below it; some
    policy's final losses across k span :data:`VARIES_A_LOT` or more (varies a lot with g).
    All three: supported; some: partly.

    Example:
        >>> check_decay(0.001, 0.02, {"exponential": {10.0: 0.005, 1e4: 0.05}}).status
        'supported'
    """
    best_decayed = min(
        (float(value) for by_k in decayed.values() for value in by_k.values() if _finite(value)),
        default=math.nan,
    )
    if not (_finite(eve) and math.isfinite(best_decayed)):
        return Verdict(NOT_TESTED, "needs a finite Eve run and a finite decayed Adam run")
    assert eve is not None
    parts = []
    # "The gap" is constant Adam's lag behind Eve: without one there is nothing to close.
    gap = _finite(adam) and _below(eve, float(adam or math.inf))
    closes = gap and _below(best_decayed, float(adam or math.inf))
    parts.append(
        f"best decayed Adam {best_decayed:.4g} vs constant Adam "
        + (f"{float(adam):.4g}" if _finite(adam) and adam is not None else "(none)")
        + (
            f" ({'closes' if closes else 'does not close'} some of the gap)"
            if gap
            else " (no gap to close: Eve does not end below constant Adam)"
        )
    )
    final_lower = _below(eve, best_decayed)
    parts.append(f"Eve ends at {eve:.4g} ({'below' if final_lower else 'not below'} it)")
    if curves is not None and "eve" in curves and "decayed" in curves:
        pairs = list(zip(curves["eve"][1:], curves["decayed"][1:], strict=False))
        below = sum(
            1 for own, other in pairs if _finite(own) and (not _finite(other) or _below(own, other))
        )
        faster = below * 2 > len(pairs)
        parts.append(
            f"Eve's curve is below the best decayed Adam's at {below} of {len(pairs)} epochs "
            f"(faster: more than half)"
        )
    else:
        faster = final_lower
        parts.append('no curves: "faster" judged on the final loss')
    spans = {}
    for policy, by_k in decayed.items():
        values = [float(value) for value in by_k.values() if _finite(value)]
        if len(by_k) >= 2:
            diverged = len(values) < len(by_k)
            spans[policy] = math.inf if diverged or not values else max(values) / min(values)
    varies = any(span >= VARIES_A_LOT for span in spans.values())
    if spans:
        parts.append(
            "Adam's final loss across k spans "
            + ", ".join(f"{span:.2f}x ({policy})" for policy, span in spans.items())
            + f" (a lot: >= {VARIES_A_LOT:g}x)"
        )
    else:
        parts.append("one k per policy: variation with g not tested")
    held = [faster, closes, varies].count(True)
    status = SUPPORTED if held == 3 else PARTLY if held else NOT_SUPPORTED
    return Verdict(status, "; ".join(parts))


def check_sensitivity(
    pairs: Mapping[tuple[float, float], float | None],
    adam: float | None,
    default_pair: tuple[float, float] = EVE_DEFAULTS,
) -> Verdict:
    """Claim 4 from each (beta3, c) pair's final loss at its best lr and Adam's.

    Sub-claims: at least :data:`ALMOST_ALL` of the pairs end below Adam (a diverged pair does
    not); the defaults' final loss is at most :data:`CLOSE_TO_BEST` times the best pair's
    (tested only when another pair finished: the defaults alone are trivially the best).

    Example:
        >>> check_sensitivity({(0.999, 10.0): 0.01, (0.9, 10.0): 0.008}, 0.05).status
        'supported'
    """
    if not pairs or not _finite(adam):
        return Verdict(NOT_TESTED, "needs (beta3, c) runs and a finite Adam run")
    assert adam is not None
    beating = sum(1 for value in pairs.values() if _finite(value) and _below(value, adam))
    fraction = beating / len(pairs)
    almost_all = fraction >= ALMOST_ALL
    parts = [
        f"{beating} of {len(pairs)} pairs end below Adam's {adam:.4g} by more than a tie "
        f"(almost all: >= {ALMOST_ALL:.0%})"
    ]
    finite = {pair: float(value) for pair, value in pairs.items() if _finite(value)}
    default = pairs.get(default_pair)
    close: bool | None = None
    if default_pair not in pairs:
        parts.append(f"the defaults {default_pair} are not in the grid")
    elif not _finite(default) or not finite:
        close = False
        parts.append("the defaults diverged")
    elif len(finite) < 2:
        parts.append('one (beta3, c) pair: "close to the best" not tested')
    else:
        assert default is not None
        best_pair = min(finite, key=lambda pair: finite[pair])
        rank = 1 + sum(1 for value in finite.values() if value < default)
        ratio = default / finite[best_pair] if finite[best_pair] > 0 else math.inf
        close = ratio <= CLOSE_TO_BEST
        parts.append(
            f"the defaults end at {default:.4g}, rank {rank} of {len(pairs)}, {ratio:.2f}x the "
            f"best pair (beta3 {best_pair[0]:g}, c {best_pair[1]:g}: {finite[best_pair]:.4g}; "
            f"close: <= {CLOSE_TO_BEST:g}x)"
        )
    if almost_all and close:
        status = SUPPORTED
    elif almost_all or close:
        status = PARTLY
    else:
        status = NOT_SUPPORTED
    return Verdict(status, "; ".join(parts))
