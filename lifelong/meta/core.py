"""Gradient-based meta-learning as pure functions of a parameter dict.

Every loss is written for ONE task with ``torch.func.functional_call`` and is then ``vmap``-ed over
the task batch (DESIGN.md, principle 3): no model copies, no per-task Python loop. The inner loop
differentiates the sum of the B tasks' support losses with ``torch.autograd.grad``, which gives each
task its own gradient (task b's loss depends on its own parameters alone) in about three quarters of
the time ``torch.func.grad`` nested in ``vmap`` takes (``benchmarks/meta_throughput.py``).
The network's vmapped forward is replayed from a recording of its aten ops where one holds
(``lifelong.meta.replay``): the same kernels without vmap's identities, bit-identical results.
Parameters are a ``{name: tensor}`` dict, typically ``dict(model.named_parameters())``;
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
from torch.func import functional_call, vmap

from lifelong.meta.replay import batched_losses
from lifelong.models import batch_statistics, in_layout_of

Params = dict[str, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

METHODS = ("maml", "fomaml", "metasgd", "anil")


def task_loss(model: nn.Module, params: Mapping[str, torch.Tensor], x, y, loss_fn: LossFn) -> torch.Tensor:
    """Loss of the model with the given parameters on one batch."""
    return loss_fn(functional_call(model, dict(params), (x,)), y)


def task_losses(model: nn.Module, params: Mapping[str, torch.Tensor], x, y, loss_fn: LossFn,
                per_task: Iterable[str] | None = None) -> torch.Tensor:
    """The B losses of B tasks, ``x``, ``y`` shaped (B, K, ...): ``task_loss`` for each, ``params`` as in
    ``over_tasks``. Vmapped over the tasks, or replayed from a recording where one holds
    (``lifelong.meta.replay``); one task is ``over_tasks``' plain call."""
    if len(x) == 1:
        return over_tasks(lambda p, x, y: task_loss(model, p, x, y, loss_fn), params, x, y, per_task=per_task)
    return batched_losses(model, dict(params), x, y, loss_fn, task_dims(params, per_task))


def over_tasks(fn: Callable[..., torch.Tensor], params: Mapping[str, torch.Tensor], *data: torch.Tensor,
               per_task: Iterable[str] | None = None) -> torch.Tensor:
    """``fn(params_b, *data_b)`` for the B tasks of ``data`` (each shaped (B, ...)), stacked: vmapped over
    the tasks. The entries of ``params`` named in ``per_task`` (default: all) hold one tensor per task,
    stacked; the others are shared. One task is a plain call: vmap's batching of convolutions and
    pooling costs about a quarter more there."""
    dims = task_dims(params, per_task)
    if len(data[0]) == 1:
        one = {n: t[0] if dims[n] == 0 else t for n, t in params.items()}
        return fn(one, *(d[0] for d in data)).unsqueeze(0)
    return vmap(fn, in_dims=(dims,) + (0,) * len(data))(dict(params), *data)


def task_dims(params: Mapping[str, torch.Tensor], per_task: Iterable[str] | None = None) -> dict[str, int | None]:
    """vmap's ``in_dims`` for ``params``: 0 for the entries named in ``per_task`` (default: all), which
    hold one tensor per task, stacked; None for the shared ones."""
    names = set(params) if per_task is None else set(per_task)
    return {n: 0 if n in names else None for n in params}


def adapt(model: nn.Module, params: Mapping[str, torch.Tensor], x_support, y_support, loss_fn: LossFn, *,
          steps: int, lr: float | Mapping[str, torch.Tensor], first_order: bool = False,
          per_param_lr: Mapping[str, torch.Tensor] | None = None, only: Iterable[str] | None = None) -> Params:
    """``steps`` SGD steps on one task's support set, from ``params``; returns the adapted dict.

    θ' ← θ' − α ⊙ ∇_θ' L_support(θ'), where α is the scalar ``lr`` or, for Meta-SGD, the tensor
    ``per_param_lr[name]`` (a dict may also be passed as ``lr``). Only the parameters named in
    ``only`` move (ANIL: the head); the others are used as given. With ``first_order=True`` the
    inner gradients are detached, so no second derivatives flow back to ``params`` (FOMAML).
    Differentiable with respect to ``params`` and ``per_param_lr``, whatever the caller's grad mode.
    """
    names = list(params) if only is None else list(only)
    return _sgd_steps(model, params, dict(params), names, per_param_lr if per_param_lr is not None else lr, steps,
                      first_order, lambda fast: task_loss(model, fast, x_support, y_support, loss_fn))


def adapt_tasks(model: nn.Module, params: Mapping[str, torch.Tensor], xs, ys, loss_fn: LossFn, *,
                steps: int, lr: float | Mapping[str, torch.Tensor], first_order: bool = False,
                per_param_lr: Mapping[str, torch.Tensor] | None = None, only: Iterable[str] | None = None,
                init: Callable[[Params, torch.Tensor, torch.Tensor], Params] | None = None) -> Params:
    """``adapt`` for B tasks at once, supports ``xs``, ``ys`` shaped (B, K, ...); returns every task's
    adapted parameters, stacked: each entry is (B, *shape).

    The support loss is written for one task and vmapped over the tasks (``task_losses``); the B losses
    are summed, and since task b's loss depends on its own copy of the parameters alone, one
    ``torch.autograd.grad`` of the sum gives every task its own gradient. ``init(params, xs, ys)``, if
    given, sets each task's starting parameters from its support set (vmapped too).
    """
    names = list(params) if only is None else list(only)
    if init is not None:
        start, per_task = vmap(init, in_dims=(None, 0, 0))(dict(params), xs, ys), list(params)
    else:  # a view per task of what moves; the rest is shared as it is
        start, per_task = {n: p.expand(len(xs), *p.shape) if n in names else p for n, p in params.items()}, names
    fast = {n: in_layout_of(t, params[n]) for n, t in start.items()}  # expand drops a size-one dimension's stride
    fast = _sgd_steps(model, params, fast, names, per_param_lr if per_param_lr is not None else lr, steps,
                      first_order, lambda fast: task_losses(model, fast, xs, ys, loss_fn, per_task).sum())
    return {n: t if n in per_task else t.expand(len(xs), *t.shape) for n, t in fast.items()}


def _sgd_steps(model, params, fast: Params, names, rates, steps: int, first_order: bool, loss_of) -> Params:
    """``steps`` SGD steps of ``loss_of(fast)``, moving the entries ``names`` of ``fast`` (each in the
    memory layout of its parameter in ``params``). BatchNorm layers in train mode use each batch's
    statistics and leave their buffers alone (``batch_statistics``)."""
    with torch.inference_mode(False), torch.enable_grad(), batch_statistics(model):
        for _ in range(steps):
            if first_order:  # the gradient is a constant: computed off the outer graph, nothing recorded
                base = {n: t.detach() for n, t in fast.items()}
                moving = {n: base[n].requires_grad_() for n in names}
            else:  # a tensor without a graph (detached parameters) is differentiated as a leaf
                base = fast
                moving = {n: fast[n] if fast[n].requires_grad else fast[n].detach().requires_grad_() for n in names}
            loss = loss_of({**base, **moving})
            grads = torch.autograd.grad(loss, list(moving.values()), create_graph=not first_order)
            for n, g in zip(names, grads):
                rate = rates[n] if isinstance(rates, Mapping) else rates
                moved = fast[n].add(g, alpha=-rate) if isinstance(rate, (int, float)) else fast[n] - rate * g
                fast[n] = in_layout_of(moved, params[n])
    return fast


def learned_rates(params: Mapping[str, torch.Tensor], lr: float) -> Params:
    """Meta-SGD's inner rates (Li et al. 2017): one per entry of each of ``params``, all starting at
    ``lr``; leaves for the outer optimizer to learn with θ (``per_param_lr`` of ``adapt`` / ``meta_loss``)."""
    return {n: torch.full_like(p, lr).requires_grad_() for n, p in params.items()}


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

    ``adapt_tasks`` then the query losses (``task_losses``), vmapped over the batch dimension of the
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

    xs, ys, xq, yq = tasks
    adapted = adapt_tasks(model, params, xs, ys, loss_fn, steps=steps, lr=lr, first_order=method == "fomaml",
                          per_param_lr=rates, only=only if method == "anil" else None, init=init)
    return task_losses(model, adapted, xq, yq, loss_fn).mean()


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
    adapted = adapt_tasks(model, theta, x, y, loss_fn, steps=steps, lr=lr, first_order=True)
    return {n: (adapted[n] - theta[n]).mean(0) for n in theta}
