"""The authors' own logged Eve run (CIFAR-100 ResNet): their losses in, their d_tilde out.

The excerpt in tests/vectors/ holds the first 3,000 of the 39,100 logged steps; the whole trace is
checked too when the project's shared reference data is present.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from eveopt import Eve
from eveopt.feedback import FeedbackState, final_update

VECTORS = Path(__file__).parents[1] / "vectors"
EXCERPT = VECTORS / "eve_trace_resnet_first3000.npz"
FULL_TRACE = Path(__file__).parents[3] / "shared" / "data" / "paper-runs" / "eve-trace-resnet.npz"
# Their run accumulated d_tilde in float32; ours is float64.
TRACE_REL = 1e-4


def feed_losses_to_feedback(losses: np.ndarray) -> np.ndarray:
    state = FeedbackState()
    d_tilde = np.empty(len(losses))
    for index, loss in enumerate(losses.tolist()):
        state = final_update(state, loss, beta3=0.999, c=10.0, f_star=0.0).state
        d_tilde[index] = state.d_tilde
    return d_tilde


def test_optimizer_float_path_reproduces_the_authors_trace_excerpt() -> None:
    trace = np.load(EXCERPT)
    weight = torch.nn.Parameter(torch.zeros(3))
    opt = Eve([weight], lr=float(trace["lr"]))
    d_tilde, lr_eff = [], []
    for loss in trace["batch_losses"].tolist():
        weight.grad = torch.ones_like(weight)
        opt.step(loss=loss)
        d_tilde.append(opt.d)
        lr_eff.append(opt.effective_lr[0])
    np.testing.assert_allclose(d_tilde, trace["d_tilde"], rtol=TRACE_REL)
    np.testing.assert_allclose(lr_eff, trace["lr_eff"], rtol=TRACE_REL)
    assert min(d_tilde) < 0.9  # the excerpt exercises the feedback, not just d_tilde = 1


@pytest.mark.skipif(
    not FULL_TRACE.exists(), reason=f"the authors' full trace is not present at {FULL_TRACE}"
)
def test_feedback_reproduces_the_authors_full_trace() -> None:
    trace = np.load(FULL_TRACE)
    d_tilde = feed_losses_to_feedback(trace["batch_losses"])
    assert len(d_tilde) == 39_100
    np.testing.assert_allclose(d_tilde, trace["d_tilde"], rtol=TRACE_REL)
