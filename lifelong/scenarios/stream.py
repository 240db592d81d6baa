"""Task and Stream: the data a continual learner sees, one task at a time.

Built-in streams keep every task's tensors in memory (on the run's device) and
batch by index, so the training loop never goes through a per-sample
``__getitem__``. A stream too large for memory is made of ``LazyTask``s instead:
each loads its train or test tensors when they are used and a shared
``TensorCache`` keeps only the last one or two loaded. The split of a pool of 8-bit
images read from disk is lazy too: its tasks gather their rows of the pool when used.
"""
from __future__ import annotations

import functools
import hashlib
import json
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping

import torch

from lifelong.config import PositiveInt

SETTINGS = ("class-incremental", "task-incremental", "domain-incremental", "regression")


@dataclass(frozen=True)
class TaskInfo:
    """What a learner may know about a task at prediction time: in task-incremental streams the task
    label and the task's classes; in class- and domain-incremental streams neither (both None)."""

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

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def to(self, device) -> "Task":
        return replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
            metadata=dict(self.metadata),
        )

    def with_test_rows(self, keep: torch.Tensor) -> "Task":
        """This task with only the test samples at positions ``keep``."""
        keep = keep.to(self.y_test.device)
        return replace(self, x_test=self.x_test[keep], y_test=self.y_test[keep], metadata=dict(self.metadata))


class TensorCache:
    """The tensors of at most ``size`` loaded task parts (a ``LazyTask``'s train set or its test set),
    shared by the tasks of a stream: loading another part drops the least recently used one.

    ``loads`` counts the parts loaded; ``live`` counts those whose tensors still exist, held here
    or by whoever kept a reference, and ``peak_live`` is the most there ever were at once: what
    bounds the memory a lazy stream takes.
    """

    def __init__(self, size: int = 2):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"a TensorCache holds at least one part, got size={size!r}")
        self.size = size
        self._held: OrderedDict[Any, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self.loads = self.live = self.peak_live = 0

    def get(self, key, load: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The part stored under ``key``, loaded with ``load()`` unless it is held."""
        if key in self._held:
            self._held.move_to_end(key)
            return self._held[key]
        while len(self._held) >= self.size:
            self._held.popitem(last=False)  # dropped before loading: at most `size` held at any time
        part = load()
        self.loads += 1
        self.live += 1
        self.peak_live = max(self.peak_live, self.live)
        weakref.finalize(part[0], self._freed)
        self._held[key] = part
        return part

    def clear(self) -> None:
        """Drop every held part."""
        self._held.clear()

    def _freed(self) -> None:
        self.live -= 1


class LazyTask(Task):
    """A Task whose tensors are loaded when they are used, for streams too large to hold in memory.

    ``load_train()`` and ``load_test()`` return ``(x, y)``, the same tensors at every call. Reading
    ``x_train`` or ``y_train`` loads the train set unless ``cache`` holds it (``x_test`` and ``y_test``
    the test set), so at most ``cache.size`` parts are held however many tasks the stream has; a part
    dropped is loaded again when next used. ``n_train``, ``input_shape`` and ``to(device)`` load
    nothing: the copy ``to`` returns moves what it loads, and shares the cache.

    The trade-off: every use of a dropped part reloads it (an evaluation of all test sets after each
    task reloads each of them), slower but bounded in memory. What a strategy keeps (a joint or
    cumulative learner's data, a replay memory) stays in memory, by design.
    """

    def __init__(self, index: int, classes, task_label: int, *, load_train: Callable, load_test: Callable,
                 cache: TensorCache, n_train: int, input_shape, metadata: Mapping[str, Any] | None = None,
                 device=None):
        fields = {"index": index, "classes": tuple(classes), "task_label": task_label,
                  "metadata": MappingProxyType(dict(metadata or {})), "load_train": load_train,
                  "load_test": load_test, "cache": cache, "_n_train": int(n_train),
                  "_input_shape": tuple(input_shape), "device": None if device is None else torch.device(device)}
        for k, v in fields.items():
            object.__setattr__(self, k, v)

    def _part(self, load) -> tuple[torch.Tensor, torch.Tensor]:
        def moved():
            x, y = load()
            return (x, y) if self.device is None else (x.to(self.device), y.to(self.device))

        return self.cache.get((load, self.device), moved)

    @property
    def x_train(self) -> torch.Tensor:
        return self._part(self.load_train)[0]

    @property
    def y_train(self) -> torch.Tensor:
        return self._part(self.load_train)[1]

    @property
    def x_test(self) -> torch.Tensor:
        return self._part(self.load_test)[0]

    @property
    def y_test(self) -> torch.Tensor:
        return self._part(self.load_test)[1]

    @property
    def n_train(self) -> int:
        return self._n_train

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._input_shape

    def to(self, device) -> "LazyTask":
        return self._changed(device=device)

    def with_test_rows(self, keep: torch.Tensor) -> "LazyTask":
        """This task with only the test samples at positions ``keep``, loaded when used as well."""
        return self._changed(load_test=functools.partial(_taken, self.load_test, keep))

    def _changed(self, **changes) -> "LazyTask":
        return LazyTask(self.index, self.classes, self.task_label, **{
            "load_train": self.load_train, "load_test": self.load_test, "cache": self.cache, "n_train": self._n_train,
            "input_shape": self._input_shape, "metadata": self.metadata, "device": self.device, **changes})

    def __deepcopy__(self, memo) -> "LazyTask":
        return self  # immutable, and its data is loaded again rather than copied

    def __repr__(self) -> str:
        return (f"LazyTask(index={self.index}, classes={self.classes}, task_label={self.task_label}, "
                f"n_train={self._n_train}, device={self.device})")


def _taken(load: Callable, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows ``keep`` of what ``load()`` loads."""
    x, y = load()
    return x[keep.to(y.device)], y[keep.to(y.device)]


@dataclass(frozen=True, kw_only=True)
class Online:
    """How an online stream is presented: every task's training samples once, in the stream's order, in
    mini-batches of ``batch_size`` (no epochs). In a ``task_free`` stream the learner is not told where
    tasks begin or end: it gets the batches and nothing else (the evaluators still know the tasks)."""

    batch_size: PositiveInt = 10
    task_free: bool = True


@dataclass(frozen=True)
class StreamInfo:
    """The shape of a stream, without its data: what a strategy is built from.

    ``n_classes`` is the number of network outputs: the label space, or the target's dimension
    in a regression stream. ``online`` says how an online stream is presented (None: task by task)."""

    setting: str
    input_shape: tuple[int, ...]
    n_classes: int
    n_tasks: int
    online: Online | None = None
    augment: Any = None  # the ``lifelong.augmentation.Augmentation`` its images get in training, or None
    pixels: Any = None  # ``lifelong.augmentation.Pixels``: its inputs are 8-bit images, made floats so; None: floats

    @property
    def task_free(self) -> bool:
        return self.online is not None and self.online.task_free

    @property
    def input_dtype(self) -> torch.dtype:
        """uint8 for 8-bit images (``pixels``), else float32."""
        return torch.float32 if self.pixels is None else torch.uint8


@dataclass(frozen=True, eq=False)
class Stream:
    """An ordered sequence of tasks with its setting, label space and fingerprint.

    ``definition`` is the JSON-serialisable spec the stream was built from; the fingerprint hashes it
    together with every tensor, so it changes when either the definition or the data changes.

    ``held_out`` tasks are never trained on: they come from a pool disjoint from the stream's
    (held-out functions or classes), and the few-shot evaluator adapts to them after the stream.
    ``pretraining`` is a pool of classes learned before the first task by the learners that pretrain
    (``Strategy.pretrain``; OSAKA, ``lifelong.scenarios.osaka``), never scored: its labels name the pool's
    classes, not the stream's outputs; a learner sees it through N-way episodes relabelled 0..N−1.
    In a ``regression`` stream ``n_classes`` is the targets' dimension. An ``online`` stream is learned
    batch by batch, each task's training samples once in their order (``Online``)."""

    name: str
    setting: str
    tasks: tuple[Task, ...]
    n_classes: int
    definition: Mapping[str, Any] = field(default_factory=dict)
    held_out: tuple[Task, ...] = ()
    online: Online | None = None
    augment: Any = None  # lifelong.augmentation.Augmentation: what a network's training batches get
    pixels: Any = None  # lifelong.augmentation.Pixels when the tasks hold 8-bit images
    pretraining: Task | None = None

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
        return self.tasks[0].input_shape

    @property
    def regression(self) -> bool:
        return self.setting == "regression"

    @property
    def measure(self):
        """How the stream's test sets are scored (``lifelong.evaluation.measures``): accuracy, or the
        test MSE in a regression stream."""
        from lifelong.evaluation.measures import for_setting

        return for_setting(self.setting)

    @property
    def info(self) -> StreamInfo:
        return StreamInfo(self.setting, self.input_shape, self.n_classes, len(self.tasks), self.online, self.augment,
                          self.pixels)

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
            pool = () if self.pretraining is None else (self.pretraining,)
            for task in (*self.tasks, *self.held_out, *pool):
                h.update(json.dumps([task.classes, task.task_label]).encode())
                for t in (task.x_train, task.y_train, task.x_test, task.y_test):
                    h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
                    h.update(t.detach().cpu().contiguous().numpy().tobytes())
            cached = h.hexdigest()[:16]
            object.__setattr__(self, "_fingerprint", cached)
        return cached

    def to(self, device) -> "Stream":
        moved = replace(self, tasks=tuple(t.to(device) for t in self.tasks), definition=dict(self.definition),
                        held_out=tuple(t.to(device) for t in self.held_out),
                        pretraining=None if self.pretraining is None else self.pretraining.to(device))
        if "_fingerprint" in self.__dict__:
            object.__setattr__(moved, "_fingerprint", self.__dict__["_fingerprint"])
        return moved
