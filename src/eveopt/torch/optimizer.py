r"""Eve for PyTorch: PyTorch's own Adam kernels driven by the loss feedback of ``eveopt.feedback``.

Hayashi, Koushik, Neubig, "Eve: A Gradient Based Optimization Method with Locally and Globally
Adaptive Learning Rates", https://arxiv.org/abs/1611.01505.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor
from torch.optim.adam import adam as adam_kernel
from torch.optim.optimizer import (
    Optimizer,
    ParamsT,
    _device_dtype_check_for_fused,
    _use_grad_for_differentiable,
)
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

from eveopt.feedback import (
    FINAL_DEFAULTS,
    FIRST_DEFAULTS,
    FeedbackState,
    FeedbackUpdate,
    LossEvent,
    final_update,
    final_update_arrays,
    first_update,
    validate_final_hyperparameters,
    validate_first_hyperparameters,
)
from eveopt.torch.distributed import average_loss_across_ranks, loss_sync_world_size
from eveopt.torch.loss import LossLike, check_loss_tensor, loss_to_device_scalar, loss_to_float
from eveopt.warnings import EveWarning

__all__ = ["Eve", "Eve2016", "LossLike"]
__all__ = ["Eve", "Eve2016", "LossLike"]

# The feedback's state, kept in every param group (identical in all; group 0 is read). On the
# device path these are 0-dim tensors on the parameters' device, else Python numbers.
_STATE_KEYS = ("d_tilde", "prev_loss", "feedback_steps")


class _GroupTensors(NamedTuple):
    """One param group's parameters with a gradient and their Adam state, in kernel order."""

    key: tuple[Any, ...]
    params: tuple[Tensor, ...]
    exp_avgs: tuple[Tensor, ...]
    exp_avg_sqs: tuple[Tensor, ...]
    max_exp_avg_sqs: tuple[Tensor, ...]
    state_steps: tuple[Tensor, ...]
    has_complex: bool


class _PreparedGroup(NamedTuple):
    """A group's gradients for this step and its cached parameter and state lists."""

    grads: list[Tensor]
    tensors: _GroupTensors


class _LossFeedbackAdam(Optimizer):
    """Adam's update with lr divided by a global coefficient computed from the loss.

    Subclasses define the feedback rule (``_feedback``), its hyperparameters
    (``_feedback_keys``), how the coefficient enters Adam (``_adam_lr_and_eps``), and whether the
    rule can run on device tensors (``_device_feedback``).
    """

    _feedback_keys: ClassVar[tuple[str, ...]]
    _has_device_feedback: ClassVar[bool] = False

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor,
        betas: tuple[float, float],
        eps: float,
        weight_decay: float,
        amsgrad: bool,
        *,
        feedback_hyperparameters: dict[str, Any],
        decoupled_weight_decay: bool,
        maximize: bool,
        foreach: bool | None,
        fused: bool | None,
        capturable: bool,
        differentiable: bool,
        require_loss: bool,
        sync_loss: bool,
        loss_group: Any,
    ) -> None:
        _validate_adam_arguments(lr, betas, eps, weight_decay)
        if fused and foreach:
            raise ValueError("fused=True and foreach=True cannot be used together; pick one.")
        if fused and differentiable:
            raise ValueError("fused=True does not support differentiable=True; pick one.")
        defaults: dict[str, Any] = {
            "lr": lr,
            "betas": (float(betas[0]), float(betas[1])),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            **feedback_hyperparameters,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "fused": fused,
            "capturable": capturable,
            "differentiable": differentiable,
            "require_loss": require_loss,
        }
        self._warned: set[LossEvent] = set()
        self._tensor_cache: dict[int, _GroupTensors] = {}
        # Not in the param groups: a process group cannot be saved in a state dict.
        self.sync_loss = sync_loss
        self.loss_group = loss_group
        super().__init__(params, defaults)

    # ----------------------------------------------------------------------------- subclass hooks

    def _feedback(self, state: FeedbackState, loss: float | None) -> FeedbackUpdate:
        raise NotImplementedError

    def _adam_lr_and_eps(self, lr: float | Tensor, eps: float, d_tilde: float) -> tuple[Any, float]:
        raise NotImplementedError

    def _device_feedback(
        self, state: tuple[Tensor, Tensor, Tensor], loss: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        raise NotImplementedError

    # ------------------------------------------------------------------------------- public state

    @property
    def d(self) -> float:
        """The current coefficient ``d_tilde`` (1.0 before the feedback has seen two losses).

        On the device path this reads a device tensor, i.e. synchronises: read it for logging,
        not inside a compiled or captured step.
        """
        return float(self.param_groups[0]["d_tilde"])

    @property
    def effective_lr(self) -> list[float]:
        """Each param group's learning rate as applied: ``group["lr"] / d_tilde``."""
        d_tilde = self.d
        return [float(group["lr"]) / d_tilde for group in self.param_groups]

    def feedback_state(self) -> FeedbackState:
        """The feedback's state: ``d_tilde``, the previous (or smoothed) loss, losses used."""
        group = self.param_groups[0]
        steps = int(group["feedback_steps"])
        prev_loss = group["prev_loss"]
        return FeedbackState(
            float(group["d_tilde"]),
            None if prev_loss is None or steps == 0 else float(prev_loss),
            steps,
        )

    # ------------------------------------------------------------------------- Optimizer overrides

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; it shares the optimizer-wide feedback and its current ``d_tilde``.

        The feedback hyperparameters, ``maximize`` and ``require_loss`` are optimizer-wide (one
        ``d_tilde`` measures the whole objective), so a group may not set them differently.
        A group that leaves both ``fused`` and ``foreach`` unset gets the fastest kernel its
        parameters allow: fused where every parameter is a floating tensor on a device with a
        fused Adam (CPU included), else the multi-tensor (foreach) path.
        """
        reference = self.param_groups[0] if self.param_groups else self.defaults
        for key in (*self._feedback_keys, "maximize", "require_loss"):
            if key in param_group and param_group[key] != reference[key]:
                raise ValueError(
                    f"{key}={param_group[key]!r} in a param group: {key} is optimizer-wide in "
                    f"Eve (one d_tilde for the whole objective); set it in the constructor "
                    f"(now {reference[key]!r}) and not per group."
                )
        for key in _STATE_KEYS:
            if key in param_group:
                raise ValueError(
                    f"{key!r} is Eve's internal state; do not set it in a param group."
                )
        super().add_param_group(param_group)
        self._tensor_cache.clear()
        group = self.param_groups[-1]
        _choose_kernel_path(group)
        source = self.param_groups[0] if len(self.param_groups) > 1 else None
        for key, initial in zip(_STATE_KEYS, FeedbackState(), strict=True):
            group[key] = initial if source is None else source[key]
        # With every group fused, GradScaler hands grad_scale/found_inf to the fused kernel
        # instead of unscaling the gradients itself (the other kernels reject them).
        self._step_supports_amp_scaling = all(g["fused"] for g in self.param_groups)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Fill keys missing from older state dicts (or from a ``torch.optim.Adam`` one)."""
        super().__setstate__(state)
        self._tensor_cache = {}
        self._warned = getattr(self, "_warned", set())
        for group in self.param_groups:
            for key in ("amsgrad", "maximize", "capturable", "differentiable"):
                group.setdefault(key, False)
            group.setdefault("foreach", None)
            group.setdefault("fused", None)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("require_loss", False)
            for key in self._feedback_keys:
                group.setdefault(key, self.defaults[key])
            for key, value in zip(_STATE_KEYS, FeedbackState(), strict=True):
                group.setdefault(key, value)
        self._step_supports_amp_scaling = all(g["fused"] for g in self.param_groups)

    # ------------------------------------------------------------------------------------- step

    @_use_grad_for_differentiable
    def step(
        self,
        closure: Callable[[], Any] | None = None,
        *,
        loss: LossLike = None,
    ) -> Any:
        """Perform one Eve step and return the loss as given (or the closure's return value).

        Args:
            closure: re-evaluates the model and returns the loss; called exactly once, with
                grad enabled. Do not combine with ``loss``.
            loss: this step's loss, computed on the same parameters and mini-batch as the
                gradients: a 0-dim or one-element tensor (on any device), or a Python or NumPy
                scalar. Python floats are used at full double precision. Under
                torch.distributed (more than one rank) it is first averaged over
                ``loss_group`` unless ``sync_loss=False``: every rank must then call ``step``.

        Raises:
            ValueError: when both ``closure`` and ``loss`` are given, when the loss is not a
                scalar, or (with ``require_loss=True``) when there is no loss. Nothing changes then.
        """
        if closure is not None and not callable(closure):
            raise ValueError(
                f"Eve.step's first argument is a closure, got a {type(closure).__name__}; "
                "pass the loss by keyword: opt.step(loss=loss)."
            )
        if closure is not None and loss is not None:
            raise ValueError(
                "Eve.step got both a closure and loss=; pass the loss one way: "
                "opt.step(closure) or opt.step(loss=loss)."
            )
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if loss is None and self.defaults["require_loss"]:
            raise ValueError(
                "Eve.step got no loss and require_loss=True; pass it: opt.step(loss=loss) "
                "or opt.step(closure)."
            )
        _validate_loss(loss)
        # Everything that can fail is checked for every group before any parameter moves.
        prepared = [self._prepare_group(group) for group in self.param_groups]
        feedback_loss = loss
        if loss is not None and self.sync_loss and loss_sync_world_size(self.loss_group) > 1:
            feedback_loss = average_loss_across_ranks(loss, self.loss_group)
        if self._on_device_path(feedback_loss):
            self._step_on_device(feedback_loss, prepared)
        else:
            self._step_on_host(feedback_loss, prepared)
        return loss

    def _on_device_path(self, loss: object) -> bool:
        """Keep the feedback on the device: Eve's final rule, a tensor loss (or tensor state),
        and kernels that take a tensor lr (fused or capturable in every group), either asked
        for explicitly or on an accelerator. On a CPU with the automatic fused choice, the
        host float path is faster (a CPU "sync" is free; a dozen tiny tensor ops are not).
        """
        if not self._has_device_feedback:
            return False
        group = self.param_groups[0]
        if not (isinstance(loss, Tensor) or isinstance(group["d_tilde"], Tensor)):
            return False
        if not all(g["fused"] or g["capturable"] for g in self.param_groups):
            return False
        return bool(
            self.defaults["fused"]
            or self.defaults["capturable"]
            or _first_param_device(self).type != "cpu"
        )

    def _step_on_host(self, loss: object, prepared: list[_PreparedGroup]) -> None:
        loss_value = loss_to_float(loss)
        objective = loss_value
        if objective is not None and self.param_groups[0]["maximize"]:
            objective = -objective  # maximising f is minimising -f, whose bound is -f_star
        previous = self.feedback_state()
        update = (
            FeedbackUpdate(previous, None)
            if self._gradients_overflowed()
            else self._feedback(previous, objective)
        )
        d_tilde = update.state.d_tilde
        for group, tensors in zip(self.param_groups, prepared, strict=True):
            lr, eps = self._adam_lr_and_eps(group["lr"], group["eps"], d_tilde)
            self._adam_step(group, tensors, lr, eps)
        for group in self.param_groups:
            _write_state(group, update.state)
        if update.event is not None:
            self._warn_once(update.event, loss_value, update.state)

    def _step_on_device(self, loss: object, prepared: list[_PreparedGroup]) -> None:
        """The feedback and lr / d_tilde as 0-dim device tensors: no ``.item()``, no branch on
        a value. Edge cases apply through ``where``, silently (a warning would need a read).
        """
        device = _first_param_device(self)
        state_dtype = torch.float32 if device.type == "mps" else torch.float64
        previous = self._state_on_device(device, state_dtype)
        if loss is None:
            new_state = previous
            if LossEvent.MISSING not in self._warned:  # the message reads d_tilde: warn once
                self._warn_once(LossEvent.MISSING, None, self.feedback_state())
        else:
            value = loss_to_device_scalar(loss, device, state_dtype)
            if self.param_groups[0]["maximize"]:
                value = -value
            new_state = self._device_feedback(previous, value)
            found_inf = getattr(self, "found_inf", None)
            if found_inf is not None:
                overflow = found_inf.to(device, non_blocking=True) > 0
                new_state = tuple(  # type: ignore[assignment]
                    torch.where(overflow, old, new)
                    for old, new in zip(previous, new_state, strict=True)
                )
        d_tilde = new_state[0]
        # PyTorch's CPU fused kernel reads a float64 lr exactly like a float lr; the CUDA one
        # takes a float32 tensor, as torch.optim.Adam documents for a tensor lr.
        lr_dtype = torch.float64 if device.type == "cpu" else torch.float32
        for group, tensors in zip(self.param_groups, prepared, strict=True):
            lr = torch.as_tensor(group["lr"], dtype=state_dtype, device=device) / d_tilde
            self._adam_step(group, tensors, lr.to(lr_dtype), group["eps"])
        for group in self.param_groups:
            group["d_tilde"], group["prev_loss"], group["feedback_steps"] = new_state

    def _state_on_device(
        self, device: torch.device, dtype: torch.dtype
    ) -> tuple[Tensor, Tensor, Tensor]:
        group = self.param_groups[0]
        d_tilde, prev_loss, steps = (group[key] for key in _STATE_KEYS)
        if isinstance(d_tilde, Tensor):
            return (
                d_tilde.to(device, dtype),
                prev_loss.to(device, dtype),
                steps.to(device),
            )
        return (
            torch.tensor(d_tilde, dtype=dtype, device=device),
            torch.tensor(0.0 if prev_loss is None else prev_loss, dtype=dtype, device=device),
            torch.tensor(steps, dtype=torch.int64, device=device),
        )

    def _gradients_overflowed(self) -> bool:
        """True when GradScaler (fused path) found inf/NaN gradients: the kernel skips the step."""
        found_inf = getattr(self, "found_inf", None)
        return found_inf is not None and bool(found_inf.item() != 0)

    def _prepare_group(self, group: dict[str, Any]) -> _PreparedGroup:
        """This step's gradients and the group's Adam state; raises before anything moves."""
        if torch.compiler.is_compiling():
            # torch.compile runs _init_group eagerly (Adam's signature) and guards on the
            # state, so the compiled step needs no cache of its own.
            lists: tuple[list[Tensor], ...] = ([], [], [], [], [], [])
            has_complex = self._init_group(group, *lists)
            params_, grads_, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps = lists
            return _PreparedGroup(
                grads_,
                _GroupTensors(
                    (),
                    tuple(params_),
                    tuple(exp_avgs),
                    tuple(exp_avg_sqs),
                    tuple(max_exp_avg_sqs),
                    tuple(state_steps),
                    has_complex,
                ),
            )
        params = group["params"]
        grads_or_none = [param.grad for param in params]
        grads = [grad for grad in grads_or_none if grad is not None]
        if any(grad.is_sparse for grad in grads):
            raise RuntimeError(
                "Eve does not support sparse gradients (neither does Adam); "
                "use dense gradients, or torch.optim.SparseAdam for sparse embeddings."
            )
        with_grad = tuple(
            id(param) for param, grad in zip(params, grads_or_none, strict=True) if grad is not None
        )
        return _PreparedGroup(grads, self._group_tensors(group, with_grad))

    def _adam_step(
        self, group: dict[str, Any], prepared: _PreparedGroup, lr: float | Tensor, eps: float
    ) -> None:
        tensors, grads = prepared.tensors, prepared.grads
        beta1, beta2 = group["betas"]
        adam_kernel(
            list(tensors.params),
            grads,
            list(tensors.exp_avgs),
            list(tensors.exp_avg_sqs),
            list(tensors.max_exp_avg_sqs),
            list(tensors.state_steps),
            amsgrad=group["amsgrad"],
            has_complex=tensors.has_complex,
            beta1=beta1,
            beta2=beta2,
            lr=lr,
            weight_decay=group["weight_decay"],
            eps=eps,
            maximize=group["maximize"],
            foreach=group["foreach"],
            capturable=group["capturable"],
            differentiable=group["differentiable"],
            fused=group["fused"],
            grad_scale=getattr(self, "grad_scale", None),
            found_inf=getattr(self, "found_inf", None),
            decoupled_weight_decay=group["decoupled_weight_decay"],
        )

    def _group_tensors(self, group: dict[str, Any], with_grad: tuple[int, ...]) -> _GroupTensors:
        """The group's parameters with a gradient and their Adam state, cached between steps.

        Walking thousands of parameters and their state dicts costs more than a fused kernel on
        small tensors, so the lists are kept while the parameters with a gradient (by identity;
        the cache holds them, so no identity is reused) and the flags are unchanged, and while
        the state tensors are the same objects (checked on
        the first one; ``load_state_dict`` and ``add_param_group`` drop the cache). Replacing
        state tensors in ``optimizer.state`` by hand is not supported, as in other fused
        optimizers; modify them in place instead.
        """
        key = (
            with_grad,
            group["amsgrad"],
            group["fused"],
            group["capturable"],
        )
        cached = self._tensor_cache.get(id(group))
        if cached is not None and cached.key == key and self._state_unchanged(cached):
            return cached
        lists: tuple[list[Tensor], ...] = ([], [], [], [], [], [])
        has_complex = self._init_group(group, *lists)
        params, _, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps = lists
        tensors = _GroupTensors(
            key,
            tuple(params),
            tuple(exp_avgs),
            tuple(exp_avg_sqs),
            tuple(max_exp_avg_sqs),
            tuple(state_steps),
            has_complex,
        )
        self._tensor_cache[id(group)] = tensors
        return tensors

    def _state_unchanged(self, cached: _GroupTensors) -> bool:
        if not cached.params:
            return True
        state = self.state.get(cached.params[0])
        return state is not None and state.get("exp_avg") is cached.exp_avgs[0]

    def _init_group(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        exp_avgs: list[Tensor],
        exp_avg_sqs: list[Tensor],
        max_exp_avg_sqs: list[Tensor],
        state_steps: list[Tensor],
    ) -> bool:
        """Collect the parameters with a gradient and their Adam state (created lazily).

        The signature and the state are exactly ``torch.optim.Adam``'s (``step``, ``exp_avg``,
        ``exp_avg_sq``, ``max_exp_avg_sq``, same dtypes and devices), so Adam checkpoints
        interoperate and ``torch.compile`` runs it eagerly as it does Adam's. Returns whether a
        parameter is complex.
        """
        has_complex = False
        on_device_step = group["capturable"] or group["fused"]
        for param in group["params"]:
            if param.grad is None:
                continue
            if param.grad.is_sparse:
                raise RuntimeError(
                    "Eve does not support sparse gradients (neither does Adam); "
                    "use dense gradients, or torch.optim.SparseAdam for sparse embeddings."
                )
            has_complex |= torch.is_complex(param)
            params.append(param)
            grads.append(param.grad)
            state = self.state[param]
            if len(state) == 0:
                if group["fused"]:
                    _device_dtype_check_for_fused(param)
                state["step"] = (
                    torch.zeros((), dtype=_step_dtype(group["fused"]), device=param.device)
                    if on_device_step
                    else torch.tensor(0.0, dtype=_step_dtype(False))
                )
                state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = torch.zeros_like(
                        param, memory_format=torch.preserve_format
                    )
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if group["amsgrad"]:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])
            state_steps.append(state["step"])
        return has_complex

    def _warn_once(self, event: LossEvent, loss: float | None, state: FeedbackState) -> None:
        if event in self._warned:
            return
        self._warned.add(event)
        name = type(self).__name__
        group = self.param_groups[0]
        f_star = group.get("f_star")
        maximize = group["maximize"]
        bound_word, bound_kind = (
            ("above", "an upper bound") if maximize else ("below", "a lower bound")
        )
        messages = {
            LossEvent.MISSING: (
                f"{name}.step() got no loss, so d_tilde was not updated (it stays "
                f"{state.d_tilde:.6g}); parameters were still updated. Eve needs the loss every "
                "step: opt.step(loss=loss) or opt.step(closure). Pass require_loss=True to make "
                "this an error. Reported once per optimizer."
            ),
            LossEvent.NON_FINITE: (
                f"{name}.step() got a non-finite loss ({loss}); the feedback skipped this step "
                f"and d_tilde kept its value {state.d_tilde:.6g}. Reported once per optimizer."
            ),
            LossEvent.NON_POSITIVE: (
                f"{name}.step() got a loss <= 0 ({loss}); the first version of Eve needs "
                "positive losses, so the feedback skipped this step. Reported once per optimizer."
            ),
            LossEvent.BELOW_F_STAR: (
                f"{name}.step() got loss {loss} {bound_word} f_star={f_star}, so f_star is not "
                f"{bound_kind} of this objective; set f_star to its true {bound_kind.split()[-1]} "
                "(0.0 for cross-entropy). Continuing with the distance |min(f_t, f_{t-1}) - "
                "f_star|. Reported once per optimizer."
            ),
        }
        warnings.warn(messages[event], EveWarning, stacklevel=_caller_stacklevel())


class Eve(_LossFeedbackAdam):
    r"""Eve (final version): Adam whose learning rate is divided by a loss-driven coefficient.

    **Pass the loss to every step**: ``opt.step(loss=loss)`` or ``opt.step(closure)``.

    .. math::
        d_t = \frac{|f_t - f_{t-1}|}{|\min(f_t, f_{t-1}) - f^\star|}, \quad
        \tilde d_t = \beta_3 \tilde d_{t-1} + (1 - \beta_3)\,\mathrm{clip}(d_t, 1/c, c),
        \quad \tilde d_1 = 1

        \theta_t = \theta_{t-1} - \frac{\alpha_1}{\tilde d_t}
            \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    with :math:`\hat m_t, \hat v_t` Adam's bias-corrected moments (arXiv:1611.01505, Algorithm 1).
    The per-parameter update is ``torch.optim.adam.adam`` called with ``lr / d_tilde``, so every
    Adam option works and ``c=1`` is ``torch.optim.Adam`` bit for bit on the same code path.

    Args:
        params: parameters or param groups, as for ``torch.optim.Adam``.
        lr: :math:`\alpha_1`, the base learning rate (default 1e-3); schedulers move it and
            Eve divides it by ``d_tilde`` at each step without ever writing ``group["lr"]``.
        betas: ``(beta1, beta2)`` as in Adam, or ``(beta1, beta2, beta3)`` (then do not pass
            ``beta3``).
        eps: added to :math:`\sqrt{\hat v_t}` (default 1e-8).
        weight_decay: L2 penalty as in Adam, or decoupled with ``decoupled_weight_decay=True``;
            the decoupled decay is scaled by the effective lr ``lr / d_tilde``, as AdamW scales
            it by a scheduled lr.
        amsgrad: Adam's AMSGrad variant.
        beta3: smoothing of ``d_tilde`` (default 0.999).
        c: clip constant: the effective lr stays within ``[lr / c, c * lr]`` (default 10).
            ``c=1`` gives Adam.
        f_star: the minimum of the loss (default 0, right for cross-entropy and squared error
            without a regulariser). With ``maximize=True`` it is the supremum of the objective.
        decoupled_weight_decay, maximize, foreach, fused, capturable, differentiable: as in
            ``torch.optim.Adam``. ``maximize`` also negates the loss for the feedback.
        require_loss: if True, a ``step()`` without a loss raises instead of warning.
        sync_loss: under ``torch.distributed`` with more than one rank, average the loss over
            ``loss_group`` before using it (default True), so that every replica computes the
            same ``d_tilde``; without it, DDP/ZeRO/FSDP replicas silently drift apart. Turn it
            off only when you already pass a global loss, or when not every rank calls ``step``
            (pipeline parallelism: the collective would deadlock).
        loss_group: the process group to average over (default: the default group).

    Edge cases (SPEC.md): a zero distance ``min(f_t, f_{t-1}) - f_star`` gives ``d_hat = 1`` if
    the loss did not change, else ``c``; a loss below ``f_star`` warns once and proceeds; a NaN or
    infinite loss, or a missing one, skips the feedback for that step (``d_tilde`` and the previous
    loss are kept, one warning per kind) while the parameters are still updated; the first
    finite loss only initialises the previous loss. Warnings use :class:`eveopt.EveWarning`.

    State: ``d_tilde``, ``prev_loss`` and ``feedback_steps`` are stored in every param group
    (equal in all; group 0 is read), so they travel with ``state_dict()`` and load with
    ``torch.load(..., weights_only=True)``; per-parameter state is exactly Adam's.

    Example:
        >>> import torch
        >>> from eveopt import Eve
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = Eve(model.parameters(), lr=1e-2)
        >>> x, y = torch.randn(8, 3), torch.randn(8, 1)
        >>> for _ in range(3):
        ...     opt.zero_grad()
        ...     loss = torch.nn.functional.mse_loss(model(x), y)
        ...     loss.backward()
        ...     _ = opt.step(loss=loss)
        >>> 0.1 <= opt.d <= 10.0
        True
    """

    _feedback_keys = ("beta3", "c", "f_star")
    _has_device_feedback = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] | tuple[float, float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        beta3: float | None = None,
        c: float = FINAL_DEFAULTS.c,
        f_star: float = FINAL_DEFAULTS.f_star,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        require_loss: bool = False,
        sync_loss: bool = True,
        loss_group: Any = None,
    ) -> None:
        adam_betas, beta3 = _split_betas(betas, beta3, FINAL_DEFAULTS.beta3)
        validate_final_hyperparameters(beta3, c, f_star)
        super().__init__(
            params,
            lr,
            adam_betas,
            eps,
            weight_decay,
            amsgrad,
            feedback_hyperparameters={
                "beta3": float(beta3),
                "c": float(c),
                "f_star": float(f_star),
            },
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            foreach=foreach,
            fused=fused,
            capturable=capturable,
            differentiable=differentiable,
            require_loss=require_loss,
            sync_loss=sync_loss,
            loss_group=loss_group,
        )

    def _feedback(self, state: FeedbackState, loss: float | None) -> FeedbackUpdate:
        group = self.param_groups[0]
        f_star = -group["f_star"] if group["maximize"] else group["f_star"]
        return final_update(state, loss, beta3=group["beta3"], c=group["c"], f_star=f_star)

    def _adam_lr_and_eps(self, lr: float | Tensor, eps: float, d_tilde: float) -> tuple[Any, float]:
        return lr / d_tilde, eps

    def _device_feedback(
        self, state: tuple[Tensor, Tensor, Tensor], loss: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        group = self.param_groups[0]
        f_star = -group["f_star"] if group["maximize"] else group["f_star"]
        d_tilde, prev_loss, steps = final_update_arrays(
            *state, loss, beta3=group["beta3"], c=group["c"], f_star=f_star, xp=torch
        )
        return d_tilde, prev_loss, steps


class Eve2016(_LossFeedbackAdam):
    r"""Eve, first version (2016, "Improving Stochastic Gradient Descent with Feedback").

    **Pass the loss to every step**: ``opt.step(loss=loss)`` or ``opt.step(closure)``. The loss
    must be positive (a loss <= 0 is skipped with a warning).

    .. math::
        \hat f_t = \mathrm{clip}\!\left(\frac{f_t}{\hat f_{t-1}}, lo, hi\right) \hat f_{t-1},
        \quad (lo, hi) = \begin{cases} (k+1, K+1) & f_t > \hat f_{t-1} \\
            (\tfrac{1}{K+1}, \tfrac{1}{k+1}) & \text{otherwise} \end{cases}

        d_t = \beta_3 d_{t-1} + (1-\beta_3)
            \frac{|\hat f_t - \hat f_{t-1}|}{\min(\hat f_t, \hat f_{t-1})}, \quad
        \theta_t = \theta_{t-1} - \alpha \frac{\hat m_t}{d_t \sqrt{\hat v_t} + \epsilon}

    (arXiv:1611.01505v1, with the up/down branch as corrected by the authors). ``d_t`` multiplies
    :math:`\sqrt{\hat v_t}` only, so Adam's kernel is called with ``lr / d_t`` and ``eps / d_t``.

    Args:
        params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay, foreach, fused,
        capturable, differentiable, require_loss, sync_loss, loss_group: as for :class:`Eve`.
        beta3: smoothing of ``d`` (default 0.999).
        k, K: the thresholds ``0 <= k <= K`` on the relative change of the smoothed loss
            (defaults 0.1 and 10).

    ``maximize=True`` raises: this version needs a positive loss to minimise. The feedback's
    state is stored as in :class:`Eve`, with ``prev_loss`` holding the smoothed loss.

    Example:
        >>> import torch
        >>> from eveopt import Eve2016
        >>> weight = torch.nn.Parameter(torch.ones(2))
        >>> opt = Eve2016([weight], lr=1e-2)
        >>> for _ in range(2):
        ...     opt.zero_grad()
        ...     loss = (weight**2).sum()
        ...     loss.backward()
        ...     _ = opt.step(loss=loss)
        >>> opt.feedback_state().steps
        2
    """

    _feedback_keys = ("beta3", "k", "K")

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] | tuple[float, float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        beta3: float | None = None,
        k: float = FIRST_DEFAULTS.k,
        K: float = FIRST_DEFAULTS.K,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        require_loss: bool = False,
        sync_loss: bool = True,
        loss_group: Any = None,
    ) -> None:
        if maximize:
            raise ValueError(
                "maximize=True is not supported by Eve2016: the first version needs a positive "
                "loss to minimise; minimise a positive transform of the objective, or use Eve."
            )
        adam_betas, beta3 = _split_betas(betas, beta3, FIRST_DEFAULTS.beta3)
        validate_first_hyperparameters(beta3, k, K)
        super().__init__(
            params,
            lr,
            adam_betas,
            eps,
            weight_decay,
            amsgrad,
            feedback_hyperparameters={"beta3": float(beta3), "k": float(k), "K": float(K)},
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=False,
            foreach=foreach,
            fused=fused,
            capturable=capturable,
            differentiable=differentiable,
            require_loss=require_loss,
            sync_loss=sync_loss,
            loss_group=loss_group,
        )

    def _feedback(self, state: FeedbackState, loss: float | None) -> FeedbackUpdate:
        group = self.param_groups[0]
        return first_update(state, loss, beta3=group["beta3"], k=group["k"], K=group["K"])

    def _adam_lr_and_eps(self, lr: float | Tensor, eps: float, d_tilde: float) -> tuple[Any, float]:
        # lr m / (d sqrt(v) + eps) == (lr / d) m / (sqrt(v) + eps / d)
        return lr / d_tilde, eps / d_tilde


def _split_betas(
    betas: tuple[float, float] | tuple[float, float, float],
    beta3: float | None,
    default_beta3: float,
) -> tuple[tuple[float, float], float]:
    """Accept Adam's ``(beta1, beta2)`` plus ``beta3=``, or the 3-tuple other Eve ports take."""
    if not isinstance(betas, tuple | list) or len(betas) not in (2, 3):
        raise ValueError(f"Invalid betas: {betas!r}; pass (beta1, beta2) or (beta1, beta2, beta3).")
    if len(betas) == 3:
        if beta3 is not None:
            raise ValueError(
                f"betas={tuple(betas)!r} already gives beta3, and beta3={beta3!r} was passed too; "
                "give beta3 one way."
            )
        return (betas[0], betas[1]), betas[2]
    return (betas[0], betas[1]), default_beta3 if beta3 is None else beta3


def _validate_adam_arguments(
    lr: float | Tensor, betas: tuple[float, float], eps: float, weight_decay: float
) -> None:
    """Adam's own checks, with messages that name the argument and the valid range."""
    if isinstance(lr, Tensor):
        if lr.numel() != 1:
            raise ValueError(
                f"Invalid lr: a tensor lr must have one element, got shape {lr.shape}."
            )
    elif not isinstance(lr, numbers.Real):
        raise ValueError(f"Invalid lr: {lr!r}; it must be a number >= 0.")
    if not (lr >= 0.0 and math.isfinite(float(lr))):
        raise ValueError(f"Invalid lr: {float(lr)!r}; it must be a finite number >= 0.")
    for index, beta in enumerate(betas):
        if isinstance(beta, Tensor) and beta.numel() == 1:
            beta = float(beta)  # Adam accepts one-element tensor betas
        if not (isinstance(beta, numbers.Real) and 0.0 <= beta < 1.0):
            raise ValueError(f"Invalid betas[{index}]: {beta!r}; it must satisfy 0 <= beta < 1.")
    if not (isinstance(eps, numbers.Real) and eps >= 0.0):
        raise ValueError(f"Invalid eps: {eps!r}; it must be a number >= 0.")
    if not (isinstance(weight_decay, numbers.Real) and weight_decay >= 0.0):
        raise ValueError(f"Invalid weight_decay: {weight_decay!r}; it must be a number >= 0.")


def _step_dtype(fused: bool | None) -> torch.dtype:
    """The dtype of Adam's per-parameter step counter (as ``torch.optim.Adam`` chooses it)."""
    if fused:
        return torch.float32
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


_INTERNAL_DIRS = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
    os.path.dirname(os.path.abspath(torch.__file__)) + os.sep,
)


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the user's line calling ``step``.

    Counts the frames of eveopt's optimizer and of torch (its step wrappers, GradScaler, ZeRO)
    above the caller of ``warnings.warn``.
    """
    level = 2  # 1 is _warn_once itself
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL_DIRS):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _validate_loss(loss: object) -> None:
    """Reject a malformed loss before anything changes (tensors: metadata only, no host read)."""
    if isinstance(loss, Tensor):
        check_loss_tensor(loss)
    elif loss is not None:
        loss_to_float(loss)


def _choose_kernel_path(group: dict[str, Any]) -> None:
    """Fill ``fused``/``foreach`` when the user set neither: the fastest correct Adam kernel.

    Fused where every parameter is a floating tensor on a device with a fused Adam kernel (CPU
    included); else the multi-tensor path (complex parameters, for instance); never either with
    ``differentiable=True``, which only the for-loop supports.
    """
    if group["fused"] is not None or group["foreach"] is not None or group["differentiable"]:
        return
    fused_devices = _get_fused_kernels_supported_devices()
    params = group["params"]
    fusable = all(torch.is_floating_point(p) and p.device.type in fused_devices for p in params)
    group["fused"] = bool(params) and fusable
    group["foreach"] = not group["fused"]


def _first_param_device(optimizer: Optimizer) -> torch.device:
    for group in optimizer.param_groups:
        for param in group["params"]:
            return param.device  # type: ignore[no-any-return]
    return torch.device("cpu")


def _write_state(group: dict[str, Any], state: FeedbackState) -> None:
    group["d_tilde"] = state.d_tilde
    group["prev_loss"] = state.prev_loss
    group["feedback_steps"] = state.steps
