"""Builders cut a data pool into a stream of tasks.

Each builder is a function ``builder(data, seed, *, ...) -> list[Task]`` whose
keyword-only parameters are the fields of a scenario preset (checked from their
annotations by ``lifelong.config``). ``setting`` is among them so that each
builder's annotation states which settings it can produce.
"""
from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import torch
import torch.nn.functional as F

from lifelong.config import Choice, ConfigError, PositiveInt, Range
from lifelong.scenarios.sources import Dataset
from lifelong.scenarios.stream import Task

SplitSetting = Annotated[str, Choice("class-incremental", "task-incremental")]
SharedSetting = Annotated[str, Choice("domain-incremental", "task-incremental")]


def split(data: Dataset, seed: int, *, n_tasks: PositiveInt = 5, setting: SplitSetting = "class-incremental",
          shuffle_classes: bool = False) -> list[Task]:
    """Split by classes: task t holds the t-th group of classes (van de Ven et al.'s Split MNIST).

    Classes are taken in label order, or in an order drawn from ``seed`` when
    ``shuffle_classes``; when the classes do not divide evenly the first tasks
    get one more class each (none is dropped).
    """
    classes = data.classes
    if n_tasks > len(classes):
        raise ConfigError(f"more tasks than the {len(classes)} classes of {data.name}", field="n_tasks", value=n_tasks)
    if shuffle_classes:
        classes = list(np.random.default_rng(seed).permutation(classes))
    tasks = []
    for t, group in enumerate(np.array_split(np.asarray(classes), n_tasks)):
        group = tuple(int(c) for c in group)
        keep_tr = torch.isin(data.y_train, torch.tensor(group))
        keep_te = torch.isin(data.y_test, torch.tensor(group))
        tasks.append(Task(t, data.x_train[keep_tr], data.y_train[keep_tr], data.x_test[keep_te], data.y_test[keep_te],
                          classes=group, task_label=t, metadata={"classes": group}))
    return tasks


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
    """Rotate a batch of images about their centre (bilinear, zeros outside)."""
    if degrees % 360 == 0:
        return x.clone()
    r = math.radians(degrees)
    theta = torch.tensor([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


BUILDERS = {"split": split, "permute": permute, "rotate": rotate}
