"""Eve under torch.distributed with real processes (gloo over 127.0.0.1, two ranks)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from distributed_worker import BATCH, STEPS, make_model, rank_batch, worker

from eveopt import Eve

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")

TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def rank_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out_dir = tmp_path_factory.mktemp("distributed")
    context = mp.start_processes(
        worker, args=(2, free_port(), str(out_dir)), nprocs=2, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        # join raises if a rank failed, and returns False while some rank still runs.
        while not context.join(timeout=max(1.0, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                pytest.fail(f"the distributed ranks did not finish within {TIMEOUT_S} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    return [torch.load(Path(out_dir) / f"rank{rank}.pt") for rank in range(2)]


def test_ddp_replicas_stay_bitwise_identical(rank_results: list[dict[str, Any]]) -> None:
    first, second = (result["ddp"] for result in rank_results)
    assert first["d"] == second["d"] != 1.0
    for a, b in zip(first["params"], second["params"], strict=True):
        assert torch.equal(a, b)


def test_without_loss_sync_replicas_drift_apart(rank_results: list[dict[str, Any]]) -> None:
    """The check above can fail: with rank-local losses d_tilde differs and so do the weights."""
    first, second = (result["ddp-no-sync"] for result in rank_results)
    assert first["d"] != second["d"]
    assert not all(
        torch.equal(a, b) for a, b in zip(first["params"], second["params"], strict=True)
    )


def test_zero_redundancy_optimizer_replicas_stay_identical(
    rank_results: list[dict[str, Any]],
) -> None:
    first, second = (result["zero"] for result in rank_results)
    assert first["d"] == second["d"] != 1.0
    for a, b in zip(first["params"], second["params"], strict=True):
        assert torch.equal(a, b)


def test_ddp_equals_single_process_on_the_concatenated_batch(
    rank_results: list[dict[str, Any]],
) -> None:
    model = make_model()
    opt = Eve(model.parameters(), lr=1e-2)
    for step in range(STEPS):
        batches = [rank_batch(step, rank) for rank in range(2)]
        x = torch.cat([b[0] for b in batches])
        y = torch.cat([b[1] for b in batches])
        assert len(x) == 2 * BATCH
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step(loss=loss)
    ddp = rank_results[0]["ddp"]
    assert ddp["d"] == pytest.approx(opt.d, rel=1e-5)
    for a, b in zip(model.parameters(), ddp["params"], strict=True):
        torch.testing.assert_close(a.detach(), b, rtol=1e-4, atol=1e-5)


def test_fsdp2_sharded_replicas_agree_and_match_ddp(rank_results: list[dict[str, Any]]) -> None:
    """fully_shard: DTensor parameters on the fused kernel, the loss averaged as under DDP."""
    first, second = (result["fsdp2"] for result in rank_results)
    assert first["d"] == second["d"] != 1.0
    for a, b in zip(first["params"], second["params"], strict=True):
        assert torch.equal(a, b)
    ddp = rank_results[0]["ddp"]
    assert first["d"] == pytest.approx(ddp["d"], rel=1e-6)
    for a, b in zip(first["params"], ddp["params"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
