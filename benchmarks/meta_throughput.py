"""Second-order MAML throughput: lifelong.meta (vmap over tasks) against the per-task loop with ``higher``.

What it measures
----------------
Wall time of one meta-gradient — forward through the inner loop, query loss, backward to θ — of
second-order MAML (Finn et al. 2017) on sinusoid regression: MLP 1-40-40-1 (ReLU), 25 tasks per
meta-batch, 10-shot support, 10-shot query, 5 inner SGD steps with lr 0.01, MSE, one CPU thread
(``torch.set_num_threads(1)``), done two ways in one process on the same tasks and weights:

1. ``vmap``: ``lifelong.meta.meta_loss(method="maml")`` then ``torch.autograd.grad``: the losses are
   written for one task with torch.func and vmapped over the 25 tasks, and each inner step
   differentiates their sum (every task's own gradient, in one ``torch.autograd.grad``). From a
   signature's 50th call on (``replay.RECORD_AT``), the vmapped forward and loss are replayed from
   their recording (``lifelong.meta.replay``), as in any meta-training past its first steps: the
   warm-up makes those calls, and the first row's gradient difference compares the replayed
   meta-gradient with the first, vmapped one.
2. ``higher loop``: the usual per-task loop with the ``higher`` library: for each task,
   ``higher.innerloop_ctx(model, SGD(lr), copy_initial_weights=False, track_higher_grads=True)``,
   5 ``diffopt.step(support_loss)``, then ``(query_loss / 25).backward()`` into the model's grads
   (``model`` is a copy of the same network).

For context a third row, ``autograd loop``, runs the per-task loop by hand
(``torch.autograd.grad(create_graph=True)``, no ``higher``); it does not enter the ratio.

After an untimed warm-up the variants are interleaved (vmap, higher, autograd, vmap, ...) so that
machine noise hits all alike; the table gives the median and minimum time per meta-batch and the
median throughput in tasks/s. Before timing, the meta-gradients of all variants are compared
(max absolute difference, must be below 1e-4).

Target (issue #13): vmap/loop >= 12 (tasks/s, medians). The last line printed is exactly ``vmap/loop = X.X``.

Usage: ``python benchmarks/meta_throughput.py [--repeats 21] [--warmup 2]``
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from lifelong.meta import SinusoidFamily, meta_loss, replay

N_TASKS, K_SUPPORT, K_QUERY, STEPS, LR = 25, 10, 10, 5, 0.01


def make_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))


def grad_vmap(net, tasks):
    params = dict(net.named_parameters())
    loss = meta_loss(net, params, tasks, F.mse_loss, method="maml", steps=STEPS, lr=LR)
    return list(torch.autograd.grad(loss, list(params.values())))


def grad_higher(net, tasks):
    import higher

    net.zero_grad(set_to_none=True)
    inner_opt = torch.optim.SGD(net.parameters(), lr=LR)
    for xs, ys, xq, yq in zip(*tasks):
        with higher.innerloop_ctx(net, inner_opt, copy_initial_weights=False, track_higher_grads=True) as (fnet, diffopt):
            for _ in range(STEPS):
                diffopt.step(F.mse_loss(fnet(xs), ys))
            (F.mse_loss(fnet(xq), yq) / N_TASKS).backward()
    return [p.grad for p in net.parameters()]


def grad_autograd_loop(net, tasks):
    params = dict(net.named_parameters())
    total = 0.0
    for xs, ys, xq, yq in zip(*tasks):
        fast = dict(params)
        for _ in range(STEPS):
            loss = F.mse_loss(torch.func.functional_call(net, fast, (xs,)), ys)
            gs = torch.autograd.grad(loss, list(fast.values()), create_graph=True)
            fast = {n: p - LR * g for (n, p), g in zip(fast.items(), gs)}
        total = total + F.mse_loss(torch.func.functional_call(net, fast, (xq,)), yq)
    return list(torch.autograd.grad(total / N_TASKS, list(params.values())))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    tasks = SinusoidFamily().sample(N_TASKS, K_SUPPORT, K_QUERY, torch.Generator().manual_seed(0))
    net = make_mlp()
    variants = {"vmap": (net, grad_vmap), "higher loop": (copy.deepcopy(net), grad_higher),
                "autograd loop": (copy.deepcopy(net), grad_autograd_loop)}

    reference = grad_vmap(net, tasks)  # vmapped: the first calls of each signature
    for _ in range(replay.RECORD_AT):  # the forward is recorded; from here on it is replayed
        grad_vmap(net, tasks)
    diffs = {}
    for name, (model, fn) in variants.items():
        got = fn(model, tasks)
        diffs[name] = max((a - b).abs().max().item() for a, b in zip(got, reference))
        assert diffs[name] < 1e-4, f"{name}: meta-gradient differs from vmap's by {diffs[name]:.2e}"

    for _ in range(args.warmup):
        for model, fn in variants.values():
            fn(model, tasks)
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (model, fn) in variants.items():
            start = time.perf_counter()
            fn(model, tasks)
            times[name].append(time.perf_counter() - start)

    print(f"second-order MAML, sinusoid, MLP 1-40-40-1, {N_TASKS} tasks x ({K_SUPPORT}+{K_QUERY}) shots, "
          f"{STEPS} inner steps, 1 thread, {args.repeats} repeats (torch {torch.__version__})")
    print(f"{'variant':<14} {'median ms':>10} {'min ms':>8} {'tasks/s':>9} {'max |Δgrad| vs vmap':>21}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<14} {med * 1e3:>10.1f} {min(ts) * 1e3:>8.1f} {N_TASKS / med:>9.0f} {diffs[name]:>21.1e}")
    speedup = statistics.median(times["higher loop"]) / statistics.median(times["vmap"])
    print(f"autograd loop/vmap = {statistics.median(times['autograd loop']) / statistics.median(times['vmap']):.1f}")
    print(f"vmap/loop = {speedup:.1f}")


if __name__ == "__main__":
    main()
