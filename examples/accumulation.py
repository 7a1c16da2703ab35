"""Gradient accumulation: one Eve step per several micro-batches, fed their mean loss.

Eve must see the loss of the batch whose gradient it applies: with accumulation that is the mean
of the micro-batch losses. LossAverager keeps it (on the device, without synchronising).

Run: python examples/accumulation.py [--epochs N] [--micro-batches K]
"""

from __future__ import annotations

import argparse

import torch

from eveopt import Eve, LossAverager
from eveopt.experiments.tasks import load_digits_tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--micro-batches", type=int, default=4, help="per optimizer step")
    args = parser.parse_args()

    torch.manual_seed(0)
    images, labels = load_digits_tensors()
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    opt = Eve(model.parameters(), lr=1e-3)
    losses = LossAverager()
    for epoch in range(args.epochs):
        opt.zero_grad()
        for index, batch in enumerate(torch.randperm(len(images)).split(32), start=1):
            loss = torch.nn.functional.cross_entropy(model(images[batch]), labels[batch])
            (loss / args.micro_batches).backward()
            losses.add(loss)
            if index % args.micro_batches == 0:
                opt.step(loss=losses.pop())  # the mean loss of the accumulated micro-batches
                opt.zero_grad()
        losses.pop() if len(losses) else None  # drop an incomplete accumulation at epoch end
        print(f"epoch {epoch + 1}: last micro-batch loss {loss.item():.4f}, d_tilde {opt.d:.4f}")


if __name__ == "__main__":
    main()
