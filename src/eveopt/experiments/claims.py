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
    "thresholds_text",
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


def thresholds_text() -> str:
    """The thresholds above in words, as reports state them.

    Example:
        >>> print(thresholds_text())  # doctest: +NORMALIZE_WHITESPACE
        "much lower" >= 2x, "similar" <= 1.25x, "slightly worse" <= 1.10x, "varies a lot" >= 2x,
        "almost all" >= 90%, "close to the best" <= 2x; final losses within 1e-3 of each other
        (relative) are ties
    """
    return (
        f'"much lower" >= {MUCH_LOWER:g}x, "similar" <= {SIMILAR_SPREAD:g}x, '
        f'"slightly worse" <= {SLIGHTLY_WORSE:.2f}x, "varies a lot" >= {VARIES_A_LOT:g}x, '
        f'"almost all" >= {ALMOST_ALL:.0%}, "close to the best" <= {CLOSE_TO_BEST:g}x; final '
        f"losses within {TIE:.0e} of each other (relative) are ties".replace("e-0", "e-")
    )


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


def _times(ratio: float, digits: int = 2) -> str:
    """A ratio as text: ``2.50x``, or the words for the unbounded ratio a loss of 0 gives.

    Example:
        >>> _times(2.5), _times(math.inf)
        ('2.50x', 'unboundedly many times (a final loss of 0)')
    """
    if math.isinf(ratio):
        return "unboundedly many times (a final loss of 0)"
    return f"{ratio:.{digits}f}x"


def _ratio(value: float, other: float) -> float:
    """``value / other`` for non-negative losses, with ``x / 0`` as ``inf`` and ``0 / 0`` as 1.

    Example:
        >>> _ratio(0.02, 0.01), _ratio(0.01, 0.0), _ratio(0.0, 0.0)
        (2.0, inf, 1.0)
    """
    if other > 0:
        return value / other
    return 1.0 if value == other else math.inf


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
    rivals = [name for name in finals if name != "eve"]
    if "eve" not in finals or not rivals:
        return Verdict(NOT_TESTED, "needs Eve and at least one other optimizer")
    if not _finite(eve):
        return Verdict(NOT_SUPPORTED, "every Eve run diverged")
    others = {name: float(v) for name, v in finals.items() if name in rivals and _finite(v)}
    if not others:
        parts = [f"Eve ends at {eve:.4g}; every other optimizer diverged at every lr"]
        lowest, margin = True, math.inf
    else:
        runner_up = min(others, key=lambda name: others[name])
        runner_up_loss, runner_up_label = others[runner_up], labels.get(runner_up, runner_up)
        rank = 1 + sum(1 for value in others.values() if _below(value, eve))
        parts = [f"Eve ranks {rank} of {len(rivals) + 1} (ties share a rank) with {eve:.4g}"]
        lowest = _below(eve, runner_up_loss)
        margin = _ratio(runner_up_loss, eve)
        if lowest:
            parts.append(
                f"the runner-up {runner_up_label} ends at {runner_up_loss:.4g}, "
                f"{_times(margin, 3)} Eve's (much lower: >= {MUCH_LOWER:g}x)"
            )
        elif _below(runner_up_loss, eve):
            parts.append(f"{runner_up_label} ends lowest at {runner_up_loss:.4g}")
        else:
            parts.append(
                f"it ties with {runner_up_label} ({runner_up_loss:.4g}; a tie: "
                f"within {TIE:g} relative)"
            )
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
    spread = _ratio(max(finished.values()), min(finished.values()))
    similar = spread <= SIMILAR_SPREAD and len(finished) == len(finals)
    parts = [
        f"the best final losses span {_times(spread)} (similar: <= {SIMILAR_SPREAD:g}x"
        + ("" if len(finished) == len(finals) else "; some optimizers diverged at every lr")
        + ")"
    ]
    slightly_worse = []
    compared = [name for name in ("adam", "adamax") if name in finished]
    for name in compared:
        ratio = _ratio(finished["eve"], finished[name])
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
    All three: supported; some: partly. ``adam`` of ``None`` (constant Adam diverged at every
    lr) leaves a gap that any finite decayed run closes; a policy that ends finite at one k and
    diverges at another varies a lot.

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
    # "The gap" is constant Adam's lag behind Eve: without one there is nothing to close. A
    # constant Adam that diverged at every lr (``None``) lags by the most there is.
    if _finite(adam):
        gap = _below(eve, adam)
        closes = gap and _below(best_decayed, adam)
        adam_text = f"constant Adam {adam:.4g}"
    else:
        gap = closes = True
        adam_text = "constant Adam, which diverged at every lr"
    if not gap:
        gap_text = "no gap to close: Eve does not end below constant Adam"
    else:
        gap_text = f"{'closes' if closes else 'does not close'} some of the gap"
    parts = [f"best decayed Adam {best_decayed:.4g} vs {adam_text} ({gap_text})"]
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
    spans: dict[str, float] = {}
    span_texts, divergence_texts = [], []
    for policy, by_k in decayed.items():
        if len(by_k) < 2:
            continue
        values = [float(value) for value in by_k.values() if _finite(value)]
        lost = sorted(k for k, value in by_k.items() if not _finite(value))
        if not values:
            divergence_texts.append(f"with {policy} decay Adam diverged at every k")
        elif lost:
            # Converging at one k and diverging at another is the widest variation there is.
            spans[policy] = math.inf
            divergence_texts.append(
                f"with {policy} decay Adam diverged at k {', '.join(f'{k:g}' for k in lost)} "
                "and ended finite at the other k (varies a lot)"
            )
        else:
            spans[policy] = _ratio(max(values), min(values))
            span_texts.append(f"{_times(spans[policy])} ({policy})")
    varies = any(span >= VARIES_A_LOT for span in spans.values())
    if span_texts:
        parts.append(
            "Adam's final loss across k spans "
            + ", ".join(span_texts)
            + f" (a lot: >= {VARIES_A_LOT:g}x)"
        )
    parts.extend(divergence_texts)
    if not span_texts and not divergence_texts:
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
        ratio = _ratio(default, finite[best_pair])
        close = ratio <= CLOSE_TO_BEST
        parts.append(
            f"the defaults end at {default:.4g}, rank {rank} of the {len(pairs)} pairs, "
            f"{_times(ratio)} the "
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
