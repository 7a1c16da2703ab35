"""The optimizer registry: the paper's seven optimizers by name, at the paper's defaults except lr.

The authors ran their comparison with Keras 2 (2.0, whose defaults had ``epsilon=1e-8``
everywhere). Where PyTorch's defaults differ from Keras', the Keras value is used, so the
comparison is the paper's; each such choice is commented below. The update rules of the two
frameworks are otherwise the same (Keras' Nesterov SGD and PyTorch's agree at a constant lr).

Module load imports no framework: names, labels and hyperparameters are plain data, and
:meth:`OptimizerSpec.build` imports torch (or ``eveopt.Eve``) when a run starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["OPTIMIZERS", "OptimizerSpec", "optimizer_names"]


@dataclass(frozen=True)
class OptimizerSpec:
    """One registered optimizer: how to build it and how to show it.

    Args:
        name: the registry name used on the command line (``sgd-nesterov``).
        label: the display name in tables and figures (``SGD-Nesterov``).
        class_path: ``module:Class`` of the optimizer, imported when a run starts.
        default_lr: the framework default lr (for reference; every run sets its own lr).
        hyperparameters: every constructor argument except the lr and Eve's ``f_star``.
        needs_loss: whether ``step`` takes the batch loss (``step(loss=...)``), as Eve's does.
        color: the one colour this optimizer has in every figure.
    """

    name: str
    label: str
    class_path: str
    default_lr: float
    hyperparameters: Mapping[str, Any]
    needs_loss: bool
    color: str

    def build(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        *,
        f_star: float = 0.0,
        **overrides: Any,
    ) -> torch.optim.Optimizer:
        """Construct the optimizer over ``params`` at learning rate ``lr``.

        ``f_star`` (the task's known loss minimum) is passed to optimizers that take the loss;
        ``overrides`` replace registered hyperparameters (an unknown name is a ``TypeError``).

        Example:
            >>> import torch
            >>> model = torch.nn.Linear(3, 1)
            >>> OPTIMIZERS["rmsprop"].build(model.parameters(), 1e-3).defaults["alpha"]
            0.9
        """
        module_name, _, class_name = self.class_path.partition(":")
        optimizer_class = getattr(importlib.import_module(module_name), class_name)
        unknown = sorted(set(overrides) - set(self.hyperparameters))
        if unknown:
            raise TypeError(
                f"{self.label} has no hyperparameter {', '.join(unknown)}: choose from "
                f"{', '.join(sorted(self.hyperparameters))}"
            )
        extra = {"f_star": f_star} if self.needs_loss else {}
        optimizer: torch.optim.Optimizer = optimizer_class(
            params, lr=lr, **{**self.hyperparameters, **overrides}, **extra
        )
        return optimizer

    def identity(self) -> dict[str, Any]:
        """Everything about this optimizer that changes a run's result, as plain JSON data."""
        return {
            "name": self.name,
            "class": self.class_path,
            "hyperparameters": {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in sorted(self.hyperparameters.items())
            },
        }


def _spec(
    name: str,
    label: str,
    class_path: str,
    default_lr: float,
    color: str,
    needs_loss: bool = False,
    **hyperparameters: Any,
) -> OptimizerSpec:
    return OptimizerSpec(
        name=name,
        label=label,
        class_path=class_path,
        default_lr=default_lr,
        hyperparameters=MappingProxyType(hyperparameters),
        needs_loss=needs_loss,
        color=color,
    )


# Colours: matplotlib's tab10, fixed per optimizer so a curve keeps its colour across figures
# and across comparisons with different optimizer subsets.
OPTIMIZERS: Mapping[str, OptimizerSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            # The paper's Eve defaults: beta1 0.9, beta2 0.999, beta3 0.999, c 10, eps 1e-8.
            _spec(
                "eve",
                "Eve",
                "eveopt:Eve",
                1e-3,
                "#d62728",
                needs_loss=True,
                betas=(0.9, 0.999),
                eps=1e-8,
                beta3=0.999,
                c=10.0,
            ),
            # Keras 2.0 Adam: beta_1 0.9, beta_2 0.999, epsilon 1e-8 (same as torch).
            _spec(
                "adam", "Adam", "torch.optim:Adam", 1e-3, "#1f77b4", betas=(0.9, 0.999), eps=1e-8
            ),
            # Keras 2.0 Adamax: lr 2e-3, beta_1 0.9, beta_2 0.999, epsilon 1e-8 (same as torch).
            _spec(
                "adamax",
                "Adamax",
                "torch.optim:Adamax",
                2e-3,
                "#ff7f0e",
                betas=(0.9, 0.999),
                eps=1e-8,
            ),
            # Keras 2.0 RMSprop: rho 0.9 (torch's alpha defaults to 0.99), epsilon 1e-8.
            _spec(
                "rmsprop", "RMSprop", "torch.optim:RMSprop", 1e-3, "#2ca02c", alpha=0.9, eps=1e-8
            ),
            # Keras 2.0 Adagrad: epsilon 1e-8 (torch defaults to 1e-10), accumulators start at 0.
            _spec(
                "adagrad",
                "Adagrad",
                "torch.optim:Adagrad",
                1e-2,
                "#9467bd",
                eps=1e-8,
                initial_accumulator_value=0.0,
            ),
            # Keras 2.0 Adadelta: rho 0.95 and epsilon 1e-8 (torch defaults to 0.9 and 1e-6).
            _spec(
                "adadelta", "Adadelta", "torch.optim:Adadelta", 1.0, "#8c564b", rho=0.95, eps=1e-8
            ),
            # The paper's SGD: Nesterov momentum 0.9, no dampening (Keras' SGD has none).
            _spec(
                "sgd-nesterov",
                "SGD-Nesterov",
                "torch.optim:SGD",
                1e-2,
                "#7f7f7f",
                momentum=0.9,
                nesterov=True,
            ),
        )
    }
)


def optimizer_names() -> tuple[str, ...]:
    """The registered optimizer names, in the order of the paper's figures (Eve first)."""
    return tuple(OPTIMIZERS)
