"""Mixed precision: autocast and GradScaler with Eve (pass the unscaled loss, never a closure).

On CUDA: float16 autocast with a GradScaler; on CPU: bfloat16 autocast (no scaling needed, so
the scaler is disabled and passes calls through). A step the scaler skips for inf/NaN gradients
leaves Eve's d_tilde and previous loss untouched.

Run: python examples/amp.py [--epochs N]
"""

from __future__ import annotations

import argparse

import torch

from eveopt import Eve
from eveopt.experiments.tasks import load_digits_tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float16 if device == "cuda" else torch.bfloat16
    torch.manual_seed(0)
    images, labels = (tensor.to(device) for tensor in load_digits_tensors())
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    ).to(device)
    opt = Eve(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device, enabled=device == "cuda")
    for epoch in range(args.epochs):
        for batch in torch.randperm(len(images), device=device).split(128):
            opt.zero_grad()
            with torch.autocast(device, dtype=dtype):
                loss = torch.nn.functional.cross_entropy(model(images[batch]), labels[batch])
            scaler.scale(loss).backward()
            scaler.step(opt, loss=loss.detach())  # GradScaler forwards loss= to Eve.step
            scaler.update()
        print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}, d_tilde {opt.d:.4f}")


if __name__ == "__main__":
    main()
