"""eveopt: the Eve optimizer (Hayashi, Koushik, Neubig, arXiv:1611.01505).

Eve is Adam whose learning rate is divided by one global coefficient ``d_tilde``: a smoothed,
clipped ratio of how much the loss changed between steps to how far it is above its known
minimum ``f_star``. It therefore needs the loss at every step: pass it to ``step``.

``import eveopt`` imports no framework. ``from eveopt import Eve`` gives the PyTorch optimizer
(extra ``eveopt[torch]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eveopt.warnings import EveWarning

__version__ = "0.1.0"

__all__ = ["Eve", "Eve2016", "EveWarning", "LossAverager", "LossFeed", "__version__"]

if TYPE_CHECKING:
    from eveopt.torch import Eve, Eve2016, LossAverager, LossFeed

_TORCH_ATTRIBUTES = frozenset({"Eve", "Eve2016", "LossAverager", "LossFeed"})


def __getattr__(name: str) -> Any:
    """Import the PyTorch optimizer on first use, so ``import eveopt`` stays framework-free."""
    if name in _TORCH_ATTRIBUTES:
        from eveopt import torch as eve_torch

        return getattr(eve_torch, name)
    raise AttributeError(f"module 'eveopt' has no attribute {name!r}")
