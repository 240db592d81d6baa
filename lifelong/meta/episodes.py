"""Episodes: batches of small tasks cut from a pool of labelled samples, for meta-training.

An episode is a support set and a query set of one small task. Classification episodes are
N-way K-shot (Vinyals et al. 2016): N classes drawn from the pool, K support and Q query examples
of each. Labels stay the stream's labels (not renumbered 0..N-1): a learner's outputs cover the
whole label space, and ``episode_cross_entropy`` restricts the loss to the episode's classes.
Regression episodes draw one group of the pool (one function: the samples of one regression task)
and K + Q of its points.

Both return ``(xs, ys, xq, yq)`` batched over episodes, the layout ``lifelong.meta.core``
vmaps over, and draw everything from the ``torch.Generator`` they are given.
"""
from __future__ import annotations

import torch


def positions(labels: torch.Tensor, classes: torch.Tensor, n_classes: int) -> tuple[torch.Tensor, ...]:
    """For each of the sorted ``classes``, the positions of its samples in ``labels``, ascending (as
    ``(labels == c).nonzero()`` gives them), found with one sort instead of a pass per class."""
    counts = torch.bincount(labels, minlength=n_classes)[classes]
    return torch.argsort(labels, stable=True).split(counts.tolist())


def classification_episodes(x: torch.Tensor, y: torch.Tensor, n_episodes: int, n_way: int, k_support: int,
                            k_query: int, generator: torch.Generator, relabel: bool = False):
    """``n_episodes`` N-way episodes from the samples ``(x, y)``.

    N is ``n_way``, or the number of classes in the pool if smaller. A class with fewer than
    ``k_support + k_query`` samples is sampled with replacement. Returns ``(xs, ys, xq, yq)`` with
    ``xs`` of shape ``(B, N*K, ...)`` and ``ys`` of shape ``(B, N*K)``, holding the pool's labels, or
    with ``relabel`` labels 0..N−1 in the order the episode drew its classes (the episodes of a pool
    whose classes are not the learner's outputs: MAML's own protocol, and OSAKA's pre-training).
    """
    device = y.device
    pool = y.unique()
    n_way = min(n_way, len(pool))
    by_class = positions(y, pool, int(pool[-1]) + 1)  # one sort, not a pass per class
    per = k_support + k_query
    xs, ys, xq, yq = [], [], [], []
    for _ in range(n_episodes):
        picked = torch.randperm(len(pool), generator=generator, device=device)[:n_way]
        rows = []
        for c in picked.tolist():
            members = by_class[c]
            if len(members) >= per:
                take = torch.randperm(len(members), generator=generator, device=device)[:per]
            else:
                take = torch.randint(len(members), (per,), generator=generator, device=device)
            rows.append(members[take])
        rows = torch.stack(rows)  # (N, K + Q)
        s, q = rows[:, :k_support].flatten(), rows[:, k_support:].flatten()
        xs.append(x[s]), xq.append(x[q])
        if relabel:
            ys.append(torch.arange(n_way, device=device).repeat_interleave(k_support))
            yq.append(torch.arange(n_way, device=device).repeat_interleave(k_query))
        else:
            ys.append(y[s]), yq.append(y[q])
    return torch.stack(xs), torch.stack(ys), torch.stack(xq), torch.stack(yq)


def one_hot(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """A boolean ``(len(y), n_classes)`` one-hot matrix; unlike ``F.one_hot`` it reads no values, so
    ``vmap`` accepts it."""
    return y[:, None] == torch.arange(n_classes, device=y.device)


def episode_cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the classes present in ``y`` only (an episode's N ways): the other outputs
    are masked out. Written without data-dependent shapes, so it can be vmapped over episodes."""
    present = one_hot(y, out.shape[-1]).any(0)
    return torch.nn.functional.cross_entropy(out.masked_fill(~present, float("-inf")), y)


def regression_episodes(x: torch.Tensor, y: torch.Tensor, group: torch.Tensor, n_episodes: int, k_support: int,
                        k_query: int, generator: torch.Generator):
    """``n_episodes`` episodes, each from one group (``group[i]`` names sample i's function), drawn
    uniformly over groups; K + Q points of it, with replacement when the group is smaller."""
    device = y.device
    groups = group.unique()
    members = [(group == g).nonzero().flatten() for g in groups]
    per = k_support + k_query
    rows = []
    for g in torch.randint(len(groups), (n_episodes,), generator=generator, device=device).tolist():
        m = members[g]
        take = (torch.randperm(len(m), generator=generator, device=device)[:per] if len(m) >= per
                else torch.randint(len(m), (per,), generator=generator, device=device))
        rows.append(m[take])
    rows = torch.stack(rows)
    s, q = rows[:, :k_support], rows[:, k_support:]
    return x[s], y[s], x[q], y[q]
