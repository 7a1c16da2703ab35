"""The same loss on every replica: Eve's loss averaged over a torch.distributed process group.

Under DistributedDataParallel, ZeRO or FSDP every rank computes the loss of its own mini-batch.
Gradients are averaged by the wrapper, but the loss is not: an Eve that fed its local loss would
compute a different ``d_tilde``, hence a different step size, on every rank, and the replicas
would drift apart with no error. Eve therefore averages the loss over the process group first.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from eveopt.torch.loss import check_loss_tensor, loss_to_float

__all__ = ["average_loss_across_ranks", "loss_sync_world_size"]


def loss_sync_world_size(group: Any = None) -> int:
    """Ranks in ``group`` (the default group when ``None``), or 1 without torch.distributed."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return int(dist.get_world_size(group))


def average_loss_across_ranks(loss: object, group: Any = None) -> Tensor:
    """The mean of ``loss`` over the ranks of ``group``: one scalar all-reduce.

    Every rank of the group must call it (it is a collective). The reduction runs in float64 on
    the loss's own device (for a host number: the current CUDA device under NCCL, else the CPU)
    and returns a 0-dim tensor there; under NCCL the collective is enqueued on the stream and
    the host does not wait for it. A NaN on any rank makes the mean NaN, so every rank skips the
    feedback for that step alike.
    """
    if isinstance(loss, Tensor):
        check_loss_tensor(loss)
        total = loss.detach().reshape(()).to(torch.float64, copy=True)
    else:
        value = loss_to_float(loss)
        device = (
            torch.device("cuda", torch.cuda.current_device())
            if "nccl" in str(dist.get_backend(group)).lower()
            else torch.device("cpu")
        )
        total = torch.tensor(value, dtype=torch.float64, device=device)
    dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
    return total / dist.get_world_size(group)
