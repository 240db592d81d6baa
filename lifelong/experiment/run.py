"""One run: a strategy learns a stream task by task while evaluators watch."""
from __future__ import annotations

import random
import time
from typing import Callable, Sequence

import numpy as np
import torch

from lifelong.evaluation import metrics
from lifelong.evaluation.evaluators import AccuracyMatrix, Evaluator
from lifelong.experiment.result import RunResult, versions
from lifelong.scenarios.stream import Stream
from lifelong.strategies.base import Strategy


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def run(strategy: Strategy, stream: Stream, seed: int = 0, *, evaluators: Sequence[Evaluator] = (),
        device=None, on_task_end: Callable[[int, RunResult], None] | None = None) -> RunResult:
    """Train ``strategy`` on ``stream`` task by task and measure it.

    Before training, the randomly initialised model is evaluated on every task;
    after each task, on every task's test set, giving the T x T accuracy matrix.
    The same seed gives the same numbers. ``on_task_end(i, partial_result)`` is
    called after each task (for progress display).
    """
    device = torch.device(device) if device is not None else default_device()
    seed_everything(seed)
    stream = stream.to(device)
    matrix = AccuracyMatrix()
    observers = [matrix, *evaluators]
    start = time.perf_counter()
    strategy.setup(stream.info, seed=seed, device=device)
    for e in observers:
        e.before_stream(strategy, stream)
    train_s, eval_s = [], []
    for i, task in enumerate(stream):
        for e in observers:
            e.before_task(strategy, stream, i)
        t0 = time.perf_counter()
        strategy.fit_task(task)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t1 = time.perf_counter()
        for e in observers:
            e.after_task(strategy, stream, i)
        train_s.append(t1 - t0)
        eval_s.append(time.perf_counter() - t1)
        if on_task_end is not None:
            on_task_end(i, _result(strategy, stream, seed, device, observers, train_s, eval_s, start))
    return _result(strategy, stream, seed, device, observers, train_s, eval_s, start)


def _result(strategy, stream, seed, device, observers, train_s, eval_s, start) -> RunResult:
    collected: dict = {}
    for e in observers:
        collected.update(e.result())
    R, b, sizes = collected.pop("accuracy_matrix"), collected.pop("random_init_accuracy"), collected.pop("n_parameters")
    finished = len(R) == len(stream)
    summary = metrics.summary(R, b, fwt_applicable=stream.fwt_applicable(), model_sizes=sizes) if finished else {}
    name = getattr(strategy, "name", type(strategy).__name__.lower())
    return RunResult(
        scenario=stream.name, strategy=name, seed=seed, setting=stream.setting,
        stream_fingerprint=stream.fingerprint,
        config={"scenario": {"name": stream.name, **stream.definition},
                "strategy": {"name": name, "class": f"{type(strategy).__module__}.{type(strategy).__qualname__}",
                             "params": strategy.get_params()}},
        versions=versions(), accuracy_matrix=R, random_init_accuracy=b, metrics=summary,
        timings={"train_s": list(train_s), "eval_s": list(eval_s), "total_s": time.perf_counter() - start},
        n_parameters=sizes, device=str(device), status="finished" if finished else "running", extra=collected,
    )
