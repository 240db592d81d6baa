"""Builders cut a data pool into a stream of tasks, or generate the tasks themselves.

Each builder is a function ``builder(data, seed, *, ...)`` whose keyword-only parameters are the
fields of a scenario preset (checked from their annotations by ``lifelong.config``). ``setting`` is
among them so that each builder's annotation states which settings it can produce. A field whose
value is ``None`` (an option left off) is left out of the stream's definition, so adding an option
never changes the fingerprint of the streams that do not use it.

A builder returns a list of tasks, or a ``Built`` when it also has held-out tasks or a label space
of its own. Builders marked ``generates_data`` make their own data: their presets name no
``source`` and they are called with ``data=None``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Annotated, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from lifelong.config import Choice, ConfigError, NonNegInt, PositiveInt, Range
from lifelong.scenarios.sources import Dataset
from lifelong.scenarios.stream import LazyTask, Task, TensorCache

SplitSetting = Annotated[str, Choice("class-incremental", "task-incremental")]
SharedSetting = Annotated[str, Choice("domain-incremental", "task-incremental")]


@dataclass(frozen=True)
class Built:
    """What a builder returns when a list of tasks is not all: the stream's tasks, its held-out
    tasks (never trained on), its number of outputs when it is not the pool's ``n_classes``, and its
    pre-training pool (``Stream.pretraining``)."""

    tasks: Sequence[Task]
    held_out: Sequence[Task] = ()
    n_classes: int | None = None
    pretraining: Task | None = None


def generates_data(builder):
    """Mark a builder that makes its own data (no ``source`` pool)."""
    builder.generates_data = True
    return builder


def split(data: Dataset, seed: int, *, n_tasks: PositiveInt = 5, setting: SplitSetting = "class-incremental",
          shuffle_classes: bool = False, fewshot_from: NonNegInt | None = None,
          shots: PositiveInt | None = None) -> list[Task]:
    """Split by classes: task t holds the t-th group of classes (van de Ven et al.'s Split MNIST).

    Classes are taken in label order, or in an order drawn from ``seed`` when
    ``shuffle_classes``; when the classes do not divide evenly the first tasks
    get one more class each (none is dropped).

    Few-shot classes arriving late: with ``fewshot_from: k`` and ``shots: K``, every class of tasks
    k, k+1, ... keeps only K of its training examples (drawn from ``seed``; the test sets stay whole),
    while the earlier tasks keep all their data; a few-shot task's metadata says ``shots: K``. When k is
    past the last task (say a preset's stream shortened with ``n_tasks``) no task is few-shot. Both are
    left off by default.

    A pool of 8-bit images (a dataset read from disk, ``lifelong.scenarios.readers``) is cut lazily:
    each task is a ``LazyTask`` that gathers its rows of the pool when used (at most two task parts
    held at once), so the pool and a copy of all its tasks are never held together.
    """
    classes = data.classes
    if n_tasks > len(classes):
        raise ConfigError(f"more tasks than the {len(classes)} classes of {data.name}", field="n_tasks", value=n_tasks)
    if (fewshot_from is None) != (shots is None):
        given, missing = ("fewshot_from", "shots") if shots is None else ("shots", "fewshot_from")
        raise ConfigError(f"few-shot tasks need both fewshot_from and shots; {missing} is missing", field=given,
                          value=fewshot_from if shots is None else shots)
    if shuffle_classes:
        classes = list(np.random.default_rng(seed).permutation(classes))
    rng = np.random.default_rng([seed, 1])  # which training examples a few-shot class keeps
    cache = TensorCache(2) if data.x_train.dtype == torch.uint8 else None
    tasks = []
    for t, group in enumerate(np.array_split(np.asarray(classes), n_tasks)):
        group = tuple(int(c) for c in group)
        keep_tr = torch.isin(data.y_train, torch.tensor(group))
        keep_te = torch.isin(data.y_test, torch.tensor(group))
        metadata = {"classes": group}
        if fewshot_from is not None and t >= fewshot_from:
            keep_tr = _keep_shots(data, group, shots, rng)
            metadata["shots"] = shots
        train, test = Rows(data.x_train, data.y_train, keep_tr), Rows(data.x_test, data.y_test, keep_te)
        if cache is None:
            tasks.append(Task(t, *train(), *test(), classes=group, task_label=t, metadata=metadata))
        else:  # 8-bit images read from disk: cut when used, so the pool is the only copy held
            tasks.append(LazyTask(t, group, t, load_train=train, load_test=test, cache=cache, n_train=len(train),
                                  input_shape=data.x_train.shape[1:], metadata=metadata))
    return tasks


class Rows:
    """The rows of a pool's ``(x, y)`` that ``keep`` marks, in the pool's order: a task's train or test
    set, cut at every call (a ``LazyTask``'s loader)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, keep: torch.Tensor):
        self.x, self.y, self.index = x, y, keep.nonzero().flatten()

    def __len__(self) -> int:
        return len(self.index)

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[self.index], self.y[self.index]


def _keep_shots(data: Dataset, group: tuple[int, ...], shots: int, rng: np.random.Generator) -> torch.Tensor:
    """A mask keeping ``shots`` random training examples of each class of ``group`` (pool order kept)."""
    keep = torch.zeros(len(data.y_train), dtype=torch.bool)
    for c in group:
        members = (data.y_train == c).nonzero().flatten().numpy()
        if shots > len(members):
            raise ConfigError(f"class {c} of {data.name} has only {len(members)} training examples", field="shots",
                              value=shots)
        keep[torch.from_numpy(rng.choice(members, shots, replace=False))] = True
    return keep


def permute(data: Dataset, seed: int, *, n_tasks: PositiveInt = 10,
            setting: SharedSetting = "domain-incremental") -> list[Task]:
    """Permuted inputs (Goodfellow et al. 2013; Kirkpatrick et al. 2017): every task applies its own
    fixed random permutation of the input features, drawn from ``seed``, to the same classes."""
    rng = np.random.default_rng(seed)
    n_features = math.prod(data.x_train.shape[1:])
    classes = tuple(data.classes)
    tasks = []
    for t in range(n_tasks):
        perm = torch.from_numpy(rng.permutation(n_features))

        def apply(x, perm=perm):
            return x.flatten(1)[:, perm].reshape(x.shape)

        tasks.append(Task(t, apply(data.x_train), data.y_train.clone(), apply(data.x_test), data.y_test.clone(),
                          classes=classes, task_label=t, metadata={"permutation_seed": seed, "permutation_index": t}))
    return tasks


def rotate(data: Dataset, seed: int, *, n_tasks: PositiveInt = 5, max_angle: Annotated[float, Range(0, 360)] = 180.0,
           setting: SharedSetting = "domain-incremental") -> list[Task]:
    """Rotated inputs (Lopez-Paz & Ranzato 2017): task t rotates every image by ``t * max_angle / (n_tasks - 1)``
    degrees (task 0 is upright). Images only: inputs of shape (C, H, W)."""
    if data.x_train.ndim != 4:
        raise ConfigError(f"rotation needs images of shape (C, H, W); {data.name} has inputs of shape "
                          f"{tuple(data.x_train.shape[1:])}", field="builder", value="rotate")
    angles = [t * max_angle / max(n_tasks - 1, 1) for t in range(n_tasks)]
    classes = tuple(data.classes)
    return [Task(t, _rotate(data.x_train, a), data.y_train.clone(), _rotate(data.x_test, a), data.y_test.clone(),
                 classes=classes, task_label=t, metadata={"angle": a}) for t, a in enumerate(angles)]


def _rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate a batch of images about their centre (bilinear, zeros outside); 8-bit images stay 8-bit
    (rounded)."""
    if degrees % 360 == 0:
        return x.clone()
    r = math.radians(degrees)
    images = x.float() if x.dtype == torch.uint8 else x
    theta = torch.tensor([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0]], dtype=images.dtype)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8) if x.dtype == torch.uint8 else out


@generates_data
def sinusoids(data: None, seed: int, *, n_tasks: PositiveInt = 100, n_train: PositiveInt = 50,
              n_test: PositiveInt = 50, n_held_out: NonNegInt = 50, amplitude: list[float] = (0.1, 5.0),
              phase: list[float] = (0.0, math.pi), x_range: list[float] = (-5.0, 5.0),
              setting: Annotated[str, Choice("regression")] = "regression") -> Built:
    """Sinusoid regression (Finn et al. 2017, §5.1): each task is one function y = A sin(x − φ).

    A ~ U(``amplitude``), φ ~ U(``phase``), and the task's ``n_train`` training and ``n_test`` test inputs
    x ~ U(``x_range``), all drawn from ``seed``. Inputs and targets are float32 of shape (n, 1); a task's
    metadata holds its ``amplitude`` and ``phase``. ``n_held_out`` further functions of the same family,
    drawn from a generator of their own (so they do not change with ``n_tasks``), are the held-out
    tasks; their task labels continue after the stream's.
    """
    bounds = {name: _interval(name, value) for name, value in
              (("amplitude", amplitude), ("phase", phase), ("x_range", x_range))}
    stream_rng, held_out_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))

    def draw(index: int, rng: np.random.Generator) -> Task:
        a, phi = rng.uniform(*bounds["amplitude"]), rng.uniform(*bounds["phase"])
        x = rng.uniform(*bounds["x_range"], size=(n_train + n_test, 1)).astype(np.float32)
        y = torch.from_numpy((a * np.sin(x.astype(np.float64) - phi)).astype(np.float32))
        x = torch.from_numpy(x)
        return Task(index, x[:n_train], y[:n_train], x[n_train:], y[n_train:], classes=(), task_label=index,
                    metadata={"amplitude": float(a), "phase": float(phi)})

    tasks = [draw(t, stream_rng) for t in range(n_tasks)]
    held_out = [draw(n_tasks + j, held_out_rng) for j in range(n_held_out)]
    return Built(tasks, held_out, n_classes=1)


def _interval(field: str, value) -> tuple[float, float]:
    if len(value) != 2 or not value[0] <= value[1]:
        raise ConfigError("expected [low, high] with low <= high", field=field, value=list(value))
    return float(value[0]), float(value[1])


EpisodeSetting = Annotated[str, Choice("task-incremental", "class-incremental")]


def episodes(data: Dataset, seed: int, *, n_tasks: PositiveInt = 10, n_way: Annotated[int, Range(2)] = 5,
             train_per_class: PositiveInt = 20, test_per_class: PositiveInt = 20, meta_train_classes: NonNegInt = 0,
             held_out_classes: NonNegInt = 0, n_held_out: NonNegInt = 0, new_classes: bool = True,
             held_out_shift: Annotated[str, Choice("permute")] | None = None,
             setting: EpisodeSetting = "task-incremental") -> Built:
    """A stream of N-way tasks (N-way K-shot episodes, Vinyals et al. 2016) over a pool of classes.

    The pool's classes are shuffled by ``seed`` and dealt into three disjoint pools:
    ``meta_train_classes``, ``held_out_classes`` and the rest, the stream's pool.

    - When ``meta_train_classes > 0``, task 0 is a many-class base task holding every training and test
      example of the meta-train classes, so that learners start from a pretrained representation (as in
      OSAKA's pretraining, Caccia et al. 2020). ``n_tasks`` counts it.
    - Every other task is ``n_way`` classes of the stream's pool, with ``train_per_class`` training and
      ``test_per_class`` test examples of each, drawn from the pool's own train and test splits. With
      ``new_classes`` (the default) each task brings classes no earlier task had; without it each task
      draws its classes afresh, so classes may come back (needed for pools of 10 classes such as
      ``digits`` and ``mnist``).
    - ``n_held_out`` held-out tasks, never trained on, are ``n_way`` classes drawn from the held-out
      pool (classes may repeat across held-out tasks), sampled like the stream's tasks but from a
      generator of their own, so they do not change with ``n_tasks``. With ``held_out_shift: permute``
      their inputs come from a shifted domain of the same shape: every input's last axis permuted by
      one permutation drawn from the seed (spatially shuffled MNIST-1D, OSAKA's out-of-distribution
      mode), so that the few-shot evaluator measures adaptation under a shift of domain.

    Labels are renumbered by first appearance (base classes, then the stream's, then the held-out
    ones): the label space is the classes used, and a task's ``metadata["pool_classes"]`` gives the
    pool's label of each of its ``classes``. The default setting is task-incremental: a task's classes
    are known at prediction, as in a few-shot episode.
    """
    order = [int(c) for c in np.random.default_rng(seed).permutation(data.classes)]
    n_pool = len(order)
    meta, held = order[:meta_train_classes], order[meta_train_classes:meta_train_classes + held_out_classes]
    pool = order[meta_train_classes + held_out_classes:]
    n_way_tasks = n_tasks - (1 if meta else 0)
    where = (f"{len(pool)} of the {n_pool} classes of {data.name} are left for the stream's tasks "
             f"({meta_train_classes} meta-train, {held_out_classes} held out)")
    if meta_train_classes + held_out_classes > n_pool:
        raise ConfigError(f"{data.name} has {n_pool} classes, fewer than the {meta_train_classes} meta-train and "
                          f"{held_out_classes} held-out classes asked for", field="meta_train_classes",
                          value=meta_train_classes)
    if meta_train_classes == 1:
        raise ConfigError("a base task needs at least 2 classes (or 0 for none)", field="meta_train_classes", value=1)
    if n_way_tasks and len(pool) < n_way:
        field, value = ("n_way", n_way) if len(pool) else ("meta_train_classes", meta_train_classes)
        raise ConfigError(f"{where}; a task needs {n_way}", field=field, value=value)
    if new_classes and n_way_tasks * n_way > len(pool):
        raise ConfigError(f"{n_way_tasks} tasks of {n_way} new classes need {n_way_tasks * n_way} classes; {where} "
                          "(or set new_classes: false to let classes come back)", field="n_tasks", value=n_tasks)
    if n_held_out and len(held) < n_way:
        raise ConfigError(f"held-out tasks of {n_way} classes need at least {n_way} held-out classes",
                          field="held_out_classes", value=held_out_classes)

    stream_rng, held_out_rng = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 2])
    if new_classes:
        groups = [pool[t * n_way:(t + 1) * n_way] for t in range(n_way_tasks)]
    else:
        groups = [[int(c) for c in stream_rng.choice(pool, n_way, replace=False)] for _ in range(n_way_tasks)]
    held_groups = [[int(c) for c in held_out_rng.choice(held, n_way, replace=False)] for _ in range(n_held_out)]

    used = {c: None for group in ([meta], groups, held_groups) for g in group for c in g}  # first-appearance order
    label = np.full(data.n_classes, -1, dtype=np.int64)
    label[list(used)] = np.arange(len(used))
    y_train, y_test = data.y_train.numpy(), data.y_test.numpy()
    members = {c: (np.flatnonzero(y_train == c), np.flatnonzero(y_test == c)) for c in used}
    for field, per, s, kind in (("train_per_class", train_per_class, 0, "training"),
                                ("test_per_class", test_per_class, 1, "test")):
        short = min((c for g in (*groups, *held_groups) for c in g), key=lambda c: len(members[c][s]), default=None)
        if short is not None and len(members[short][s]) < per:
            raise ConfigError(f"class {short} of {data.name} has only {len(members[short][s])} {kind} examples",
                              field=field, value=per)

    def task(index: int, classes: list[int], rng: np.random.Generator | None) -> Task:
        if rng is None:  # the base task: every example of its classes
            tr, te = (np.sort(np.concatenate([members[c][s] for c in classes])) for s in (0, 1))
        else:
            tr, te = (np.sort(np.concatenate([rng.choice(members[c][s], per, replace=False) for c in classes]))
                      for s, per in ((0, train_per_class), (1, test_per_class)))
        by_label = sorted(classes, key=lambda c: label[c])
        tr, te = torch.from_numpy(tr), torch.from_numpy(te)
        return Task(index, data.x_train[tr], torch.from_numpy(label[data.y_train[tr].numpy()]), data.x_test[te],
                    torch.from_numpy(label[data.y_test[te].numpy()]), classes=tuple(int(label[c]) for c in by_label),
                    task_label=index, metadata={"pool_classes": tuple(by_label), "base": rng is None})

    first = 1 if meta else 0
    tasks = ([task(0, meta, None)] if meta else []) + [task(first + t, g, stream_rng) for t, g in enumerate(groups)]
    held_out = [task(n_tasks + j, g, held_out_rng) for j, g in enumerate(held_groups)]
    if held_out_shift == "permute":
        order = torch.from_numpy(np.random.default_rng([seed, 3]).permutation(data.x_train.shape[-1]))
        held_out = [dataclasses.replace(t, x_train=t.x_train[..., order], x_test=t.x_test[..., order],
                                        metadata={**t.metadata, "shift": "permute"}) for t in held_out]
    return Built(tasks, held_out, n_classes=len(used))
