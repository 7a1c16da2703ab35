"""A trainer that calls a bare optimizer.step(): LossFeed hands Eve the loss anyway.

Trainers such as Hugging Face's Trainer, or PyTorch Lightning with 16-mixed AMP (which drops
the closure), call `optimizer.step()` with no argument. Register a LossFeed on the optimizer and
call `feed.set(loss)` where you see the loss (your training_step, a callback); the next bare
`step()` receives it as `step(loss=...)`.

Run: python examples/bare_step.py [--epochs N]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from eveopt import Eve, LossFeed
from eveopt.experiments.tasks import load_digits_tensors


def trainer_fit(
    training_step: Callable[[torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    batches: list[torch.Tensor],
) -> None:
    """Stands for a third-party trainer: it never passes the loss to step()."""
    for batch in batches:
        optimizer.zero_grad()
        training_step(batch).backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    torch.manual_seed(0)
    images, labels = load_digits_tensors()
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    opt = Eve(model.parameters(), lr=1e-3)
    feed = LossFeed(opt)

    def training_step(batch: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.cross_entropy(model(images[batch]), labels[batch])
        feed.set(loss)  # the one line the trainer needs
        return loss

    for epoch in range(args.epochs):
        trainer_fit(training_step, opt, list(torch.randperm(len(images)).split(128)))
        print(f"epoch {epoch + 1}: d_tilde {opt.d:.4f}, steps fed {opt.feedback_state().steps}")


if __name__ == "__main__":
    main()
