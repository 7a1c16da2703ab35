"""Train a small MLP on scikit-learn's digits with Eve in JAX (``eveopt.optax.eve``).

The only difference from an optax Adam loop: take the loss from ``jax.value_and_grad`` and pass
it to ``update`` as ``value=loss``. Runs in seconds on a CPU (needs ``eveopt[jax]`` and
scikit-learn)::

    python examples/optax_mlp.py                # 600 steps
    python examples/optax_mlp.py --steps 50 --lr 3e-3
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits

from eveopt.optax import eve

Params = list[dict[str, jax.Array]]


def init_mlp(rng: np.random.Generator, sizes: list[int]) -> Params:
    """Glorot-uniform weights and zero biases, as in the paper's experiments."""
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weight = rng.uniform(-limit, limit, size=(fan_in, fan_out))
        params.append({"w": jnp.asarray(weight, jnp.float32), "b": jnp.zeros(fan_out)})
    return params


def logits(params: Params, inputs: jax.Array) -> jax.Array:
    hidden = inputs
    for layer in params[:-1]:
        hidden = jax.nn.relu(hidden @ layer["w"] + layer["b"])
    return hidden @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params: Params, inputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy of the batch: its minimum is 0, Eve's default ``f_star``."""
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, inputs), labels).mean()


def accuracy(params: Params, inputs: jax.Array, labels: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(logits(params, inputs), axis=-1) == labels)


def train(steps: int, learning_rate: float, batch_size: int = 128, seed: int = 0) -> dict[str, Any]:
    """Train on 1,500 digits, test on the other 297; print progress, return the final metrics."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    inputs = jnp.asarray(digits.data[order] / 16.0, jnp.float32)
    labels = jnp.asarray(digits.target[order])
    train_x, train_y, test_x, test_y = inputs[:1500], labels[:1500], inputs[1500:], labels[1500:]

    params = init_mlp(rng, [64, 64, 10])
    opt = eve(learning_rate)
    opt_state = opt.init(params)

    @jax.jit
    def step(params: Params, opt_state: Any, batch: jax.Array) -> tuple[Params, Any, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(params, train_x[batch], train_y[batch])
        updates, opt_state = opt.update(grads, opt_state, params, value=loss)
        return optax.apply_updates(params, updates), opt_state, loss

    report_every = max(steps // 5, 1)
    for index in range(steps):
        batch = jnp.asarray(rng.choice(len(train_y), batch_size, replace=False))
        params, opt_state, loss = step(params, opt_state, batch)
        if (index + 1) % report_every == 0:
            d_tilde = float(optax.tree.get(opt_state, "d"))
            print(f"step {index + 1:5d}  batch loss {float(loss):.4f}  d {d_tilde:.4f}")
    evaluate = jax.jit(
        lambda params: (loss_fn(params, train_x, train_y), accuracy(params, test_x, test_y))
    )
    train_loss, test_accuracy = evaluate(params)
    metrics = {
        "train_loss": float(train_loss),
        "test_accuracy": float(test_accuracy),
        "d": float(optax.tree.get(opt_state, "d")),
    }
    print(
        f"final: train loss {metrics['train_loss']:.4f}  "
        f"test accuracy {metrics['test_accuracy']:.3f}  d {metrics['d']:.4f}"
    )
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="optimizer steps (default 600)")
    parser.add_argument("--lr", type=float, default=3e-3, help="learning rate (default 3e-3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train(args.steps, args.lr, seed=args.seed)


if __name__ == "__main__":
    main()
