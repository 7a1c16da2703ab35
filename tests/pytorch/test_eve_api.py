"""Eve's contract as a torch.optim.Optimizer: arguments, step, state, schedulers, bad input."""

from __future__ import annotations

import copy
import io
import math
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import eveopt
from eveopt import Eve, Eve2016, EveWarning


def make_problem(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    x = torch.randn(16, 4)
    return model, x, x.sum(dim=1, keepdim=True)


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
          steps: int) -> list[float]:  # fmt: skip
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step(loss=loss)
        losses.append(loss.item())
    return losses


def snapshot(model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict[str, Any]:
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "optimizer": copy.deepcopy(opt.state_dict()),
    }


def assert_unchanged(before: dict[str, Any], model: torch.nn.Module, opt: Eve) -> None:
    for old, new in zip(before["params"], model.parameters(), strict=True):
        assert torch.equal(old, new)
    after = opt.state_dict()
    assert after["param_groups"] == before["optimizer"]["param_groups"]
    assert after["state"].keys() == before["optimizer"]["state"].keys()
    for index, entry in after["state"].items():
        for key, value in entry.items():
            assert torch.equal(value, before["optimizer"]["state"][index][key])


# ---------------------------------------------------------------------------------- construction


def test_positional_arguments_follow_torch_adam() -> None:
    params = [torch.nn.Parameter(torch.zeros(2))]
    eve = Eve(params, 1e-2, (0.8, 0.9), 1e-6, 0.1, True)
    adam = torch.optim.Adam(params, 1e-2, (0.8, 0.9), 1e-6, 0.1, True)
    for key in ("lr", "betas", "eps", "weight_decay", "amsgrad"):
        assert eve.param_groups[0][key] == adam.param_groups[0][key], key
    assert eve.param_groups[0]["beta3"] == 0.999


def test_three_betas_set_beta3() -> None:
    eve = Eve([torch.nn.Parameter(torch.zeros(1))], betas=(0.8, 0.9, 0.5))
    assert eve.param_groups[0]["betas"] == (0.8, 0.9)
    assert eve.param_groups[0]["beta3"] == 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"betas": (0.9, 0.99, 0.9), "beta3": 0.9}, "give beta3 one way"),
        ({"betas": (0.9,)}, "Invalid betas"),
        ({"lr": -1e-3}, "Invalid lr"),
        ({"lr": math.nan}, "Invalid lr"),
        ({"lr": "0.1"}, "Invalid lr"),
        ({"betas": (1.0, 0.999)}, r"Invalid betas\[0\]"),
        ({"betas": (0.9, -0.1)}, r"Invalid betas\[1\]"),
        ({"eps": -1.0}, "Invalid eps"),
        ({"weight_decay": -0.1}, "Invalid weight_decay"),
        ({"beta3": 1.0}, "Invalid beta3"),
        ({"c": 0.5}, "Invalid c"),
        ({"f_star": math.inf}, "Invalid f_star"),
        ({"fused": True, "foreach": True}, "fused=True and foreach=True"),
    ],
)
def test_invalid_arguments_raise_naming_the_argument(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Eve([torch.nn.Parameter(torch.zeros(1))], **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"k": -0.1}, "Invalid k"), ({"k": 5.0, "K": 1.0}, "Invalid K")]
)
def test_invalid_first_version_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Eve2016([torch.nn.Parameter(torch.zeros(1))], **kwargs)


def test_can_be_rebuilt_from_its_defaults() -> None:
    """Libraries rebuild optimizers as type(opt)(params, **opt.defaults)."""
    params = [torch.nn.Parameter(torch.zeros(1))]
    for opt in (Eve(params, beta3=0.9, c=5.0), Eve2016(params, k=0.2)):
        clone = type(opt)(params, **opt.defaults)
        assert clone.defaults == opt.defaults


# ------------------------------------------------------------------------------------------ step


def test_step_returns_the_loss_as_given() -> None:
    model, x, y = make_problem()
    opt = Eve(model.parameters())
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    assert opt.step(loss=loss) is loss
    assert opt.step(loss=0.5) == 0.5


def test_closure_is_called_once_with_grad_enabled_and_its_value_returned() -> None:
    model, x, y = make_problem()
    opt = Eve(model.parameters())
    calls = []

    def closure() -> torch.Tensor:
        calls.append(torch.is_grad_enabled())
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    with torch.no_grad():
        first = opt.step(closure)
    second = opt.step(closure)
    assert calls == [True, True]
    assert isinstance(first, torch.Tensor)
    assert opt.feedback_state().prev_loss == pytest.approx(second.item(), rel=1e-7)
    assert opt.feedback_state().steps == 2


def test_closure_and_loss_together_raise_and_change_nothing() -> None:
    model, x, y = make_problem()
    opt = Eve(model.parameters())
    train(model, opt, x, y, 2)
    before = snapshot(model, opt)
    with pytest.raises(ValueError, match="both a closure and loss="):
        opt.step(lambda: 1.0, loss=1.0)
    assert_unchanged(before, model, opt)


@pytest.mark.parametrize(
    "bad_loss",
    [torch.ones(3), torch.ones(2, 2), np.ones(2), "1.0", [1.0], True, torch.ones(1) * 1j],
    ids=["vector", "matrix", "ndarray", "str", "list", "bool", "complex"],
)
def test_non_scalar_loss_raises_and_no_parameter_moves(bad_loss: Any) -> None:
    model, x, y = make_problem()
    opt = Eve(model.parameters())
    train(model, opt, x, y, 2)
    torch.nn.functional.mse_loss(model(x), y).backward()
    before = snapshot(model, opt)
    with pytest.raises(ValueError, match=r"Eve\.step needs"):
        opt.step(loss=bad_loss)
    assert_unchanged(before, model, opt)


@pytest.mark.parametrize(
    "loss",
    [
        1.25,
        1,
        np.float32(1.25),
        np.float64(1.25),
        np.array(1.25),
        np.array([1.25]),
        torch.tensor(1.25),
        torch.tensor([1.25]),
        torch.tensor([[1.25]], dtype=torch.float64),
        torch.tensor(1.25, requires_grad=True) * 1.0,
    ],
    ids=[
        "float",
        "int",
        "np32",
        "np64",
        "0d-array",
        "1-array",
        "tensor",
        "1-tensor",
        "11-f64",
        "grad",
    ],
)
def test_accepted_loss_types_all_feed_the_same_value(loss: Any) -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = Eve([weight])
    weight.grad = torch.ones_like(weight)
    opt.step(loss=loss)
    assert opt.feedback_state().prev_loss == float(np.asarray(1.25 if loss == 1.25 else loss))


def test_python_float_losses_keep_double_precision() -> None:
    """Losses 1e-9 apart around 1.0 coincide in float32 but not here: d_hat = 0.5, not 1/c."""
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = Eve([weight], f_star=1.0 - 2e-9)
    for loss in (1.0 + 1e-9, 1.0):
        weight.grad = torch.ones_like(weight)
        opt.step(loss=loss)
    assert opt.d == pytest.approx(0.999 + 0.001 * 0.5, rel=1e-6)


def test_float64_tensor_loss_keeps_double_precision() -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = Eve([weight], f_star=1.0 - 2e-9)
    for loss in (1.0 + 1e-9, 1.0):
        weight.grad = torch.ones_like(weight)
        opt.step(loss=torch.tensor(loss, dtype=torch.float64))
    assert opt.d == pytest.approx(0.999 + 0.001 * 0.5, rel=1e-6)


# -------------------------------------------------------------------------------- edge warnings


def collect_warnings(action: Callable[[], None]) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
    return [str(w.message) for w in caught if issubclass(w.category, EveWarning)]


def test_non_finite_loss_skips_feedback_warns_once_and_still_updates() -> None:
    weight = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = Eve([weight])

    def feed() -> None:
        for loss in (2.0, math.nan, math.inf, 1.5):
            weight.grad = torch.ones_like(weight)
            opt.step(loss=loss)

    messages = collect_warnings(feed)
    assert len(messages) == 1
    assert "non-finite loss (nan)" in messages[0]
    assert opt.d == pytest.approx(0.99933333333333, rel=1e-10)
    assert opt.feedback_state().steps == 2
    assert weight.item() < -3.9e-3  # all four steps moved the parameter


def test_missing_loss_warns_once_with_the_fix_and_strict_mode_raises() -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = Eve([weight])

    def bare_steps() -> None:
        for _ in range(3):
            weight.grad = torch.ones_like(weight)
            opt.step()

    messages = collect_warnings(bare_steps)
    assert len(messages) == 1
    assert "opt.step(loss=loss)" in messages[0]
    assert opt.d == 1.0
    assert opt.feedback_state().steps == 0

    strict = Eve([weight], require_loss=True)
    weight.grad = torch.ones_like(weight)
    before = weight.detach().clone()
    with pytest.raises(ValueError, match="require_loss=True"):
        strict.step()
    assert torch.equal(weight, before)
    assert strict.state_dict()["state"] == {}


def test_loss_below_f_star_warns_once_and_proceeds_with_the_distance() -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = Eve([weight], f_star=1.0)

    def feed() -> None:
        for loss in (2.0, 0.5, 0.4):
            weight.grad = torch.ones_like(weight)
            opt.step(loss=loss)

    messages = collect_warnings(feed)
    assert len(messages) == 1
    assert "below f_star=1.0" in messages[0]
    assert opt.d == pytest.approx(1.0011646666667, rel=1e-10)


def test_warnings_are_counted_per_optimizer() -> None:
    weight = torch.nn.Parameter(torch.zeros(1))

    def two_optimizers() -> None:
        for _ in range(2):
            weight.grad = torch.ones_like(weight)
            Eve([weight]).step()

    assert len(collect_warnings(two_optimizers)) == 2


def test_first_version_skips_non_positive_losses_with_a_warning() -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = Eve2016([weight])

    def feed() -> None:
        for loss in (2.0, 0.0, -1.0, 1.5):
            weight.grad = torch.ones_like(weight)
            opt.step(loss=loss)

    messages = collect_warnings(feed)
    assert len(messages) == 1
    assert "loss <= 0" in messages[0]
    assert opt.d == pytest.approx(0.99933333333333, rel=1e-10)


# ------------------------------------------------------------------------------------ maximize


def test_maximize_negates_loss_and_f_star() -> None:
    """Maximising g = -f with supremum -f_star follows minimising f with f_star, bit for bit."""
    results = []
    for maximize in (False, True):
        model, x, y = make_problem()
        sign = -1.0 if maximize else 1.0
        opt = Eve(model.parameters(), lr=1e-2, f_star=sign * 0.01, maximize=maximize)
        for _ in range(20):
            opt.zero_grad()
            objective = sign * torch.nn.functional.mse_loss(model(x), y)
            objective.backward()
            opt.step(loss=objective)
        results.append(([p.detach().clone() for p in model.parameters()], opt.d))
    (min_params, min_d), (max_params, max_d) = results
    assert min_d == max_d != 1.0
    assert all(torch.equal(a, b) for a, b in zip(min_params, max_params, strict=True))


# ------------------------------------------------------------------------- state and checkpoints


@pytest.mark.parametrize("path", [{"foreach": False}, {"foreach": True}, {"fused": True}])
def test_resume_from_checkpoint_continues_bit_for_bit(path: dict[str, Any]) -> None:
    model, x, y = make_problem()
    opt = Eve(model.parameters(), lr=1e-2, amsgrad=True, **path)
    train(model, opt, x, y, 10)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, buffer)
    reference_losses = train(model, opt, x, y, 10)
    reference_params = [p.detach().clone() for p in model.parameters()]

    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed_model, _, _ = make_problem(seed=123)
    resumed_model.load_state_dict(checkpoint["model"])
    resumed = Eve(resumed_model.parameters(), lr=1e-2, amsgrad=True, **path)
    resumed.load_state_dict(checkpoint["optimizer"])
    assert resumed.d == checkpoint["optimizer"]["param_groups"][0]["d_tilde"] != 1.0
    assert train(resumed_model, resumed, x, y, 10) == reference_losses
    for a, b in zip(reference_params, resumed_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert resumed.d == opt.d


def test_feedback_state_lives_in_every_param_group() -> None:
    model, x, y = make_problem()
    opt = Eve(
        [
            {"params": model[0].parameters()},  # type: ignore[index]
            {"params": model[2].parameters(), "lr": 1e-2},  # type: ignore[index]
        ]
    )
    train(model, opt, x, y, 3)
    groups = opt.state_dict()["param_groups"]
    keys = ("d_tilde", "prev_loss", "feedback_steps")
    assert [groups[0][k] for k in keys] == [groups[1][k] for k in keys]
    assert groups[0]["feedback_steps"] == 3
    assert all(isinstance(k, int) for k in opt.state_dict()["state"])  # no non-parameter keys


def test_loading_an_adam_checkpoint_starts_the_feedback_fresh() -> None:
    model, x, y = make_problem()
    adam = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        adam.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        adam.step()
    eve = Eve(model.parameters(), lr=1e-2)
    eve.load_state_dict(adam.state_dict())
    assert eve.d == 1.0
    assert eve.feedback_state().steps == 0
    train(model, eve, x, y, 2)
    assert eve.feedback_state().steps == 2


# ------------------------------------------------------------------------------ param groups, lr


def test_param_groups_keep_their_lr_and_share_d_tilde() -> None:
    model, x, y = make_problem()
    opt = Eve(
        [
            {"params": model[0].parameters(), "lr": 1e-3},  # type: ignore[index]
            {"params": model[2].parameters(), "lr": 4e-3},  # type: ignore[index]
        ]
    )
    train(model, opt, x, y, 5)
    assert opt.effective_lr == pytest.approx([1e-3 / opt.d, 4e-3 / opt.d], rel=1e-12)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 4e-3]


def test_group_level_feedback_hyperparameters_are_rejected() -> None:
    model, _, _ = make_problem()
    with pytest.raises(ValueError, match="beta3 is optimizer-wide"):
        Eve([{"params": model.parameters(), "beta3": 0.5}])
    opt = Eve(model[0].parameters())  # type: ignore[index]
    with pytest.raises(ValueError, match="c is optimizer-wide"):
        opt.add_param_group({"params": model[2].parameters(), "c": 2.0})  # type: ignore[index]
    with pytest.raises(ValueError, match="internal state"):
        opt.add_param_group({"params": model[2].parameters(), "d_tilde": 2.0})  # type: ignore[index]


def test_added_param_group_gets_the_current_d_tilde() -> None:
    model, x, y = make_problem()
    frozen_tail = list(model[2].parameters())  # type: ignore[index]
    opt = Eve(model[0].parameters(), lr=1e-2)  # type: ignore[index]
    train(model, opt, x, y, 5)
    opt.add_param_group({"params": frozen_tail})
    new_group = opt.param_groups[1]
    assert new_group["d_tilde"] == opt.d != 1.0
    assert new_group["feedback_steps"] == 5


SCHEDULERS: dict[str, Callable[[torch.optim.Optimizer], Any]] = {
    "StepLR": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    "ExponentialLR": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
    "OneCycleLR": lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=20),
    "ReduceLROnPlateau": lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, patience=0),
}


@pytest.mark.parametrize("make_scheduler", SCHEDULERS.values(), ids=SCHEDULERS.keys())
def test_schedulers_drive_lr_exactly_as_with_adam(
    make_scheduler: Callable[[torch.optim.Optimizer], Any],
) -> None:
    """Eve(c=1) under a scheduler equals Adam under the same scheduler; Eve never writes lr."""
    (eve_model, x, y), (adam_model, _, _) = make_problem(), make_problem()
    eve = Eve(eve_model.parameters(), lr=1e-2, c=1.0, fused=True)
    adam = torch.optim.Adam(adam_model.parameters(), lr=1e-2, fused=True)
    schedulers = [make_scheduler(eve), make_scheduler(adam)]
    lrs: list[list[float]] = [[], []]
    for _ in range(20):
        for index, (model, opt) in enumerate(((eve_model, eve), (adam_model, adam))):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step(loss=loss) if opt is eve else opt.step()
            scheduler = schedulers[index]
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(1.0)  # never improves: the lr is cut every step
            else:
                scheduler.step()
            lrs[index].append(opt.param_groups[0]["lr"])
    assert lrs[0] == lrs[1]
    assert len(set(lrs[0])) > 1
    for a, b in zip(eve_model.parameters(), adam_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_schedulers_and_feedback_compose() -> None:
    model, x, y = make_problem()
    opt = Eve(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    train(model, opt, x, y, 3)
    scheduler.step()
    assert opt.param_groups[0]["lr"] == 5e-3
    assert opt.effective_lr == [5e-3 / opt.d]


# ----------------------------------------------------------------------------------- packaging


def test_import_eveopt_imports_no_framework() -> None:
    code = "import eveopt, sys; print(sorted({'torch', 'jax', 'keras'} & set(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_missing_torch_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "try:\n    from eveopt import Eve\nexcept ImportError as e:\n    print(e)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'eveopt[torch]'" in output


def test_version_matches_installed_metadata() -> None:
    from importlib.metadata import version

    assert eveopt.__version__ == version("eveopt")


@pytest.mark.parametrize("path", [{"foreach": False}, {"fused": True}], ids=["unfused", "fused"])
def test_grad_scaler_skip_step_leaves_feedback_untouched(path: dict[str, Any]) -> None:
    model, x, y = make_problem()
    opt = Eve(model.parameters(), lr=1e-2, **path)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    for step in range(4):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        scaler.scale(loss).backward()
        if step == 3:
            next(model.parameters()).grad[0, 0] = math.inf  # type: ignore[index]
            before = (opt.feedback_state(), [p.detach().clone() for p in model.parameters()])
        scaler.step(opt, loss=loss.detach())
        scaler.update()
    assert opt.feedback_state() == before[0]
    assert opt.feedback_state().steps == 3
    assert all(torch.equal(a, b) for a, b in zip(before[1], model.parameters(), strict=True))
    assert scaler.get_scale() == 2.0**7  # the scaler saw the overflow


def test_load_state_dict_into_the_same_optimizer_rewinds_exactly() -> None:
    """Loading replaces the state tensors: nothing cached may keep updating the old ones."""
    model, x, y = make_problem()
    opt = Eve(model.parameters(), lr=1e-2)
    train(model, opt, x, y, 5)
    saved = (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()))
    first = train(model, opt, x, y, 5)
    model.load_state_dict(saved[0])
    opt.load_state_dict(saved[1])
    assert train(model, opt, x, y, 5) == first


def test_deep_copied_optimizer_steps_and_warns() -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    clone = copy.deepcopy(Eve([weight]))
    clone.param_groups[0]["params"] = [weight]
    weight.grad = torch.ones_like(weight)
    assert len(collect_warnings(lambda: clone.step())) == 1


@pytest.mark.parametrize("loss", [torch.tensor(1.0), 1.0], ids=["tensor", "float"])
def test_loss_passed_positionally_says_how_to_pass_it(loss: Any) -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = Eve([weight])
    weight.grad = torch.ones_like(weight)
    with pytest.raises(ValueError, match=r"opt\.step\(loss=loss\)"):
        opt.step(loss)
    assert weight.item() == 0.0


def test_a_step_that_fails_in_a_later_group_moves_nothing() -> None:
    linear = torch.nn.Linear(3, 2)
    embedding = torch.nn.Embedding(5, 3, sparse=True)
    opt = Eve([{"params": linear.parameters()}, {"params": embedding.parameters()}])
    out = linear(embedding(torch.tensor([1, 2]))).sum()
    out.backward()
    before = [p.detach().clone() for p in linear.parameters()]
    with pytest.raises(RuntimeError, match="sparse gradients"):
        opt.step(loss=out)
    assert all(torch.equal(a, b) for a, b in zip(before, linear.parameters(), strict=True))
    assert opt.feedback_state().steps == 0


def test_a_parameter_swapped_into_a_group_is_the_one_updated() -> None:
    first, second = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    eve = Eve([first], lr=0.1, c=1.0, foreach=True)
    adam = torch.optim.Adam([first.detach().clone().requires_grad_()], lr=0.1, foreach=True)
    for opt, param in ((eve, first), (adam, adam.param_groups[0]["params"][0])):
        param.grad = torch.ones_like(param)
        opt.step(loss=1.0) if opt is eve else opt.step()
    swapped = second.detach().clone().requires_grad_()
    for opt, param in ((eve, second), (adam, swapped)):
        opt.param_groups[0]["params"][0] = param
        param.grad = torch.ones_like(param)
        opt.step(loss=1.0) if opt is eve else opt.step()
    assert torch.equal(second, swapped)
    assert second[0].item() < 1.0  # the new parameter moved


def test_warnings_point_at_the_line_that_called_step() -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = Eve([weight])
    weight.grad = torch.ones_like(weight)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt.step()  # the warned line
    assert caught[0].filename == __file__
    with open(__file__) as source:
        assert "the warned line" in source.readlines()[caught[0].lineno - 1]


def test_numpy_and_tensor_hyperparameters_are_accepted_and_bools_rejected() -> None:
    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = Eve(params, betas=(torch.tensor(0.8), torch.tensor(0.9)), beta3=np.float32(0.5),
              c=np.float64(5.0), f_star=np.float32(0.0))  # fmt: skip
    assert opt.param_groups[0]["betas"] == (pytest.approx(0.8), pytest.approx(0.9))
    assert opt.param_groups[0]["c"] == 5.0
    with pytest.raises(ValueError, match="Invalid c"):
        Eve(params, c=True)
