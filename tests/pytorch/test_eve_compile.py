"""torch.compile around Eve's step: same results as eager, no recompilation, no graph break of
Eve's own (torch 2.13 breaks the graph inside every optimizer's step, Adam's included: at its
no-grad decorator and at the fused kernel, which it excludes from tracing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch._dynamo
from torch._dynamo.utils import counters

from eveopt import Eve


def compiled_training(make_optimizer: Callable[[Any], torch.optim.Optimizer], eve: bool) -> Any:
    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = make_optimizer(model.parameters())
    x, y = torch.randn(8, 4), torch.randn(8, 1)

    @torch.compile(backend="eager")
    def step(loss: torch.Tensor) -> None:
        opt.step(loss=loss) if eve else opt.step()

    graphs_after_warmup = 0
    for index in range(10):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        step(loss.detach())
        if index == 2:
            graphs_after_warmup = counters["stats"]["unique_graphs"]
    return {
        "model": model,
        "opt": opt,
        "graph_breaks": set(counters["graph_break"]),
        "new_graphs_after_warmup": counters["stats"]["unique_graphs"] - graphs_after_warmup,
    }


def test_compiled_fused_step_matches_eager_without_recompiling() -> None:
    compiled = compiled_training(lambda p: Eve(p, lr=1e-2, fused=True), eve=True)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = Eve(model.parameters(), lr=1e-2, fused=True)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    for _ in range(10):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step(loss=loss.detach())
    assert compiled["opt"].d == opt.d != 1.0
    for a, b in zip(compiled["model"].parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert compiled["new_graphs_after_warmup"] == 0


def test_eve_adds_no_graph_break_to_adams() -> None:
    eve = compiled_training(lambda p: Eve(p, lr=1e-2, fused=True), eve=True)
    adam = compiled_training(lambda p: torch.optim.Adam(p, lr=1e-2, fused=True), eve=False)
    assert eve["graph_breaks"] <= adam["graph_breaks"]
