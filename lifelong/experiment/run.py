"""One run: a strategy learns a stream task by task while observers listen to its events."""
from __future__ import annotations

import copy
import math
import random
import time
from typing import Callable, Sequence

import numpy as np
import torch

from lifelong.evaluation.evaluators import AccuracyMatrix
from lifelong.evaluation.online import OnlineAccuracy
from lifelong.events import Events, Observer, RunContext
from lifelong.experiment.checkpoint import Checkpoint, Checkpointer, rng_state, set_rng_state
from lifelong.experiment.result import RunResult
from lifelong.scenarios.stream import Stream
from lifelong.strategies.base import NonFiniteLoss, Strategy
from lifelong.version import versions

#: ``progress(task, scores, train_s)``: after each task, its index, the scores on every task's test
#: set just measured, and the seconds its training took.
Progress = Callable[[int, list, float], None]


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def run(strategy: Strategy, stream: Stream, seed: int = 0, *, evaluators: Sequence[Observer] = (),
        device=None, checkpointer: Checkpointer | None = None, progress: Progress | None = None,
        checkpoint_every: int | None = None, loggers: Sequence[Observer] = (), matrix_every: int = 1) -> RunResult:
    """Train ``strategy`` on ``stream`` task by task and measure it.

    Before training, the randomly initialised model is scored on every task; after each task, on
    every task's test set, giving the T x T accuracy matrix (of test MSEs in a regression stream); with
    ``matrix_every`` = k > 1, whole rows only after every k-th task and the last, the rows in between
    measuring the task just learned and the next one (``AccuracyMatrix``).
    ``evaluators`` (any ``lifelong.events.Observer``) listen to the run's events and add their own
    measurements, e.g. ``FewShot`` and ``LearningCurve``. ``loggers`` (``lifelong.loggers``) come after
    them, so that they record what the evaluators measured at each event; each is closed when the run
    ends, finished or not. The same seed gives the same numbers.

    An online stream (``stream.online``) is learned batch by batch: the run hands each task's
    training batches, in order, to ``strategy.learn_batch``, each announced to the observers first
    (``OnlineAccuracy``, always there in an online stream, scores it before it is learned). A
    task-free stream tells the learner nothing else; one with boundaries calls ``begin_task`` and
    ``end_task`` around each task's batches. A stream's pre-training pool (``stream.pretraining``) is
    learned first, by a strategy that ``pretrains`` (its time: ``timings["pretrain_s"]``).

    With a ``checkpointer``, the run starts from its latest checkpoint, if any, and saves one after
    every task but the last, and in a task-free stream also every ``checkpoint_every`` steps; the
    resumed run ends with the same numbers as an uninterrupted one. ``progress`` is told when each
    task is done.
    """
    device = torch.device(device) if device is not None else default_device()
    seed_everything(seed)
    stream = stream.to(device)
    if checkpoint_every is not None and not stream.info.task_free:
        raise ValueError(f"checkpoint_every: checkpoints inside a task need a task-free stream; {stream.name} "
                         "is checkpointed after each task")
    if isinstance(matrix_every, bool) or not isinstance(matrix_every, int) or matrix_every < 1:
        raise ValueError(f"matrix_every: expected a positive number of tasks, got {matrix_every!r}")
    matrix = AccuracyMatrix(matrix_every)
    observers = [matrix, *([OnlineAccuracy()] if stream.online is not None else []), *evaluators, *loggers]
    try:
        return _observed_run(strategy, stream, seed, device, checkpointer, progress, checkpoint_every, matrix,
                             observers)
    finally:
        for logger in loggers:
            logger.close()


def _observed_run(strategy: Strategy, stream: Stream, seed: int, device: torch.device, checkpointer, progress,
                  checkpoint_every, matrix: AccuracyMatrix, observers: list) -> RunResult:
    strategy.setup(stream.info, seed=seed, device=device)
    events = Events(RunContext(strategy, stream, seed, device), observers)
    timings: dict = {"train_s": [], "eval_s": [], "total_s": 0.0}
    if not strategy.checkpointable:
        checkpointer = None
    saved = checkpointer.load() if checkpointer is not None else None
    if saved is not None:
        strategy.load_state_dict(saved.strategy)
        for o, state in zip(observers, saved.observers):
            o.load_state_dict(state)
        timings = copy.deepcopy(saved.timings)
        set_rng_state(saved.rng)

    def checkpoint(next_task: int, next_batch: int = 0) -> None:
        checkpointer.save(Checkpoint(next_task, strategy.state_dict(), [o.state_dict() for o in observers],
                                     rng_state(), copy.deepcopy(timings), next_batch))

    if saved is None:
        events.stream_start()
        if stream.pretraining is not None and strategy.pretrains:
            t0 = time.perf_counter()
            strategy.pretrain(stream.pretraining)
            timings["pretrain_s"] = timings["total_s"] = time.perf_counter() - t0
            if checkpointer is not None:  # a run killed in the stream does not pretrain again
                checkpoint(0)
    first, resumed = (saved.next_task, saved.next_batch) if saved is not None else (0, 0)
    start = time.perf_counter() - timings["total_s"]
    for i in range(first, len(stream)):
        on_step = events.task_start(i, resumed)
        train0, eval0 = timings.pop("partial", (0.0, 0.0))  # a task resumed inside: its time before the kill
        t0 = time.perf_counter() - train0 - eval0
        events.step_seconds += eval0

        def save(next_task: int, next_batch: int = 0) -> None:
            if next_batch:  # inside task i: its time so far
                elapsed = time.perf_counter() - t0
                timings["partial"] = (elapsed - events.step_seconds, events.step_seconds)
            timings["total_s"] = time.perf_counter() - start
            checkpoint(next_task, next_batch)
            timings.pop("partial", None)

        if stream.online is None:
            strategy.fit_task(stream[i], on_step)
        else:
            inside = save if checkpointer is not None and checkpoint_every is not None else None
            _learn_online(strategy, stream, i, events, on_step, resumed, inside, checkpoint_every)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t1 = time.perf_counter()
        events.task_end(i)
        # what step and batch listeners (continual evaluation, LCA, online accuracy) spent inside
        # training counts as evaluation
        timings["train_s"].append(t1 - t0 - events.step_seconds)
        timings["eval_s"].append(time.perf_counter() - t1 + events.step_seconds)
        timings["total_s"] = time.perf_counter() - start
        if checkpointer is not None and i < len(stream) - 1:
            save(i + 1)
        if progress is not None:
            progress(i, matrix.rows[-1], timings["train_s"][-1])
        resumed = 0
    events.stream_end()
    result = _result(strategy, stream, seed, device, matrix, observers, timings)
    events.result(result)
    return result


def _learn_online(strategy: Strategy, stream: Stream, i: int, events: Events, on_step, first: int, save,
                  every: int | None) -> None:
    """Task ``i`` of an online stream, from its batch ``first`` on: each batch announced, then learned.
    With ``save``, a checkpoint every ``every`` steps of the stream (``save(i, next_batch)``)."""
    task, online = stream[i], stream.online
    bs, label = online.batch_size, stream.task_info(i).task_label
    n_batches = math.ceil(task.n_train / bs)
    before = sum(math.ceil(t.n_train / bs) for t in stream.tasks[:i])  # steps of the stream before task i
    if not online.task_free and not first:
        strategy.begin_task(task)
    x, y = task.x_train, task.y_train
    loss = None
    for b in range(first, n_batches):
        xb, yb = x[b * bs:(b + 1) * bs], y[b * bs:(b + 1) * bs]
        events.batch(i, xb, yb)
        loss = strategy.learn_batch(xb, yb, None if label is None else torch.full_like(yb, label))
        if on_step is not None:
            on_step(loss)
        if save is not None and (before + b + 1) % every == 0 and b + 1 < n_batches:
            save(i, b + 1)
    if loss is not None and not math.isfinite(loss.item()):
        raise NonFiniteLoss(f"loss became {loss.item()} on task {task.index}")
    if not online.task_free:
        strategy.end_task(task)


def _result(strategy, stream, seed, device, matrix: AccuracyMatrix, observers, timings) -> RunResult:
    measure = stream.measure
    summary = measure.summary(matrix.rows, matrix.random_init, fwt_applicable=stream.fwt_applicable(),
                              model_sizes=matrix.sizes)
    extra: dict = {}
    for o in observers:
        out = o.output()
        extra.update(out.data)
        summary.update(out.metrics)
    name = getattr(strategy, "name", type(strategy).__name__.lower())
    return RunResult(
        scenario=stream.name, strategy=name, seed=seed, setting=stream.setting,
        stream_fingerprint=stream.fingerprint,
        config={"scenario": {"name": stream.name, **stream.definition},
                "strategy": {"name": name, "class": f"{type(strategy).__module__}.{type(strategy).__qualname__}",
                             "params": strategy.get_params()}},
        versions=versions(), accuracy_matrix=[list(r) for r in matrix.rows],
        random_init_accuracy=list(matrix.random_init), metrics=summary, timings=copy.deepcopy(timings),
        n_parameters=list(matrix.sizes), device=str(device), metric=measure.name, extra=extra,
    )
