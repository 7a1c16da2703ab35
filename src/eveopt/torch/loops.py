"""Small helpers that hand Eve the loss in training loops not written for it.

Eve needs this step's loss. Two common loops make that awkward: gradient accumulation (one
optimizer step per several micro-batches: Eve must get their mean loss, the loss of the batch
whose gradient it applies) and trainers that call a bare ``optimizer.step()`` (Hugging Face's
Trainer, PyTorch Lightning under AMP, which drops the closure).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from eveopt.torch.loss import check_loss_tensor, loss_to_float

__all__ = ["LossAverager", "LossFeed"]


class LossAverager:
    """The mean loss of the micro-batches of one optimizer step (gradient accumulation).

    Tensor losses are detached and summed on their device, so ``add`` never synchronises.

    Example:
        >>> import torch
        >>> losses = LossAverager()
        >>> for micro_batch_loss in (torch.tensor(2.0), torch.tensor(1.0), torch.tensor(3.0)):
        ...     losses.add(micro_batch_loss)   # after (micro_batch_loss / 3).backward()
        >>> losses.pop()                       # pass it: opt.step(loss=losses.pop())
        tensor(2.)
        >>> len(losses)
        0
    """

    def __init__(self) -> None:
        self._total: Tensor | float = 0.0
        self._count = 0

    def add(self, loss: Tensor | float) -> None:
        """Add one micro-batch's loss (its mean over the micro-batch, as the criterion gives)."""
        if isinstance(loss, Tensor):
            check_loss_tensor(loss)
            value: Tensor | float = loss.detach().reshape(())
        else:
            value = loss_to_float(loss)  # type: ignore[assignment]
        self._total = value if self._count == 0 else self._total + value
        self._count += 1

    def __len__(self) -> int:
        """How many losses were added since the last ``pop``."""
        return self._count

    def mean(self) -> Tensor | float:
        """The mean of the losses added since the last ``pop``."""
        if self._count == 0:
            raise ValueError("LossAverager.mean: no loss was added since the last pop().")
        return self._total / self._count

    def pop(self) -> Tensor | float:
        """The mean, then start over for the next optimizer step."""
        mean = self.mean()
        self._total, self._count = 0.0, 0
        return mean


class LossFeed:
    """Feeds Eve the loss when a training loop calls a bare ``optimizer.step()``.

    Registers a step pre-hook: call ``feed.set(loss)`` where your code sees the loss (a
    ``training_step``, a callback, the loop body); the next ``step()`` that comes without a loss or
    closure receives it as ``step(loss=...)``. Each loss is used once; a ``step`` with its own
    closure or ``loss=`` is left alone. ``remove()`` unregisters the hook.

    Example:
        >>> import torch
        >>> from eveopt import Eve
        >>> weight = torch.nn.Parameter(torch.ones(2))
        >>> opt = Eve([weight])
        >>> feed = LossFeed(opt)
        >>> loss = (weight**2).sum()
        >>> loss.backward()
        >>> feed.set(loss)
        >>> _ = opt.step()  # what a trainer does: a bare step()
        >>> opt.feedback_state().prev_loss
        2.0
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self._loss: Tensor | float | None = None
        self._handle = optimizer.register_step_pre_hook(self._inject)

    def set(self, loss: Tensor | float) -> None:
        """The loss of the step about to be taken (detached; its graph is not kept)."""
        self._loss = loss.detach() if isinstance(loss, torch.Tensor) else loss

    def remove(self) -> None:
        """Stop feeding the optimizer."""
        self._handle.remove()

    def _inject(
        self, optimizer: Optimizer, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        # torch passes the optimizer itself as the first positional argument of step.
        positional = args[1:] if args and args[0] is optimizer else args
        has_closure = (bool(positional) and positional[0] is not None) or (
            kwargs.get("closure") is not None
        )
        if self._loss is None or has_closure or kwargs.get("loss") is not None:
            return None
        loss, self._loss = self._loss, None
        return args, {**kwargs, "loss": loss}
