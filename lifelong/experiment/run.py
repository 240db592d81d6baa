"""One run: a strategy learns a stream task by task while observers listen to its events."""
from __future__ import annotations

import copy
import random
import time
from typing import Callable, Sequence

import numpy as np
import torch

from lifelong.evaluation.evaluators import AccuracyMatrix
from lifelong.events import Events, Observer, RunContext
from lifelong.experiment.checkpoint import Checkpoint, Checkpointer, rng_state, set_rng_state
from lifelong.experiment.result import RunResult
from lifelong.scenarios.stream import Stream
from lifelong.strategies.base import Strategy
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
        device=None, checkpointer: Checkpointer | None = None, progress: Progress | None = None) -> RunResult:
    """Train ``strategy`` on ``stream`` task by task and measure it.

    Before training, the randomly initialised model is scored on every task; after each task, on
    every task's test set, giving the T x T accuracy matrix (of test MSEs in a regression stream).
    ``evaluators`` (any ``lifelong.events.Observer``) listen to the run's events and add their own
    measurements, e.g. ``FewShot`` and ``LearningCurve``. The same seed gives the same numbers.

    With a ``checkpointer``, the run starts from its latest checkpoint, if any, and saves one after
    every task but the last; the resumed run ends with the same numbers as an uninterrupted one.
    ``progress`` is told when each task is done.
    """
    device = torch.device(device) if device is not None else default_device()
    seed_everything(seed)
    stream = stream.to(device)
    matrix = AccuracyMatrix()
    observers = [matrix, *evaluators]
    strategy.setup(stream.info, seed=seed, device=device)
    events = Events(RunContext(strategy, stream, seed, device), observers)
    timings = {"train_s": [], "eval_s": [], "total_s": 0.0}
    if not strategy.checkpointable:
        checkpointer = None
    saved = checkpointer.load() if checkpointer is not None else None
    if saved is not None:
        strategy.load_state_dict(saved.strategy)
        for o, state in zip(observers, saved.observers):
            o.load_state_dict(state)
        timings = copy.deepcopy(saved.timings)
        set_rng_state(saved.rng)
    else:
        events.stream_start()
    first = saved.next_task if saved is not None else 0
    start = time.perf_counter() - timings["total_s"]
    for i in range(first, len(stream)):
        on_step = events.task_start(i)
        t0 = time.perf_counter()
        strategy.fit_task(stream[i], on_step)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t1 = time.perf_counter()
        events.task_end(i)
        # what step listeners (continual evaluation, LCA) spent inside training counts as evaluation
        timings["train_s"].append(t1 - t0 - events.step_seconds)
        timings["eval_s"].append(time.perf_counter() - t1 + events.step_seconds)
        timings["total_s"] = time.perf_counter() - start
        if checkpointer is not None and i < len(stream) - 1:
            checkpointer.save(Checkpoint(i + 1, strategy.state_dict(), [o.state_dict() for o in observers],
                                         rng_state(), copy.deepcopy(timings)))
        if progress is not None:
            progress(i, matrix.rows[-1], timings["train_s"][-1])
    events.stream_end()
    return _result(strategy, stream, seed, device, matrix, observers, timings)


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
