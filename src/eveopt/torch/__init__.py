"""Eve for PyTorch (extra ``eveopt[torch]``)."""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without torch installed
    raise ImportError(
        "eveopt.Eve needs PyTorch, which is not installed: pip install 'eveopt[torch]'"
    ) from error

from eveopt.torch.loops import LossAverager, LossFeed
from eveopt.torch.optimizer import Eve, Eve2016

__all__ = ["Eve", "Eve2016", "LossAverager", "LossFeed"]
