r"""Eve for JAX: optax gradient transformations driven by the loss (extra ``eveopt[jax]``).

Hayashi, Koushik, Neubig, "Eve: A Gradient Based Optimization Method with Locally and Globally
Adaptive Learning Rates", https://arxiv.org/abs/1611.01505.

**Pass the loss to every update**: ``opt.update(grads, state, params, value=loss)``, with the loss
from ``jax.value_and_grad`` (optax's convention, as for ``optax.polyak_sgd``).

- :func:`scale_by_loss_feedback` divides the incoming updates by Eve's coefficient
  :math:`\tilde d_t`; it goes after any optax transformation.
- :func:`scale_by_eve` is ``chain(scale_by_adam, scale_by_loss_feedback)``.
- :func:`eve` is the optimizer: ``chain(scale_by_adam, scale_by_loss_feedback,
  scale_by_learning_rate)``, built the way optax builds ``adam``.

The rule itself is ``eveopt.feedback.final_update_arrays`` (the same code as the PyTorch device
path) run on ``jax.numpy``; this module only holds the state and the optax plumbing. The first
(2016) version is not provided: its coefficient multiplies :math:`\sqrt{\hat v_t}` and not
:math:`\epsilon`, so it is no scaling of Adam's output (see docs/optax.md).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple, cast

try:
    import jax
    import jax.numpy as jnp
    import optax
except ImportError as error:
    raise ImportError(
        "eveopt.optax needs JAX and optax, which are not installed; install them with "
        "pip install 'eveopt[jax]'"
    ) from error

from eveopt.feedback import FINAL_DEFAULTS, final_update_arrays, validate_final_hyperparameters

__all__ = ["LossFeedbackState", "eve", "scale_by_eve", "scale_by_loss_feedback"]

MISSING_VALUE_MESSAGE = (
    "Eve needs the loss at every update: compute it with the gradients, "
    "`loss, grads = jax.value_and_grad(loss_fn)(params)`, and pass it as "
    "`opt.update(grads, opt_state, params, value=loss)`."
)

# The loss counter only tells the first loss from the others; saturating it keeps an int32 from
# wrapping to a negative count (which would freeze d) after 2**31 updates.
_MAX_LOSS_COUNT = 2**31 - 2  # int32's maximum minus one


class LossFeedbackState(NamedTuple):
    """State of :func:`scale_by_loss_feedback`: Eve's coefficient and the previous loss."""

    d: jax.Array  # shape=(), float32 (float64 with jax_enable_x64): \tilde d_t.
    prev_gap: jax.Array  # shape=(), same dtype: f_{t-1} - f_star (0 before the first loss).
    loss_count: jax.Array  # shape=(), int32: finite losses used so far (saturating).


def scale_by_loss_feedback(
    b3: jax.typing.ArrayLike = FINAL_DEFAULTS.beta3,
    c: jax.typing.ArrayLike = FINAL_DEFAULTS.c,
    f_star: jax.typing.ArrayLike = FINAL_DEFAULTS.f_star,
) -> optax.GradientTransformationExtraArgs:
    r"""Divide the updates by Eve's global coefficient, computed from the loss ``value``.

    **Pass the loss to every update** as the keyword ``value``; a missing ``value`` raises.

    Let :math:`\beta_3`, :math:`c` and :math:`f^\star` be the arguments ``b3``, ``c`` and
    ``f_star``, and :math:`f_t` the ``value`` given at update :math:`t`. Then

    .. math::

      \begin{align*}
        d_t &\leftarrow \frac{|f_t - f_{t-1}|}{|\min(f_t, f_{t-1}) - f^\star|} \\
        \tilde d_t &\leftarrow \beta_3 \tilde d_{t-1}
          + (1 - \beta_3)\, \mathrm{clip}(d_t, 1/c, c), \qquad \tilde d_1 = 1 \\
        u_t &\leftarrow g_t / \tilde d_t
      \end{align*}

    where :math:`g_t` are the incoming updates (Adam's :math:`\hat m_t / (\sqrt{\hat v_t} +
    \epsilon)` in :func:`eve`). :math:`\tilde d_t` stays in :math:`[1/c, c]`; ``c=1`` makes this
    the identity. The state's field ``d`` is :math:`\tilde d_t` (read it with
    ``optax.tree.get(state, "d")``).

    Edge cases, as in every eveopt port, written with ``jnp.where`` so they hold under ``jit``
    and ``lax.scan``:

    - a zero distance :math:`\min(f_t, f_{t-1}) - f^\star` gives :math:`\mathrm{clip}(d_t) = 1`
      if the loss did not change, else :math:`c`; a loss below :math:`f^\star` uses the same
      distance (no warning: a warning would need a host round trip);
    - a NaN or infinite ``value`` leaves the state unchanged, and the updates are divided by the
      unchanged :math:`\tilde d`;
    - the first finite ``value`` only initialises :math:`f_{t-1}`.

    ``value`` may be a Python float or any one-element array of any float dtype. The state is
    float32 (float64 with ``jax_enable_x64``) whatever the parameters' dtype, and the updates
    keep their own dtype: bfloat16 updates stay bfloat16.

    Args:
      b3: :math:`\beta_3`, the smoothing of :math:`\tilde d` (``0 <= b3 < 1``).
      c: :math:`c`, the clip constant (``c >= 1``): the step size stays within
        ``[lr / c, c * lr]``.
      f_star: :math:`f^\star`, the minimum of the loss (0 for cross-entropy and squared error
        without a regulariser).

    Returns:
      A :class:`optax.GradientTransformationExtraArgs` whose ``update`` takes ``value=``.

    Examples:
      >>> import jax.numpy as jnp
      >>> import optax
      >>> from eveopt.optax import scale_by_loss_feedback
      >>> opt = optax.chain(optax.sgd(1.0), scale_by_loss_feedback(b3=0.9))
      >>> params = jnp.zeros(2)
      >>> state = opt.init(params)
      >>> for loss in [2.0, 1.5]:
      ...   updates, state = opt.update(jnp.ones(2), state, params, value=loss)
      >>> print(updates, optax.tree.get(state, "d"))
      [-1.0714285 -1.0714285] 0.93333334

    References:
      Hayashi et al., `Eve: A Gradient Based Optimization Method with Locally and Globally
      Adaptive Learning Rates <https://arxiv.org/abs/1611.01505>`_, 2016
    """
    _validate_feedback_arguments(b3, c, f_star)

    def init_fn(params: optax.Params) -> LossFeedbackState:
        del params
        dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
        return LossFeedbackState(
            d=jnp.ones([], dtype),
            prev_gap=jnp.zeros([], dtype),
            loss_count=jnp.zeros([], jnp.int32),
        )

    def update_fn(
        updates: optax.Updates,
        state: LossFeedbackState,
        params: optax.Params | None = None,
        *,
        value: jax.typing.ArrayLike | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, LossFeedbackState]:
        del params, extra_args
        dtype = state.d.dtype
        # The rule is fed f_t - f_star with f_star = 0 so that f_star may be a traced array
        # (inject_hyperparams): the distance is then exactly |min(f_t, f_{t-1}) - f_star|.
        gap = _scalar_loss(value, dtype) - f_star
        loss_count = jnp.minimum(state.loss_count, _MAX_LOSS_COUNT)
        # An injected b3 or c is a 0-dim array, which the rule uses like the float it types.
        d, prev_gap, loss_count = final_update_arrays(
            state.d,
            state.prev_gap,
            loss_count,
            gap,
            beta3=cast(float, b3),
            c=cast(float, c),
            f_star=0.0,
            xp=jnp,
        )
        d = d.astype(dtype)
        updates = jax.tree.map(lambda update: (update / d).astype(update.dtype), updates)
        return updates, LossFeedbackState(d, prev_gap.astype(dtype), loss_count)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def scale_by_eve(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: jax.typing.ArrayLike = FINAL_DEFAULTS.beta3,
    c: jax.typing.ArrayLike = FINAL_DEFAULTS.c,
    eps: jax.typing.ArrayLike = 1e-8,
    f_star: jax.typing.ArrayLike = FINAL_DEFAULTS.f_star,
) -> optax.GradientTransformationExtraArgs:
    r"""Rescale updates by Eve: Adam's direction divided by the loss-driven :math:`\tilde d_t`.

    **Pass the loss to every update** as the keyword ``value``. This is
    ``optax.chain(optax.scale_by_adam(b1, b2, eps), scale_by_loss_feedback(b3, c, f_star))``;
    see :func:`eve` for the update rule and :func:`scale_by_loss_feedback` for the edge cases.

    Args:
      b1: :math:`\beta_1`, decay rate of the first moment of the gradients.
      b2: :math:`\beta_2`, decay rate of the second moment of the gradients.
      b3: :math:`\beta_3`, smoothing of :math:`\tilde d`.
      c: :math:`c`, the clip constant (``c >= 1``; ``c=1`` is ``optax.scale_by_adam``).
      eps: :math:`\epsilon`, added to :math:`\sqrt{\hat v_t}`.
      f_star: :math:`f^\star`, the minimum of the loss.

    Returns:
      A :class:`optax.GradientTransformationExtraArgs` whose ``update`` takes ``value=``.
    """
    _validate_adam_arguments(b1, b2, eps)
    return optax.chain(
        optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
        scale_by_loss_feedback(b3=b3, c=c, f_star=f_star),
    )


def eve(
    learning_rate: optax.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: jax.typing.ArrayLike = FINAL_DEFAULTS.beta3,
    c: jax.typing.ArrayLike = FINAL_DEFAULTS.c,
    eps: jax.typing.ArrayLike = 1e-8,
    f_star: jax.typing.ArrayLike = FINAL_DEFAULTS.f_star,
) -> optax.GradientTransformationExtraArgs:
    r"""The Eve optimizer: Adam whose step size is divided by a coefficient computed from the loss.

    **Pass the loss to every update**: ``opt.update(grads, state, params, value=loss)``.

    Let :math:`\alpha_t`, :math:`\beta_1, \beta_2, \beta_3`, :math:`c`, :math:`\varepsilon` and
    :math:`f^\star` be the arguments ``learning_rate``, ``b1``, ``b2``, ``b3``, ``c``, ``eps``
    and ``f_star``, :math:`g_t` the gradients and :math:`f_t` the loss ``value`` at update
    :math:`t`. With :math:`m_0 = v_0 = 0` and :math:`\tilde d_1 = 1`,

    .. math::

      \begin{align*}
        m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
          \hat m_t \leftarrow m_t / (1-\beta_1^t) \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad
          \hat v_t \leftarrow v_t / (1-\beta_2^t) \\
        d_t &\leftarrow \frac{|f_t - f_{t-1}|}{|\min(f_t, f_{t-1}) - f^\star|}, \qquad
          \tilde d_t \leftarrow \beta_3 \tilde d_{t-1}
          + (1-\beta_3)\, \mathrm{clip}(d_t, 1/c, c) \quad (t > 1) \\
        u_t &\leftarrow -\frac{\alpha_t}{\tilde d_t}
          \frac{\hat m_t}{\sqrt{\hat v_t} + \varepsilon}
      \end{align*}

    This is Algorithm 1 of the paper (its final version), with the edge cases of
    :func:`scale_by_loss_feedback`. The step size :math:`\alpha_t / \tilde d_t` stays within
    ``[lr / c, c * lr]``; ``c=1`` is ``optax.adam`` exactly. Read :math:`\tilde d_t` with
    ``optax.tree.get(state, "d")``. With ``optax.MultiSteps``, pass the mean loss of the
    accumulated micro-batches as ``value``.

    Args:
      learning_rate: :math:`\alpha_t`, a float or an optax schedule.
      b1: :math:`\beta_1`, decay rate of the first moment of the gradients.
      b2: :math:`\beta_2`, decay rate of the second moment of the gradients.
      b3: :math:`\beta_3`, smoothing of :math:`\tilde d` (the paper's default 0.999).
      c: :math:`c`, the clip constant (``c >= 1``).
      eps: :math:`\varepsilon`, added to :math:`\sqrt{\hat v_t}` as in ``optax.adam``.
      f_star: :math:`f^\star`, the minimum of the loss (0 for cross-entropy and squared error
        without a regulariser).

    Returns:
      The corresponding :class:`optax.GradientTransformationExtraArgs`; its ``update`` takes
      the loss as the keyword ``value``.

    Examples:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> import optax
      >>> from eveopt.optax import eve
      >>> def f(x): return jnp.sum(x ** 2)  # simple quadratic function
      >>> solver = eve(learning_rate=0.1)
      >>> params = jnp.array([1., 2., 3.])
      >>> opt_state = solver.init(params)
      >>> for _ in range(5):
      ...   value, grad = jax.value_and_grad(f)(params)
      ...   updates, opt_state = solver.update(grad, opt_state, params, value=value)
      ...   params = optax.apply_updates(params, updates)
      ...   print(f"f = {f(params):.2f}, d = {optax.tree.get(opt_state, 'd'):.4f}")
      f = 12.83, d = 1.0000
      f = 11.72, d = 0.9991
      f = 10.67, d = 0.9982
      f = 9.69, d = 0.9973
      f = 8.77, d = 0.9964

    References:
      Hayashi et al., `Eve: A Gradient Based Optimization Method with Locally and Globally
      Adaptive Learning Rates <https://arxiv.org/abs/1611.01505>`_, 2016
    """
    _validate_learning_rate(learning_rate)
    _validate_adam_arguments(b1, b2, eps)
    return optax.chain(
        optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
        scale_by_loss_feedback(b3=b3, c=c, f_star=f_star),
        optax.scale_by_learning_rate(learning_rate),
    )


def _scalar_loss(value: jax.typing.ArrayLike | None, dtype: jnp.dtype[Any]) -> jax.Array:
    """The loss as a 0-dim array of the state's dtype; the checks are on static shapes only."""
    if value is None:
        raise ValueError(MISSING_VALUE_MESSAGE)
    shape = jnp.shape(value)
    if math.prod(shape) != 1:
        raise ValueError(
            f"Invalid value: the loss must be a scalar or a one-element array, got shape {shape}; "
            "pass the mean loss of the batch."
        )
    return jnp.reshape(jnp.asarray(value, dtype=dtype), ())


def _number(value: object) -> float | None:
    """A concrete Python or NumPy real as a float; ``None`` for arrays (inject_hyperparams traces
    its hyperparameters, so they can only be checked where they are given as numbers)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def _validate_feedback_arguments(b3: object, c: object, f_star: object) -> None:
    """SPEC.md rule 7, for the hyperparameters given as numbers."""
    _validate_decay_rate("b3", b3)
    c_number, f_star_number = _number(c), _number(f_star)
    validate_final_hyperparameters(
        FINAL_DEFAULTS.beta3,
        FINAL_DEFAULTS.c if c_number is None else c_number,
        FINAL_DEFAULTS.f_star if f_star_number is None else f_star_number,
    )


def _validate_decay_rate(name: str, value: object) -> None:
    number = _number(value)
    if number is not None and not 0.0 <= number < 1.0:
        raise ValueError(f"Invalid {name}: {number!r}; it must satisfy 0 <= {name} < 1.")


def _validate_adam_arguments(b1: object, b2: object, eps: object) -> None:
    _validate_decay_rate("b1", b1)
    _validate_decay_rate("b2", b2)
    eps_number = _number(eps)
    if eps_number is not None and not 0.0 <= eps_number < math.inf:
        raise ValueError(f"Invalid eps: {eps_number!r}; it must be a finite number >= 0.")


def _validate_learning_rate(learning_rate: object) -> None:
    number = _number(learning_rate)
    if number is not None and not 0.0 <= number < math.inf:
        raise ValueError(
            f"Invalid learning_rate: {number!r}; it must be a finite number >= 0 "
            "or an optax schedule."
        )
