"""Runs inside each spawned rank of tests/pytorch/test_eve_distributed.py (gloo on 127.0.0.1)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel

from eveopt import Eve

STEPS = 20
BATCH = 16


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def rank_batch(step: int, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A different batch on every rank (and every step); rank 1's losses are much larger."""
    generator = torch.Generator().manual_seed(1000 * step + rank)
    x = torch.randn(BATCH, 6, generator=generator) * (1 + 2 * rank)
    return x, x.sum(dim=1, keepdim=True) ** 2


def train(kind: str, rank: int) -> dict[str, Any]:
    if kind == "fsdp2":
        from torch.distributed.fsdp import fully_shard

        sharded = make_model()
        fully_shard(sharded)  # parameters become DTensors sharded over the two ranks
        model: Any = sharded
    else:
        model = DistributedDataParallel(make_model())
    if kind == "zero":
        opt: torch.optim.Optimizer = ZeroRedundancyOptimizer(
            model.parameters(), optimizer_class=Eve, lr=1e-2
        )
    else:
        opt = Eve(model.parameters(), lr=1e-2, sync_loss=(kind != "ddp-no-sync"))
    for step in range(STEPS):
        x, y = rank_batch(step, rank)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step(loss=loss)
    eve = opt.optim if isinstance(opt, ZeroRedundancyOptimizer) else opt
    if kind == "fsdp2":
        params = [p.detach().full_tensor() for p in model.parameters()]
    else:
        params = [p.detach().clone() for p in model.module.parameters()]
    return {"params": params, "d": eve.d}  # type: ignore[union-attr]


def worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=60),
    )
    torch.set_num_threads(1)
    try:
        results = {kind: train(kind, rank) for kind in ("ddp", "ddp-no-sync", "zero", "fsdp2")}
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
        dist.barrier()  # gloo's teardown can abort a rank whose peer is still sending
    finally:
        dist.destroy_process_group()
