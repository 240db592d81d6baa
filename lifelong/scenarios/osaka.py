"""OSAKA-style streams: continual meta-learning under unannounced shifts of task and domain.

Caccia et al. 2020, "Online Fast Adaptation and Knowledge Accumulation (OSAKA): a New Approach to
Continual Learning", NeurIPS; the protocol as ServiceNow/osaka's ``StreamDataset`` implements it
(``../shared/REFERENCE.md``):

* A pool of ``pretrain_classes`` classes is the stream's ``pretraining`` task: before the stream a
  learner that pretrains meta-trains on N-way episodes of it, relabelled 0..N−1 (``Stream.pretraining``).
* Then ``n_steps`` steps. At the first step, and at every later one with probability 1 − ``p_statio``,
  the task switches: a mode is drawn (``p_pretrain``, ``p_new``, ``p_ood``; it may repeat), then N
  (``n_way``) classes of that mode's pool, labelled 0..N−1 in the order drawn, so every switch
  relabels. The modes: ``pretrain``, classes of the pre-training pool with samples it did not hold;
  ``new``, classes of the same domain that pre-training never saw; ``ood``, other unseen classes whose
  inputs have their positions permuted by one fixed permutation (an out-of-distribution domain of the
  same shape: a CNN drops from 94% to 56% on spatially shuffled MNIST-1D, per its README).
* Each step brings N × ``k_shot`` samples of the current classes, drawn with replacement (a task's
  samples, ``k_shot`` × its steps per class, are shuffled by the online presentation).

Each run of steps between two switches is one task of the stream, its mode in ``metadata["mode"]``.
Presented online and task-free with ``online: {batch_size: N×K}`` (the presets), the learner is not
told of the switches and predicts each batch before it learns it; the score is the online cumulative
accuracy, overall and per mode (``lifelong.evaluation.online``). A task's test set is
``test_per_class`` further samples of each of its classes (drawn from the same samples as its steps),
labelled as in the task: the run's score matrix then measures how well a learner still knows the
labelling of earlier tasks, which is not OSAKA's score.
"""
from __future__ import annotations

from typing import Annotated

import numpy as np
import torch

from lifelong.config import Choice, ConfigError, Fraction, NonNegInt, PositiveInt, Range
from lifelong.scenarios.builders import Built
from lifelong.scenarios.sources import Dataset
from lifelong.scenarios.stream import Task

MODES = ("pretrain", "new", "ood")


def osaka(data: Dataset, seed: int, *, n_steps: PositiveInt = 1000, n_way: Annotated[int, Range(2)] = 5,
          k_shot: PositiveInt = 5, test_per_class: PositiveInt = 5, pretrain_classes: Annotated[int, Range(2)] = 100,
          new_classes: NonNegInt = 100, ood_classes: NonNegInt = 100,
          p_statio: Annotated[float, Range(0, 0.999)] = 0.98, p_pretrain: Fraction = 0.5,
          p_new: Fraction = 0.25, p_ood: Fraction = 0.25,
          setting: Annotated[str, Choice("domain-incremental")] = "domain-incremental") -> Built:
    """The pre-training pool and ``n_steps`` steps of switching N-way tasks (see the module)."""
    probs = np.array([p_pretrain, p_new, p_ood])
    if abs(probs.sum() - 1) > 1e-9:
        raise ConfigError(f"the mode probabilities p_pretrain, p_new, p_ood must sum to 1, not {probs.sum():g}",
                          field="p_ood", value=p_ood)
    if not data.x_train.is_floating_point():
        raise ConfigError("needs float inputs (its out-of-distribution domain permutes their last axis)",
                          field="source", value=data.name)
    order = [int(c) for c in np.random.default_rng(seed).permutation(data.classes)]
    sizes = {"pretrain": pretrain_classes, "new": new_classes, "ood": ood_classes}
    if sum(sizes.values()) > len(order):
        raise ConfigError(f"{data.name} has {len(order)} classes, fewer than the {sum(sizes.values())} of the "
                          "pretrain, new and ood pools", field="pretrain_classes", value=pretrain_classes)
    pools, start = {}, 0
    for mode in MODES:
        pools[mode], start = order[start:start + sizes[mode]], start + sizes[mode]
        if probs[MODES.index(mode)] > 0 and len(pools[mode]) < n_way:
            raise ConfigError(f"the {mode} pool has {len(pools[mode])} classes; a task needs {n_way}",
                              field=f"{mode}_classes", value=sizes[mode])

    # where each mode's samples come from: unseen samples of the pre-training classes, all of the others
    x_all, y_all = torch.cat([data.x_train, data.x_test]), torch.cat([data.y_train, data.y_test])
    unseen = torch.cat([torch.zeros(len(data.y_train), dtype=torch.bool), torch.ones(len(data.y_test), dtype=torch.bool)])
    rng = np.random.default_rng([seed, 3])
    permutation = torch.from_numpy(rng.permutation(data.x_train.shape[-1]))
    pretrained = set(pools["pretrain"])
    members = {c: torch.nonzero((y_all == c) & (unseen if c in pretrained else True)).flatten()
               for pool in pools.values() for c in pool}

    def samples(mode: str, classes: list[int], per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [members[c][torch.from_numpy(rng.integers(len(members[c]), size=per_class))] for c in classes]
        y = torch.arange(len(classes)).repeat_interleave(per_class)
        x = x_all[torch.cat(rows)]
        return (x[..., permutation] if mode == "ood" else x), y

    tasks, steps = [], 0
    while steps < n_steps:
        length = min(int(rng.geometric(1 - p_statio)), n_steps - steps)  # steps until the next switch
        mode = MODES[int(rng.choice(3, p=probs))]
        classes = [int(c) for c in rng.choice(pools[mode], n_way, replace=False)]
        x, y = samples(mode, classes, k_shot * length)  # in class order: the presentation shuffles them
        x_test, y_test = samples(mode, classes, test_per_class)
        tasks.append(Task(len(tasks), x, y, x_test, y_test, tuple(range(n_way)), len(tasks),
                          metadata={"mode": mode, "pool_classes": tuple(classes), "steps": length}))
        steps += length
    pre = torch.tensor(pools["pretrain"])
    train = torch.isin(data.y_train, pre)
    relabel = torch.full((int(data.y_train.max()) + 1,), -1, dtype=torch.long)
    relabel[pre] = torch.arange(len(pre))
    x, y = data.x_train[train], relabel[data.y_train[train]]
    # no test set: the pool's unseen samples are the stream's pre-training mode
    pretraining = Task(-1, x, y, x[:0], y[:0], tuple(range(len(pre))), -1,
                       metadata={"pool_classes": tuple(pools["pretrain"])})
    return Built(tasks, n_classes=n_way, pretraining=pretraining)
