"""Online streams: each task's training samples seen once, in order, and the kinds of task boundary.

A scenario preset makes its stream online with two fields, read after the builder has made the tasks::

    online: {batch_size: 10, task_free: true}     # or `online: true` for these defaults
    boundaries: {kind: blurry, share: 0.1}          # or `boundaries: gradual`; default: sharp

The boundary kinds rewrite the order and the membership of the tasks' *training* samples; every test
set stays its task's own, so the evaluators score each task as the builder made it.

* ``sharp``: each task's training samples in a random order, one task after the other.
* ``blurry`` (Koh et al. ICLR 2022, i-Blurry-N-M): a share M of every class's training samples is
  moved out of its own task and spread evenly over the other tasks, except for a share N of the
  classes (``disjoint``), which stay in their task; so a task's samples include about M from other
  tasks' classes. Class-incremental streams only.
* ``gradual`` (task-free continual learning with smooth transitions: Aljundi et al. CVPR 2019; van de
  Ven's fuzzy boundaries): every training sample of task t gets a time t + U(0, 1) + U(−w/2, w/2), and
  the stream presents them in time order, task t's segment being the samples whose time falls in
  [t, t + 1). Between two tasks of equal size the share of the next task rises linearly from 0 to 1
  over a window of ``width`` = w task lengths centred on the boundary, and a segment holds a share
  w/8 of samples from each neighbouring task.

In a task-free stream every task but the last then holds a whole number of batches (``whole_batches``).
"""
from __future__ import annotations

from typing import Annotated

import numpy as np
import torch

from lifelong.config import Choice, ConfigError, Fraction, PositiveInt, Range, check_params, check_value, defaults
from lifelong.scenarios.stream import Online, Task


def sharp(tasks: list[Task], rng: np.random.Generator) -> list[Task]:
    """Each task's training samples in a random order."""
    return [_with_training(t, [(t, torch.from_numpy(rng.permutation(t.n_train)))]) for t in tasks]


def blurry(tasks: list[Task], rng: np.random.Generator, *, share: Fraction = 0.1,
           disjoint: Fraction = 0.0) -> list[Task]:
    """i-Blurry: ``share`` of every blurry class's training samples go to the other tasks, evenly; a
    share ``disjoint`` of the classes (drawn at random) never leave their task. Each task's samples
    are then in a random order."""
    if len(tasks) < 2:
        raise ConfigError("blurry boundaries need at least two tasks", field="boundaries.kind", value="blurry")
    classes = sorted(c for t in tasks for c in t.classes)
    fixed = set(rng.choice(classes, round(disjoint * len(classes)), replace=False).tolist())
    parts: list[list[tuple[Task, torch.Tensor]]] = [[] for _ in tasks]
    for s, task in enumerate(tasks):
        others = [d for d in range(len(tasks)) if d != s]
        for c in task.classes:
            members = torch.from_numpy(rng.permutation((task.y_train == c).nonzero().flatten().numpy()))
            moved = 0 if c in fixed else round(share * len(members))
            parts[s].append((task, members[moved:]))
            offset = int(rng.integers(len(others)))  # which tasks get one more when they do not divide evenly
            for j, chunk in enumerate(torch.tensor_split(members[:moved], len(others))):
                parts[others[(j + offset) % len(others)]].append((task, chunk))
    return [_with_training(t, p, rng) for t, p in zip(tasks, parts)]


def gradual(tasks: list[Task], rng: np.random.Generator, *,
            width: Annotated[float, Range(0, 1)] = 0.5) -> list[Task]:
    """Smooth transitions: the samples in order of their times t + U(0, 1) + U(−width/2, width/2)."""
    times = np.concatenate([t + rng.random(task.n_train) + (rng.random(task.n_train) - 0.5) * width
                            for t, task in enumerate(tasks)])
    source = np.concatenate([np.full(task.n_train, t) for t, task in enumerate(tasks)])
    row = np.concatenate([np.arange(task.n_train) for task in tasks])
    order = np.argsort(times, kind="stable")
    segment = np.clip(np.floor(times[order]), 0, len(tasks) - 1).astype(int)
    out = []
    for d, task in enumerate(tasks):
        picked = order[segment == d]  # in time order
        runs = np.flatnonzero(np.diff(source[picked], prepend=-1, append=-1))  # where the source task changes
        out.append(_with_training(task, [(tasks[source[picked[a]]], torch.from_numpy(row[picked[a:b]]))
                                         for a, b in zip(runs[:-1], runs[1:])]))
    return out


BOUNDARIES = {"sharp": sharp, "blurry": blurry, "gradual": gradual}


def whole_batches(tasks: list[Task], batch_size: int) -> list[Task]:
    """Every task but the last with a whole number of batches: the samples left over after a task's last
    full batch start the next task instead, so that no short batch tells a task-free learner where a
    task ends."""
    out, carried = [], []
    for i, task in enumerate(tasks):
        merged = _with_training(task, carried + [(task, torch.arange(task.n_train))])
        keep = merged.n_train if i == len(tasks) - 1 else merged.n_train - merged.n_train % batch_size
        out.append(_with_training(merged, [(merged, torch.arange(keep))]))
        carried = [(merged, torch.arange(keep, merged.n_train))]
    return out


def _with_training(task: Task, parts: list[tuple[Task, torch.Tensor]], rng: np.random.Generator | None = None) -> Task:
    """``task`` with the training samples ``parts`` (rows of the given tasks' training sets), in that
    order, or in a random order drawn from ``rng``."""
    x = torch.cat([t.x_train[rows] for t, rows in parts])
    y = torch.cat([t.y_train[rows] for t, rows in parts])
    if rng is not None:
        order = torch.from_numpy(rng.permutation(len(y)))
        x, y = x[order], y[order]
    return Task(task.index, x, y, task.x_test, task.y_test, task.classes, task.task_label, task.metadata)


def present_online(tasks: list[Task], seed: int, setting: str, online,
                   boundaries) -> tuple[list[Task], Online | None, dict]:
    """The tasks as the preset's ``online`` and ``boundaries`` fields present them, the stream's
    ``Online`` (None when the stream is not online) and the fields' resolved values for the stream's
    definition (none when both are left off, so that other streams keep their fingerprints)."""
    if online is None or online is False:
        if boundaries is not None:
            raise ConfigError("task boundaries are a property of online streams; add `online: true`",
                              field="boundaries", value=boundaries)
        return tasks, None, {}
    settings = defaults(Online) if online is True else check_params(Online, check_value("online", online, dict),
                                                                    prefix="online.")
    presented = Online(**{**defaults(Online), **settings})
    if presented.task_free and setting == "task-incremental":
        raise ConfigError("a task-incremental stream tells its task labels, so it cannot be task-free",
                          field="online.task_free", value=True)
    kind, fields = _boundaries(boundaries)
    if kind == "blurry" and setting != "class-incremental":
        raise ConfigError(f"blurry boundaries mix classes across tasks: the stream must be class-incremental, "
                          f"not {setting}", field="boundaries.kind", value=kind)
    rng = np.random.default_rng([seed, 2])
    tasks = BOUNDARIES[kind](list(tasks), rng, **fields)
    if presented.task_free:
        tasks = whole_batches(tasks, presented.batch_size)
    definition = {"online": {"batch_size": presented.batch_size, "task_free": presented.task_free},
                  "boundaries": {"kind": kind, **fields}}
    return tasks, presented, definition


def _boundaries(value) -> tuple[str, dict]:
    """``boundaries``: a kind's name, or a mapping of ``kind`` and that kind's fields (with their defaults)."""
    if value is None:
        value = {"kind": "sharp"}
    elif isinstance(value, str):
        value = {"kind": value}
    value = dict(check_value("boundaries", value, dict))
    kind = check_value("boundaries.kind", value.pop("kind", "sharp"), Annotated[str, Choice(*BOUNDARIES)])
    return kind, {**defaults(BOUNDARIES[kind]), **check_params(BOUNDARIES[kind], value, prefix="boundaries.")}
