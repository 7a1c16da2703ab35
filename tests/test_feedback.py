"""The feedback rules against every reference value of SPEC.md, on floats and on arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eveopt.feedback import (
    FeedbackState,
    LossEvent,
    final_update,
    final_update_arrays,
    first_update,
    validate_final_hyperparameters,
    validate_first_hyperparameters,
)

REL = 1e-10
SPEC_LOSSES = [2.0, 1.5, 1.6, 1.2]


def run_final(losses: list[float], **hyper: float) -> tuple[list[float], list[LossEvent | None]]:
    state = FeedbackState()
    d_tildes, events = [], []
    for loss in losses:
        state, event = final_update(state, loss, **hyper)
        d_tildes.append(state.d_tilde)
        events.append(event)
    return d_tildes, events


def run_final_arrays(losses: list[float], **hyper: float) -> list[float]:
    params = {"beta3": 0.999, "c": 10.0, "f_star": 0.0, **hyper}
    d_tilde, prev_loss, steps = np.float64(1.0), np.float64(0.0), np.int64(0)
    d_tildes = []
    for loss in losses:
        d_tilde, prev_loss, steps = final_update_arrays(
            d_tilde, prev_loss, steps, np.float64(loss), xp=np, **params
        )
        d_tildes.append(float(d_tilde))
    return d_tildes


FINAL_CASES = [
    pytest.param(SPEC_LOSSES, {}, [1, 0.99933333333333, 0.998434, 0.99776889933333], id="defaults"),
    pytest.param(
        SPEC_LOSSES, {"beta3": 0.9}, [1, 0.93333333333333, 0.85, 0.79833333333333], id="beta3=0.9"
    ),
    pytest.param([1.0, 1.0, 1.0], {}, [1, 0.9991, 0.9982009], id="identical-losses"),
    pytest.param([0.0, 0.0], {}, [1, 1.0], id="zero-distance-no-change"),
    pytest.param([1.0, 0.0], {}, [1, 1.009], id="zero-distance-change-gives-c"),
    pytest.param(
        [2.0, 0.5, 0.4], {"f_star": 1.0}, [1, 1.002, 1.0011646666667], id="loss-below-f-star"
    ),
    pytest.param([2.0, math.nan, 1.5], {}, [1, 1, 0.99933333333333], id="nan-skipped"),
    pytest.param(
        [2.0, math.inf, -math.inf, 1.5], {}, [1, 1, 1, 0.99933333333333], id="inf-skipped"
    ),
]


@pytest.mark.parametrize(("losses", "hyper", "expected"), FINAL_CASES)
def test_final_rule_reproduces_spec_values(
    losses: list[float], hyper: dict[str, float], expected: list[float]
) -> None:
    d_tildes, _ = run_final(losses, **hyper)
    assert d_tildes == pytest.approx(expected, rel=REL)


@pytest.mark.parametrize(("losses", "hyper", "expected"), FINAL_CASES)
def test_array_rule_reproduces_spec_values(
    losses: list[float], hyper: dict[str, float], expected: list[float]
) -> None:
    with np.errstate(invalid="ignore", divide="ignore"):
        d_tildes = run_final_arrays(losses, **hyper)
    assert d_tildes == pytest.approx(expected, rel=REL)


def test_final_rule_is_scale_invariant() -> None:
    base, _ = run_final(SPEC_LOSSES)
    scaled, _ = run_final([100 * loss for loss in SPEC_LOSSES])
    shifted, _ = run_final([loss + 100 for loss in SPEC_LOSSES], f_star=100.0)
    assert scaled == pytest.approx(base, rel=REL)
    assert shifted == pytest.approx(base, rel=REL)


def test_final_rule_reports_events_and_keeps_state_on_skips() -> None:
    state = FeedbackState(d_tilde=0.5, prev_loss=2.0, steps=7)
    for loss, event in [(None, LossEvent.MISSING), (math.nan, LossEvent.NON_FINITE)]:
        update = final_update(state, loss)
        assert update.state == state
        assert update.event is event
    below = final_update(FeedbackState(), 0.5, f_star=1.0)
    assert below.event is LossEvent.BELOW_F_STAR
    assert below.state == FeedbackState(1.0, 0.5, 1)


def test_first_loss_only_initialises_whatever_its_size() -> None:
    for loss in [-1e30, 0.0, 3.0, 1e300]:
        state = final_update(FeedbackState(), loss).state
        assert state == FeedbackState(1.0, loss, 1)


def test_c_equal_one_leaves_d_tilde_exactly_one() -> None:
    d_tildes, _ = run_final([5.0, 0.1, 7.0, 7.0, 0.0, 3.0], c=1.0)
    assert d_tildes == [1.0] * 6


def test_d_tilde_stays_within_clip_range_on_extreme_losses() -> None:
    losses = [1e308, -1e308, 1e-320, 0.0, 5e-324, 1e308, 1.0]
    d_tildes, _ = run_final(losses, beta3=0.0, c=10.0, f_star=-1e308)
    assert all(0.1 <= d <= 10.0 for d in d_tildes)
    with np.errstate(all="ignore"):
        array_d = run_final_arrays(losses, beta3=0.0, c=10.0, f_star=-1e308)
    assert array_d == pytest.approx(d_tildes, rel=REL)


def run_first(losses: list[float], **hyper: float) -> list[FeedbackState]:
    state = FeedbackState()
    states = []
    for loss in losses:
        state = first_update(state, loss, **hyper).state
        states.append(state)
    return states


def test_first_version_reproduces_spec_values() -> None:
    states = run_first(SPEC_LOSSES, beta3=0.999, k=0.1, K=10.0)
    assert [s.d_tilde for s in states] == pytest.approx(
        [1, 0.99933333333333, 0.998434, 0.997810566], rel=REL
    )
    assert [s.prev_loss for s in states] == pytest.approx([2, 1.5, 1.65, 1.2], rel=REL)
    equal = run_first([1.0, 1.0])
    assert equal[1].d_tilde == pytest.approx(0.9991, rel=REL)
    assert equal[1].prev_loss == pytest.approx(0.909090909091, rel=1e-11)


def test_first_version_is_not_the_printed_typo() -> None:
    typo = [1, 0.9991, 0.9982009, 0.9973026991]
    d = [s.d_tilde for s in run_first(SPEC_LOSSES)]
    assert d[2] != pytest.approx(typo[2], rel=1e-6)


def test_first_version_skips_non_positive_and_non_finite_losses() -> None:
    state = FeedbackState(0.8, 1.5, 3)
    assert first_update(state, 0.0) == (state, LossEvent.NON_POSITIVE)
    assert first_update(state, -2.0) == (state, LossEvent.NON_POSITIVE)
    assert first_update(state, math.inf) == (state, LossEvent.NON_FINITE)
    assert first_update(state, None) == (state, LossEvent.MISSING)


@pytest.mark.parametrize(
    ("hyper", "name"),
    [
        ({"beta3": 1.0, "c": 10.0, "f_star": 0.0}, "beta3"),
        ({"beta3": -0.1, "c": 10.0, "f_star": 0.0}, "beta3"),
        ({"beta3": 0.9, "c": 0.5, "f_star": 0.0}, "c"),
        ({"beta3": 0.9, "c": math.inf, "f_star": 0.0}, "c"),
        ({"beta3": 0.9, "c": 10.0, "f_star": math.nan}, "f_star"),
    ],
)
def test_invalid_final_hyperparameters_name_the_argument(
    hyper: dict[str, float], name: str
) -> None:
    with pytest.raises(ValueError, match=f"Invalid {name}:"):
        validate_final_hyperparameters(**hyper)


@pytest.mark.parametrize(
    ("hyper", "name"),
    [({"beta3": 0.9, "k": -1.0, "K": 10.0}, "k"), ({"beta3": 0.9, "k": 2.0, "K": 1.0}, "K")],
)
def test_invalid_first_hyperparameters_name_the_argument(
    hyper: dict[str, float], name: str
) -> None:
    with pytest.raises(ValueError, match=f"Invalid {name}:"):
        validate_first_hyperparameters(**hyper)
