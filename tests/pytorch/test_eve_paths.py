"""Eve's kernel paths (for-loop, foreach, fused) and its device-resident feedback agree."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from eveopt import Eve

SPEC_CASES = [
    ([2.0, 1.5, 1.6, 1.2], {}, [1, 0.99933333333333, 0.998434, 0.99776889933333]),
    ([1.0, 1.0, 1.0], {}, [1, 0.9991, 0.9982009]),
    ([0.0, 0.0], {}, [1, 1.0]),
    ([1.0, 0.0], {}, [1, 1.009]),
    ([2.0, 0.5, 0.4], {"f_star": 1.0}, [1, 1.002, 1.0011646666667]),
    ([2.0, math.nan, 1.5], {}, [1, 1, 0.99933333333333]),
    ([math.inf, 2.0, -math.inf, 1.5], {}, [1, 1, 1, 0.99933333333333]),
]


class OpRecorder(TorchDispatchMode):
    """Records every aten op dispatched while active."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_default_path_is_fused_for_floating_params_and_foreach_otherwise() -> None:
    real = Eve([torch.nn.Parameter(torch.zeros(2))])
    assert (real.param_groups[0]["fused"], real.param_groups[0]["foreach"]) == (True, False)
    assert real._step_supports_amp_scaling
    complex_params = Eve([torch.nn.Parameter(torch.zeros(2, dtype=torch.complex64))])
    assert complex_params.param_groups[0]["foreach"] is True
    assert not complex_params._step_supports_amp_scaling
    differentiable = Eve([torch.nn.Parameter(torch.zeros(2))], differentiable=True)
    assert differentiable.param_groups[0]["fused"] is None
    explicit = Eve([torch.nn.Parameter(torch.zeros(2))], foreach=False)
    assert explicit.param_groups[0]["fused"] is None


def make_params(dtype: torch.dtype) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(0)
    shapes = [(5, 3), (3,), (0,), (4, 2), (7,)]
    return [
        torch.nn.Parameter(torch.randn(shape, generator=generator).to(dtype)) for shape in shapes
    ]


def run_path(
    path: dict[str, Any], dtype: torch.dtype, loss_as_tensor: bool = False
) -> tuple[list[torch.nn.Parameter], Eve]:
    """Ten steps; parameter 3 is frozen (no grad) for steps 0-3, parameter 1 has none at step 5."""
    params = make_params(dtype)
    opt = Eve(params, lr=1e-2, amsgrad=True, weight_decay=0.01, **path)
    generator = torch.Generator().manual_seed(1)
    for step in range(10):
        opt.zero_grad()
        for index, param in enumerate(params):
            frozen = (index == 3 and step < 4) or (index == 1 and step == 5)
            gradient = torch.randn(param.shape, generator=generator).to(dtype)
            if not frozen:
                param.grad = gradient
        loss = 1.0 + 0.5 * math.cos(step)
        opt.step(loss=torch.tensor(loss, dtype=torch.float64) if loss_as_tensor else loss)
    return params, opt


PATHS = {
    "foreach": {"foreach": True},
    "fused": {"fused": True},
    "default": {},
}
TOLERANCES = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 2e-2}


@pytest.mark.parametrize("dtype", TOLERANCES.keys(), ids=["f64", "f32", "bf16"])
@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
def test_every_path_agrees_with_the_for_loop(path: dict[str, Any], dtype: torch.dtype) -> None:
    reference_params, reference = run_path({"foreach": False, "fused": False}, dtype)
    params, opt = run_path(path, dtype)
    tolerance = TOLERANCES[dtype]
    assert opt.d == reference.d != 1.0
    for ref_param, param in zip(reference_params, params, strict=True):
        torch.testing.assert_close(param, ref_param, rtol=tolerance, atol=tolerance)
        ref_state, state = reference.state[ref_param], opt.state[param]
        assert state.keys() == ref_state.keys()
        for key in ref_state:
            torch.testing.assert_close(
                state[key].to(ref_state[key].dtype), ref_state[key], rtol=tolerance, atol=tolerance
            )
    assert opt.state[params[3]]["step"].item() == 6  # frozen for four of ten steps


def test_device_feedback_is_bit_identical_to_host_feedback() -> None:
    host_params, host = run_path({"fused": True}, torch.float32, loss_as_tensor=False)
    device_params, device = run_path({"fused": True}, torch.float32, loss_as_tensor=True)
    assert isinstance(device.param_groups[0]["d_tilde"], torch.Tensor)
    assert isinstance(host.param_groups[0]["d_tilde"], float)
    assert device.d == host.d
    for a, b in zip(host_params, device_params, strict=True):
        assert torch.equal(a, b)


def test_fused_step_with_tensor_loss_never_reads_on_the_host() -> None:
    params = make_params(torch.float32)
    opt = Eve(params, fused=True)
    recorder = OpRecorder()
    for step in range(4):
        for param in params:
            param.grad = torch.ones_like(param)
        loss = torch.tensor([2.0, math.nan, 1.5, 1.6][step])
        with recorder:
            opt.step(loss=loss)
    assert recorder.ops  # the recorder saw the step's ops
    assert not [op for op in recorder.ops if "_local_scalar_dense" in op]
    assert any("_fused_adam" in op for op in recorder.ops)


def test_automatic_fused_on_cpu_stays_on_the_cheaper_host_path() -> None:
    weight = torch.nn.Parameter(torch.zeros(2))
    opt = Eve([weight])
    weight.grad = torch.ones_like(weight)
    opt.step(loss=torch.tensor(1.0))
    assert isinstance(opt.param_groups[0]["d_tilde"], float)


@pytest.mark.parametrize(("losses", "hyper", "expected"), SPEC_CASES)
def test_device_feedback_reproduces_spec_values(
    losses: list[float], hyper: dict[str, float], expected: list[float]
) -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = Eve([weight], fused=True, **hyper)
    seen = []
    for loss in losses:
        weight.grad = torch.ones_like(weight)
        opt.step(loss=torch.tensor(loss, dtype=torch.float64))
        seen.append(opt.d)
    assert seen == pytest.approx(expected, rel=1e-10)


def test_device_state_survives_a_weights_only_checkpoint_and_a_switch_to_host() -> None:
    import io

    weight = torch.nn.Parameter(torch.zeros(1))
    opt = Eve([weight], fused=True)
    for loss in (2.0, 1.5):
        weight.grad = torch.ones_like(weight)
        opt.step(loss=torch.tensor(loss))
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    host = Eve([weight], foreach=True)
    host.load_state_dict(torch.load(buffer, weights_only=True))
    weight.grad = torch.ones_like(weight)
    host.step(loss=1.6)
    assert host.d == pytest.approx(0.998434, rel=1e-7)
    assert isinstance(host.param_groups[0]["d_tilde"], float)
