"""The plain loop: a small MLP on scikit-learn's digits with Eve (one word changed from Adam).

Run: python examples/train_digits.py [--epochs N]
"""

from __future__ import annotations

import argparse

import torch

from eveopt import Eve
from eveopt.experiments.tasks import load_digits_tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

    torch.manual_seed(0)
    images, labels = load_digits_tensors()
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    opt = Eve(model.parameters(), lr=1e-3)  # was: torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        for batch in torch.randperm(len(images)).split(128):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(images[batch]), labels[batch])
            loss.backward()
            opt.step(loss=loss)  # the one addition: Eve needs the loss
        print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}, d_tilde {opt.d:.4f}")


if __name__ == "__main__":
    main()
