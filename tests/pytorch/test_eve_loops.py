"""Eve in real loops: gradient accumulation, bare step() calls, AMP (GradScaler, autocast)."""

from __future__ import annotations

import pytest
import torch

from eveopt import Eve, LossAverager, LossFeed


def make_problem(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x = torch.randn(32, 5, dtype=torch.float32)
    return model.double(), x.double(), (x.sum(dim=1, keepdim=True) ** 2).double()


def test_loss_averager_gives_the_mean_of_the_micro_batch_losses() -> None:
    losses = LossAverager()
    for value in (0.5, 1.5, 4.0):
        losses.add(torch.tensor(value, dtype=torch.float64))
    assert losses.mean().item() == 2.0  # type: ignore[union-attr]
    assert losses.pop().item() == 2.0  # type: ignore[union-attr]
    assert len(losses) == 0
    losses.add(3.0)
    assert losses.pop() == 3.0
    with pytest.raises(ValueError, match="no loss was added"):
        losses.pop()
    with pytest.raises(ValueError, match="scalar loss"):
        losses.add(torch.ones(2))


def test_accumulation_matches_one_step_on_the_whole_batch() -> None:
    """Four micro-batches with the averaged loss equal one full batch, to float64 rounding."""
    (full_model, x, y), (acc_model, _, _) = make_problem(), make_problem()
    full_opt, acc_opt = Eve(full_model.parameters(), lr=1e-2), Eve(acc_model.parameters(), lr=1e-2)
    losses = LossAverager()
    for _ in range(15):
        full_opt.zero_grad()
        loss = torch.nn.functional.mse_loss(full_model(x), y)
        loss.backward()
        full_opt.step(loss=loss)

        acc_opt.zero_grad()
        for micro_x, micro_y in zip(x.chunk(4), y.chunk(4), strict=True):
            micro_loss = torch.nn.functional.mse_loss(acc_model(micro_x), micro_y)
            (micro_loss / 4).backward()
            losses.add(micro_loss)
        acc_opt.step(loss=losses.pop())
    assert acc_opt.d == pytest.approx(full_opt.d, rel=1e-12)
    assert full_opt.d != 1.0
    for a, b in zip(full_model.parameters(), acc_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_loss_feed_makes_bare_step_calls_equal_to_passing_the_loss() -> None:
    (fed_model, x, y), (ref_model, _, _) = make_problem(), make_problem()
    fed_opt, ref_opt = Eve(fed_model.parameters(), lr=1e-2), Eve(ref_model.parameters(), lr=1e-2)
    feed = LossFeed(fed_opt)
    for _ in range(10):
        for model, opt in ((fed_model, fed_opt), (ref_model, ref_opt)):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            if opt is fed_opt:
                feed.set(loss)
                opt.step()  # as a trainer calls it
            else:
                opt.step(loss=loss)
    assert fed_opt.d == ref_opt.d != 1.0
    for a, b in zip(fed_model.parameters(), ref_model.parameters(), strict=True):
        assert torch.equal(a, b)
    feed.remove()
    fed_opt.zero_grad()
    torch.nn.functional.mse_loss(fed_model(x), y).backward()
    feed.set(1.0)
    with pytest.warns(UserWarning, match="got no loss"):
        fed_opt.step()  # the hook is gone


def test_loss_feed_leaves_explicit_losses_and_closures_alone() -> None:
    weight = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    opt = Eve([weight])
    feed = LossFeed(opt)
    feed.set(100.0)
    weight.grad = torch.ones_like(weight)
    opt.step(loss=2.0)
    assert opt.feedback_state().prev_loss == 2.0
    weight.grad = torch.ones_like(weight)
    opt.step(lambda: 3.0)
    assert opt.feedback_state().prev_loss == 3.0
    weight.grad = torch.ones_like(weight)
    opt.step()  # the stored loss is still there for the next bare step
    assert opt.feedback_state().prev_loss == 100.0


def test_grad_scaler_with_a_bare_step_and_loss_feed() -> None:
    model, x, y = make_problem()
    model = model.float()
    opt = Eve(model.parameters(), lr=1e-2)
    feed = LossFeed(opt)
    scaler = torch.amp.GradScaler("cpu")
    for _ in range(5):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x.float()), y.float())
        scaler.scale(loss).backward()
        feed.set(loss)
        scaler.step(opt)
        scaler.update()
    assert opt.feedback_state().steps == 5


def test_cpu_autocast_bfloat16_feeds_the_low_precision_loss_exactly() -> None:
    model, x, y = make_problem()
    model = model.float()
    opt = Eve(model.parameters(), lr=1e-2)
    for _ in range(5):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output = model(x.float())
        loss = torch.nn.functional.mse_loss(output.float(), y.float())
        loss.backward()
        opt.step(loss=loss)
        assert opt.feedback_state().prev_loss == loss.item()
    assert 0.1 <= opt.d <= 10.0
    assert opt.d != 1.0
