"""Eve's optimizer step against torch.optim.Adam's, side by side in one process.

Method: every variant (an optimizer with its flags) gets its own copy of the same parameters and
gradients; rounds interleave the variants (A B C ... A B C ...) so that machine noise hits all
alike; each round times `--steps` steps of one variant; the median over rounds is reported as
microseconds per step, with the ratio of each Eve variant to Adam on the same flags.

Configurations:
  resnet  ~95 tensors, ~0.7M parameters (the shapes of the paper's CIFAR-100 ResNet)
  large   one tensor of 25M elements (memory-bound: GB/s is reported against a measured
          in-place streaming bandwidth of this machine)
  tiny    2,000 tensors of 100 elements (per-tensor Python overhead)

Run: python benchmarks/step_time.py [--config resnet large tiny] [--rounds 15] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from eveopt import Eve

ADAM_ARRAYS = 7  # param read+write, grad read, exp_avg read+write, exp_avg_sq read+write


def resnet_shapes() -> list[tuple[int, ...]]:
    """Parameter shapes of the paper's ResNet (PAPER.md, experiment 1) for 100 classes."""
    shapes: list[tuple[int, ...]] = [(32, 3, 3, 3), (32,), (32,), (32,)]

    def bn(channels: int) -> list[tuple[int, ...]]:
        return [(channels,), (channels,)]

    def block(c_in: int, filters: tuple[int, int, int], projection: bool) -> None:
        f1, f2, f3 = filters
        shapes.extend([(f1, c_in, 1, 1), (f1,), *bn(f1), (f2, f1, 3, 3), (f2,), *bn(f2)])
        shapes.extend([(f3, f2, 1, 1), (f3,), *bn(f3)])
        if projection:
            shapes.extend([(f3, c_in, 1, 1), (f3,), *bn(f3)])

    block(32, (32, 32, 128), projection=True)
    block(128, (32, 32, 128), projection=False)
    block(128, (64, 64, 256), projection=True)
    block(256, (64, 64, 256), projection=False)
    block(256, (64, 64, 256), projection=False)
    shapes.extend([(100, 256 * 4 * 4), (100,)])
    return shapes


CONFIGS: dict[str, Callable[[], list[tuple[int, ...]]]] = {
    "resnet": resnet_shapes,
    "large": lambda: [(25_000_000,)],
    "tiny": lambda: [(100,)] * 2_000,
}


@dataclass
class Variant:
    """One optimizer with its flags, on its own copy of the parameters."""

    name: str
    make: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]
    is_eve: bool = False
    tensor_loss: bool = False


VARIANTS = [
    Variant("adam default", lambda p: torch.optim.Adam(p)),
    Variant("adam foreach", lambda p: torch.optim.Adam(p, foreach=True)),
    Variant("adam fused", lambda p: torch.optim.Adam(p, fused=True)),
    Variant("eve default", lambda p: Eve(p), is_eve=True),
    Variant("eve foreach", lambda p: Eve(p, foreach=True), is_eve=True),
    Variant("eve fused", lambda p: Eve(p, fused=True), is_eve=True),
    Variant("eve fused tensor-loss", lambda p: Eve(p, fused=True), is_eve=True, tensor_loss=True),
]


def make_step(optimizer: torch.optim.Optimizer, variant: Variant) -> Callable[[], None]:
    """One optimizer step; Eve gets a loss that changes every step, so its feedback runs."""
    counter = itertools.count(1)

    def step() -> None:
        if not variant.is_eve:
            optimizer.step()
            return
        loss = 1.0 + 0.1 * ((next(counter) * 7919) % 13) / 13
        optimizer.step(loss=torch.tensor(loss) if variant.tensor_loss else loss)

    return step


def measure_bandwidth(elements: int, repeats: int) -> float:
    """In-place streaming bandwidth (GB/s) of `a += b` on float32: 3 arrays moved per element."""
    a, b = torch.ones(elements), torch.ones(elements)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a.add_(b)
        times.append(time.perf_counter() - start)
    return 3 * 4 * elements / statistics.median(times) / 1e9


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    return sum(
        value.numel() * value.element_size()
        for state in optimizer.state.values()
        for value in state.values()
        if isinstance(value, torch.Tensor)
    )


def run_config(name: str, rounds: int, steps: int) -> dict[str, Any]:
    shapes = CONFIGS[name]()
    generator = torch.Generator().manual_seed(0)
    base = [torch.randn(shape, generator=generator) for shape in shapes]
    grads = [torch.randn(shape, generator=generator) * 1e-2 for shape in shapes]
    setups = []
    for variant in VARIANTS:
        params = [torch.nn.Parameter(tensor.clone()) for tensor in base]
        for param, grad in zip(params, grads, strict=True):
            param.grad = grad.clone()
        optimizer = variant.make(params)
        step = make_step(optimizer, variant)
        step()  # lazy state initialisation outside the timed region
        setups.append((variant, optimizer, step))
    timings: dict[str, list[float]] = {variant.name: [] for variant, _, _ in setups}
    for _ in range(rounds):
        for variant, _, step in setups:
            start = time.perf_counter()
            for _ in range(steps):
                step()
            timings[variant.name].append((time.perf_counter() - start) / steps * 1e6)
    median = {key: statistics.median(values) for key, values in timings.items()}
    parameters = sum(tensor.numel() for tensor in base)
    result: dict[str, Any] = {
        "config": name,
        "tensors": len(shapes),
        "parameters": parameters,
        "median_us_per_step": median,
        "ratio_eve_over_adam": {
            "default flags (eve default vs adam default)": median["eve default"]
            / median["adam default"],
            "foreach": median["eve foreach"] / median["adam foreach"],
            "fused": median["eve fused"] / median["adam fused"],
            "fused, tensor loss": median["eve fused tensor-loss"] / median["adam fused"],
            "eve default vs adam fused": median["eve default"] / median["adam fused"],
        },
        "state_bytes": {
            variant.name: state_bytes(optimizer)
            for variant, optimizer, _ in setups
            if variant.name in ("adam fused", "eve fused")
        },
    }
    if name == "large":
        result["gb_per_s"] = {
            key: ADAM_ARRAYS * 4 * parameters / (value * 1e-6) / 1e9
            for key, value in median.items()
        }
        result["streaming_gb_per_s"] = measure_bandwidth(parameters, repeats=rounds)
    return result


def print_result(result: dict[str, Any]) -> None:
    print(
        f"\n== {result['config']}: {result['tensors']} tensors, "
        f"{result['parameters']:,} parameters =="
    )
    for key, value in result["median_us_per_step"].items():
        extra = ""
        if "gb_per_s" in result:
            extra = f"   {result['gb_per_s'][key]:6.1f} GB/s"
        print(f"  {key:<24} {value:10.1f} us/step{extra}")
    if "streaming_gb_per_s" in result:
        print(f"  in-place streaming bandwidth (a += b): {result['streaming_gb_per_s']:.1f} GB/s")
    for key, value in result["ratio_eve_over_adam"].items():
        print(f"  ratio {key:<44} {value:6.3f}")
    for key, value in result["state_bytes"].items():
        print(f"  optimizer state bytes, {key:<12} {value:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median)")
    parser.add_argument("--steps", type=int, default=0, help="steps per round (0: per config)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    default_steps = {"resnet": 20, "large": 3, "tiny": 3}
    results = [
        run_config(name, args.rounds, args.steps or default_steps[name]) for name in args.config
    ]
    machine = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
    }
    if args.json:
        print(json.dumps({"machine": machine, "results": results}, indent=2))
        return
    print(f"machine: {machine}")
    for result in results:
        print_result(result)


if __name__ == "__main__":
    main()
