"""What Eve accepts as the loss, read either on the host or kept on the parameters' device."""

from __future__ import annotations

import numbers
from typing import SupportsFloat, TypeAlias

import torch
from torch import Tensor

__all__ = ["LossLike", "loss_to_device_scalar", "loss_to_float"]

LossLike: TypeAlias = "Tensor | SupportsFloat | None"
"""What ``step`` accepts as the loss: a Python or NumPy scalar, or a one-element tensor."""


def loss_to_float(loss: object) -> float | None:
    """The loss as a Python float (full double precision), or ``None`` when there is none.

    Accepts a Python real, a NumPy scalar or one-element array, or a one-element tensor on any
    device (read with ``.item()``); its graph is never kept. Anything else raises ``ValueError``
    naming what it got.
    """
    if loss is None:
        return None
    if isinstance(loss, Tensor):
        check_loss_tensor(loss)
        return float(loss.detach().reshape(()).item())
    if isinstance(loss, bool):
        raise ValueError("Eve.step needs a numeric loss, got a bool.")
    if isinstance(loss, numbers.Real):
        return float(loss)
    size = getattr(loss, "size", None)
    if isinstance(size, int) and hasattr(loss, "item") and hasattr(loss, "dtype"):
        if size != 1:
            raise ValueError(
                f"Eve.step needs a scalar loss, got an array of shape {getattr(loss, 'shape', '?')}"
                "; reduce it first, e.g. loss.mean()."
            )
        value = loss.item()
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
    raise ValueError(
        f"Eve.step needs the loss as a number or a one-element tensor, got {type(loss).__name__}."
    )


def check_loss_tensor(loss: Tensor) -> None:
    """Reject a loss tensor that is not one real number, reading only its metadata."""
    if loss.numel() != 1:
        raise ValueError(
            f"Eve.step needs a scalar loss, got a tensor of shape {tuple(loss.shape)}; "
            "reduce it first, e.g. loss.mean()."
        )
    if loss.is_complex() or loss.dtype == torch.bool:
        raise ValueError(f"Eve.step needs a real loss, got a {loss.dtype} tensor.")


def loss_to_device_scalar(loss: object, device: torch.device, dtype: torch.dtype) -> Tensor:
    """The loss as a detached 0-dim tensor on ``device``, without reading it on the host.

    A tensor is copied asynchronously; a host number becomes a tensor (a host-to-device copy,
    which needs no synchronisation).
    """
    if isinstance(loss, Tensor):
        check_loss_tensor(loss)
        return loss.detach().reshape(()).to(device=device, dtype=dtype, non_blocking=True)
    value = loss_to_float(loss)
    if value is None:
        raise ValueError("Eve.step got no loss to place on the device.")
    return torch.tensor(value, dtype=dtype, device=device)
