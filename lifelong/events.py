"""The events of a run and the observers that listen to them.

A run (``lifelong.run``) emits, in this order::

    stream start
    for each task i:  task start (i) · step (i, n, loss) after each optimisation step · task end (i)
    stream end · result

In an online stream each step is preceded by the batch it learns: batch (i, x, y), before the learner
has seen it (online cumulative accuracy scores it there).

Observers subscribe by overriding the methods they need. There are three kinds: evaluators (they
score the learner and collect data: ``lifelong.evaluation``), loggers (they forward events to a
tool), and the checkpointer (the run saves a ``Checkpoint`` through it after each task). Each event
comes with the run's ``RunContext``; an observer takes the stream, the seed and the device from it,
never from the learner.

Steps reach only observers that override ``on_step``: when none does, the learner gets no step
channel and its loop does no per-step work. An observer returns what it collected as an
``Output``: data, kept in the result's ``extra``, and metrics, computed once by pure functions.
Its ``state_dict`` is saved in every checkpoint, so that a resumed run ends with the same output;
it must hold plain values (numbers, strings, lists, dicts, tuples, tensors) that load without
unpickling code.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import torch

if TYPE_CHECKING:
    from lifelong.evaluation.measures import Measure
    from lifelong.scenarios.stream import Stream
    from lifelong.strategies.base import Strategy


@dataclass(frozen=True)
class RunContext:
    """What every event of a run comes with."""

    strategy: "Strategy"  # the learner, as evaluators score it
    stream: "Stream"  # on the run's device
    seed: int
    device: torch.device
    #: observers that record measurements (loggers): set by ``Events``
    recorders: list = field(default_factory=list, repr=False, compare=False)

    def publish(self, values: dict[str, float]) -> None:
        """Measurements just taken (name -> value, e.g. ``score/task2``), for the observers that record
        them (``on_measurement``). An evaluator publishes what it measures; it never calls a logger."""
        for o in self.recorders:
            o.on_measurement(self, values)

    @property
    def measure(self) -> "Measure":
        """How the stream's test sets are scored (accuracy, or the test MSE of a regression stream)."""
        return self.stream.measure

    def score(self, task: int, data: tuple[torch.Tensor, torch.Tensor] | None = None) -> float:
        """The learner's score on the test set of the stream's task ``task`` (or on ``data``, inputs and
        targets of that task, e.g. a subset of its test set), in the stream's measure."""
        t = self.stream[task]
        x, y = (t.x_test, t.y_test) if data is None else data
        return self.measure.score(self.strategy, x, y, self.stream.task_info(task))

    def scores(self, tasks: Sequence[int], data: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[float]:
        """The learner's scores on inputs and targets ``data[i]`` of the stream's task ``tasks[i]`` (e.g.
        test subsets), as ``score`` gives them; the tasks the setting describes alike (all of them, but in
        a task-incremental stream) are predicted together, in fuller batches."""
        infos = [self.stream.task_info(t) for t in tasks]
        out: list = [None] * len(tasks)
        for info in dict.fromkeys(infos):
            same = [i for i, other in enumerate(infos) if other == info]
            x, y = (torch.cat([data[i][k] for i in same]) for k in (0, 1))
            for i, s in zip(same, self.measure.scores(self.strategy, x, y, info, [len(data[i][1]) for i in same])):
                out[i] = s
        return out

    def generator(self, *parts: int) -> torch.Generator:
        """A CPU generator seeded from the run's seed and up to three integers (e.g. a task's position,
        a K, a draw): an evaluator's random choices depend on the run's seed only, and are the same
        in a resumed run."""
        seed = self.seed
        for multiplier, part in zip((1_000_003, 1009, 101), parts):
            seed = seed * multiplier + part
        return torch.Generator().manual_seed(seed)


@dataclass
class Output:
    """What an observer adds to the run's result: ``data`` (merged into ``RunResult.extra``) and
    ``metrics`` (merged into ``RunResult.metrics`` once the stream is finished)."""

    data: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


class Observer:
    """Listens to a run's events; every method is optional."""

    def on_stream_start(self, ctx: RunContext) -> None:
        pass

    def on_task_start(self, ctx: RunContext, task: int) -> None:
        pass

    def on_step(self, ctx: RunContext, task: int, step: int, loss: torch.Tensor) -> None:
        """After optimisation step ``step`` (1, 2, ... within the task) with its training loss."""

    def on_batch(self, ctx: RunContext, task: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """Online streams: an incoming mini-batch of task ``task``, before the learner learns it."""

    def on_task_end(self, ctx: RunContext, task: int) -> None:
        pass

    def on_stream_end(self, ctx: RunContext) -> None:
        pass

    def on_measurement(self, ctx: RunContext, values: dict[str, float]) -> None:
        """Measurements an evaluator has just published (``RunContext.publish``), before the observers
        that come after it see the event during which it took them."""

    def on_result(self, ctx: RunContext, result) -> None:
        """The run's ``RunResult``, once the stream is finished and every metric computed."""

    def output(self) -> Output:
        return Output()

    def state_dict(self) -> dict:
        """What the observer collected so far, for a checkpoint (by default: its attributes)."""
        return copy.deepcopy(self.__dict__)

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(copy.deepcopy(state))


def listens_to(observer: Observer, event: str) -> bool:
    return getattr(type(observer), event) is not getattr(Observer, event)


class Events:
    """The run's channel: sends each event to every observer, and steps and batches only to those that
    listen to them."""

    def __init__(self, ctx: RunContext, observers: Sequence[Observer]):
        self.ctx, self.observers = ctx, list(observers)
        self.step_listeners = [o for o in self.observers if listens_to(o, "on_step")]
        self.batch_listeners = [o for o in self.observers if listens_to(o, "on_batch")]
        ctx.recorders[:] = [o for o in self.observers if listens_to(o, "on_measurement")]
        self.step_seconds = 0.0  # spent by step and batch listeners since the last task start (inside training)

    def stream_start(self) -> None:
        for o in self.observers:
            o.on_stream_start(self.ctx)

    def task_start(self, task: int, resumed_at: int = 0):
        """Announce task ``task``; returns the step channel the learner reports to, or None when
        nothing listens to steps. A run resumed inside the task (after ``resumed_at`` steps of it)
        announces nothing again: the channel counts on from there."""
        if not resumed_at:
            for o in self.observers:
                o.on_task_start(self.ctx, task)
        self.step_seconds = 0.0
        if not self.step_listeners:
            return None
        ctx, listeners, count = self.ctx, self.step_listeners, [resumed_at]

        def on_step(loss: torch.Tensor) -> None:
            t0 = time.perf_counter()
            count[0] += 1
            for o in listeners:
                o.on_step(ctx, task, count[0], loss)
            self.step_seconds += time.perf_counter() - t0

        return on_step

    def batch(self, task: int, x: torch.Tensor, y: torch.Tensor) -> None:
        t0 = time.perf_counter()
        for o in self.batch_listeners:
            o.on_batch(self.ctx, task, x, y)
        self.step_seconds += time.perf_counter() - t0

    def task_end(self, task: int) -> None:
        for o in self.observers:
            o.on_task_end(self.ctx, task)

    def stream_end(self) -> None:
        for o in self.observers:
            o.on_stream_end(self.ctx)

    def result(self, result) -> None:
        for o in self.observers:
            o.on_result(self.ctx, result)
