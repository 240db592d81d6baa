"""Task and Stream: the data a continual learner sees, one task at a time.

Built-in streams keep every task's tensors in memory (on the run's device) and
batch by index, so the training loop never goes through a per-sample
``__getitem__``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

import torch

SETTINGS = ("class-incremental", "task-incremental", "domain-incremental", "regression")


@dataclass(frozen=True)
class TaskInfo:
    """What a learner may know about a task at prediction time.

    In task-incremental streams it carries the task label and the task's
    classes; in class- and domain-incremental streams both are None, because the
    setting forbids using them.
    """

    task_label: int | None = None
    classes: tuple[int, ...] | None = None


@dataclass(frozen=True, eq=False)
class Task:
    """One step of a stream: train and test tensors, its classes and metadata.

    Classification tasks have integer labels ``y`` and the tuple of their classes; regression
    tasks have float targets of shape ``(n, outputs)`` and ``classes == ()``.
    """

    index: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[int, ...]
    task_label: int
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    def to(self, device) -> "Task":
        return replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
            metadata=dict(self.metadata),
        )


@dataclass(frozen=True)
class StreamInfo:
    """The shape of a stream, without its data: what a strategy is built from.

    ``n_classes`` is the number of network outputs: the label space, or the target's dimension
    in a regression stream."""

    setting: str
    input_shape: tuple[int, ...]
    n_classes: int
    n_tasks: int


@dataclass(frozen=True, eq=False)
class Stream:
    """An ordered sequence of tasks with its setting, label space and fingerprint.

    ``definition`` is the JSON-serialisable spec the stream was built from; the
    fingerprint hashes it together with every tensor, so it changes when either
    the definition or the data changes.

    ``held_out`` tasks are never trained on: they come from a pool disjoint from the stream's
    (held-out functions or classes), and the few-shot evaluator adapts to them after the stream.
    In a ``regression`` stream ``n_classes`` is the targets' dimension.
    """

    name: str
    setting: str
    tasks: tuple[Task, ...]
    n_classes: int
    definition: Mapping[str, Any] = field(default_factory=dict)
    held_out: tuple[Task, ...] = ()

    def __post_init__(self):
        if self.setting not in SETTINGS:
            raise ValueError(f"setting must be one of {', '.join(SETTINGS)}, got {self.setting!r}")
        if not self.tasks:
            raise ValueError("a stream needs at least one task")
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "held_out", tuple(self.held_out))
        object.__setattr__(self, "definition", MappingProxyType(dict(self.definition)))

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self):
        return iter(self.tasks)

    def __getitem__(self, i) -> Task:
        return self.tasks[i]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.tasks[0].x_train.shape[1:])

    @property
    def regression(self) -> bool:
        return self.setting == "regression"

    @property
    def metric(self) -> str:
        """What the accuracy matrix and the few-shot evaluator measure: ``accuracy``, or ``mse`` in
        regression streams."""
        return "mse" if self.regression else "accuracy"

    @property
    def info(self) -> StreamInfo:
        return StreamInfo(self.setting, self.input_shape, self.n_classes, len(self.tasks))

    def task_info(self, i: int) -> TaskInfo:
        """What the setting lets a learner know about task ``i`` when predicting."""
        return self.info_of(self.tasks[i])

    def info_of(self, task: Task) -> TaskInfo:
        """What the setting lets a learner know about ``task`` (of the stream or held out)."""
        if self.setting == "task-incremental":
            return TaskInfo(task.task_label, task.classes)
        return TaskInfo()

    def fwt_applicable(self) -> bool:
        """Whether GEM's forward transfer is defined on this stream.

        It is not in class-incremental streams where a task brings only classes
        no earlier task had: before training on it the learner cannot predict
        them, so R[i-1, i] is zero by construction (REFERENCE.md).
        """
        if self.setting != "class-incremental":
            return True  # regression included: b is the random network's MSE
        seen: set[int] = set(self.tasks[0].classes)
        for task in self.tasks[1:]:
            if not seen.intersection(task.classes):
                return False
            seen.update(task.classes)
        return True

    @property
    def fingerprint(self) -> str:
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            h = hashlib.sha256()
            h.update(json.dumps(dict(self.definition), sort_keys=True, default=str).encode())
            h.update(self.setting.encode())
            for task in (*self.tasks, *self.held_out):
                h.update(json.dumps([task.classes, task.task_label]).encode())
                for t in (task.x_train, task.y_train, task.x_test, task.y_test):
                    h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
                    h.update(t.detach().cpu().contiguous().numpy().tobytes())
            cached = h.hexdigest()[:16]
            object.__setattr__(self, "_fingerprint", cached)
        return cached

    def to(self, device) -> "Stream":
        moved = replace(self, tasks=tuple(t.to(device) for t in self.tasks), definition=dict(self.definition),
                        held_out=tuple(t.to(device) for t in self.held_out))
        if "_fingerprint" in self.__dict__:
            object.__setattr__(moved, "_fingerprint", self.__dict__["_fingerprint"])
        return moved
