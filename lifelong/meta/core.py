"""Gradient-based meta-learning as pure functions of a parameter dict.

Every inner loop is written for ONE task with ``torch.func.functional_call`` and ``torch.func.grad``
and is then ``vmap``-ed over the task batch (DESIGN.md, principle 3): no model copies, no per-task
Python loop. Parameters are a ``{name: tensor}`` dict, typically ``dict(model.named_parameters())``;
``meta_loss`` returns a scalar whose gradient with respect to those tensors is the meta-gradient
(call ``.backward()`` or ``torch.autograd.grad`` on it).

Tasks come batched: ``tasks = (xs, ys, xq, yq)`` with shapes ``(B, K, ...)`` — support inputs and
targets, query inputs and targets — as produced by ``lifelong.meta.tasks.SinusoidFamily.sample``.

Methods (``meta_loss(method=...)``):

* ``"maml"`` — Finn, Abbeel & Levine 2017, "Model-Agnostic Meta-Learning for Fast Adaptation of
  Deep Networks": query loss after a few SGD steps on the support set, differentiated through
  the inner steps (second order).
* ``"fomaml"`` — first-order MAML (same paper, §5.2): inner gradients treated as constants, so the
  meta-gradient is the query gradient at the adapted parameters.
* ``"metasgd"`` — Li, Zhou, Chen & Li 2017, "Meta-SGD: Learning to Learn Quickly for Few-Shot
  Learning": one learned learning rate per parameter entry (``per_param_lr``), meta-learned with θ.
* ``"anil"`` — Raghu, Raghu, Bengio & Vinyals 2020, "Rapid Learning or Feature Reuse? Towards
  Understanding the Effectiveness of MAML": only the head adapts in the inner loop (``only``);
  the body is learned in the outer loop alone.

Reptile (Nichol, Achiam & Schulman 2018, "On First-Order Meta-Learning Algorithms") has no query
loss; ``reptile_direction`` returns the mean of (adapted − θ), the direction θ moves towards.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from lifelong.models import batch_statistics

Params = dict[str, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

METHODS = ("maml", "fomaml", "metasgd", "anil")


def task_loss(model: nn.Module, params: Mapping[str, torch.Tensor], x, y, loss_fn: LossFn) -> torch.Tensor:
    """Loss of the model with the given parameters on one batch."""
    return loss_fn(functional_call(model, dict(params), (x,)), y)


def adapt(model: nn.Module, params: Mapping[str, torch.Tensor], x_support, y_support, loss_fn: LossFn, *,
          steps: int, lr: float | Mapping[str, torch.Tensor], first_order: bool = False,
          per_param_lr: Mapping[str, torch.Tensor] | None = None, only: Iterable[str] | None = None) -> Params:
    """``steps`` SGD steps on one task's support set, from ``params``; returns the adapted dict.

    θ' ← θ' − α ⊙ ∇_θ' L_support(θ'), where α is the scalar ``lr`` or, for Meta-SGD, the tensor
    ``per_param_lr[name]`` (a dict may also be passed as ``lr``). Only the parameters named in
    ``only`` move (ANIL: the head); the others are used as given. With ``first_order=True`` the
    inner gradients are detached, so no second derivatives flow back to ``params`` (FOMAML).
    Differentiable with respect to ``params`` and ``per_param_lr``; composable with ``vmap``.
    """
    rates = per_param_lr if per_param_lr is not None else lr
    names = list(params) if only is None else list(only)
    fast = dict(params)
    with batch_statistics(model):  # BatchNorm in train mode: each batch's statistics, buffers untouched
        return _sgd_steps(model, fast, names, rates, x_support, y_support, loss_fn, steps, first_order)


def _sgd_steps(model, fast: Params, names, rates, x_support, y_support, loss_fn, steps: int, first_order: bool):
    """``adapt``'s steps, moving the entries ``names`` of ``fast``."""
    def support_loss(moving, frozen):
        return task_loss(model, {**frozen, **moving}, x_support, y_support, loss_fn)

    for _ in range(steps):
        if first_order:  # the inner gradient is a constant: computed off the outer graph, nothing recorded
            frozen = {n: t.detach() for n, t in fast.items()}
            grads = grad(support_loss)({n: frozen[n] for n in names}, frozen)
        else:
            grads = grad(support_loss)({n: fast[n] for n in names}, fast)
        for n in names:
            g = grads[n]
            rate = rates[n] if isinstance(rates, Mapping) else rates
            fast[n] = fast[n] - rate * g
    return fast


def head_names(model: nn.Module) -> list[str]:
    """Names of the parameters of the last module that has any: the head that ANIL adapts."""
    last = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))][-1]
    return [n for n, p in model.named_parameters() if any(p is q for q in last.parameters(recurse=False))]


def meta_loss(model: nn.Module, params: Mapping[str, torch.Tensor], tasks, loss_fn: LossFn, *,
              method: str = "maml", steps: int = 1, lr: float = 0.01,
              per_param_lr: Mapping[str, torch.Tensor] | None = None,
              only: Iterable[str] | None = None,
              init: Callable[[Params, torch.Tensor, torch.Tensor], Params] | None = None) -> torch.Tensor:
    """Mean query loss after adaptation, over the B tasks of ``tasks = (xs, ys, xq, yq)``.

    ``adapt`` + query loss is written for one task and vmapped over the batch dimension of the
    data; ``params`` (and ``per_param_lr``) are shared, so the meta-gradient of the returned
    scalar sums the per-task contributions exactly as a per-task loop would.

    * ``maml``: second order through the inner loop.
    * ``fomaml``: ``first_order=True``.
    * ``metasgd``: ``per_param_lr`` required (learned tensors shaped like ``params``).
    * ``anil``: adapts only ``only`` (default: the parameters of the model's last module).

    ``init(params, xs, ys)``, if given, sets each task's starting parameters from its support set
    before the inner loop (Proto-MAML's head, Triantafillou et al. 2020); it is differentiated through.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "metasgd" and per_param_lr is None:
        raise ValueError("method 'metasgd' needs per_param_lr: a dict of learned rates shaped like params")
    if method == "anil" and only is None:
        only = head_names(model)
    rates = per_param_lr if method == "metasgd" else None  # Meta-SGD: learned α, shared by all tasks

    def one_task(theta, rates, xs, ys, xq, yq):
        if init is not None:
            theta = init(theta, xs, ys)
        adapted = adapt(model, theta, xs, ys, loss_fn, steps=steps, lr=lr, first_order=method == "fomaml",
                        per_param_lr=rates, only=only if method == "anil" else None)
        return task_loss(model, adapted, xq, yq, loss_fn)

    xs, ys, xq, yq = tasks
    losses = vmap(one_task, in_dims=(None, None, 0, 0, 0, 0))(dict(params), rates, xs, ys, xq, yq)
    return losses.mean()


def reptile_direction(model: nn.Module, params: Mapping[str, torch.Tensor], tasks, loss_fn: LossFn, *,
                      steps: int = 5, lr: float = 0.01) -> Params:
    """Reptile's update direction, mean over tasks of (θ̃_task − θ), θ̃ after ``steps`` SGD steps.

    Nichol et al. 2018: the outer step is θ ← θ + ε · direction. Each task adapts on its support
    set and query set together (Reptile has no train/test split inside a task); nothing is
    differentiated through, so the result carries no graph.
    """
    xs, ys, xq, yq = tasks
    x, y = torch.cat([xs, xq], dim=1), torch.cat([ys, yq], dim=1)
    theta = {n: p.detach() for n, p in params.items()}

    def one_task(x, y):
        adapted = adapt(model, theta, x, y, loss_fn, steps=steps, lr=lr, first_order=True)
        return {n: adapted[n] - theta[n] for n in theta}

    return {n: d.mean(0) for n, d in vmap(one_task)(x, y).items()}
