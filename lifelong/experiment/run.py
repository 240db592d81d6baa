"""One run: a strategy learns a stream task by task while evaluators watch."""
from __future__ import annotations

import copy
import random
import time
from typing import Callable, Sequence

import numpy as np
import torch

from lifelong.evaluation import metrics
from lifelong.evaluation.evaluators import AccuracyMatrix, Evaluator
from lifelong.experiment.result import RunResult
from lifelong.version import versions
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
        device=None, on_task_end: Callable[..., None] | None = None, checkpoint: dict | None = None) -> RunResult:
    """Train ``strategy`` on ``stream`` task by task and measure it.

    Before training, the randomly initialised model is evaluated on every task;
    after each task, on every task's test set, giving the T x T accuracy matrix
    (of test MSEs in a regression stream). ``evaluators`` add their own
    measurements, e.g. ``FewShot`` and ``LearningCurve``.
    The same seed gives the same numbers.

    ``on_task_end(i, partial_result, checkpoint)`` is called after each task;
    passing that ``checkpoint`` back (with the same strategy, stream, seed and
    evaluators) continues the run after task ``i`` and ends with the same
    numbers as an uninterrupted run.
    """
    device = torch.device(device) if device is not None else default_device()
    seed_everything(seed)
    stream = stream.to(device)
    observers = [AccuracyMatrix(), *evaluators]
    strategy.setup(stream.info, seed=seed, device=device)
    timings = {"train_s": [], "eval_s": [], "total_s": 0.0}
    first = 0
    if checkpoint is not None:
        first = checkpoint["next_task"]
        strategy.load_state_dict(checkpoint["strategy"])
        for e, state in zip(observers, checkpoint["evaluators"]):
            e.load_state_dict(state)
        timings = copy.deepcopy(checkpoint["timings"])
        _set_rng(checkpoint["rng"])
    else:
        for e in observers:
            e.before_stream(strategy, stream)
    start = time.perf_counter() - timings["total_s"]
    for i in range(first, len(stream)):
        for e in observers:
            e.before_task(strategy, stream, i)
        t0 = time.perf_counter()
        strategy.fit_task(stream[i])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t1 = time.perf_counter()
        for e in observers:
            e.after_task(strategy, stream, i)
        timings["train_s"].append(t1 - t0)
        timings["eval_s"].append(time.perf_counter() - t1)
        timings["total_s"] = time.perf_counter() - start
        if on_task_end is not None:
            state = {"next_task": i + 1, "strategy": strategy.state_dict(),
                     "evaluators": [e.state_dict() for e in observers], "timings": copy.deepcopy(timings),
                     "rng": _get_rng()}
            on_task_end(i, _result(strategy, stream, seed, device, observers, timings), state)
    return _result(strategy, stream, seed, device, observers, timings)


def _get_rng() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _result(strategy, stream, seed, device, observers, timings) -> RunResult:
    collected: dict = {}
    found: dict = {}  # metrics from evaluators other than the accuracy matrix
    for e in observers:
        part = dict(e.result())
        found.update(part.pop("metrics", None) or {})
        collected.update(part)
    R, b, sizes = collected.pop("accuracy_matrix"), collected.pop("random_init_accuracy"), collected.pop("n_parameters")
    finished = len(R) == len(stream)
    summary = {}
    if finished:
        summary = (metrics.regression_summary(R, b) if stream.regression else
                   metrics.summary(R, b, fwt_applicable=stream.fwt_applicable(), model_sizes=sizes))
        summary.update(found)
    name = getattr(strategy, "name", type(strategy).__name__.lower())
    return RunResult(
        scenario=stream.name, strategy=name, seed=seed, setting=stream.setting,
        stream_fingerprint=stream.fingerprint,
        config={"scenario": {"name": stream.name, **stream.definition},
                "strategy": {"name": name, "class": f"{type(strategy).__module__}.{type(strategy).__qualname__}",
                             "params": strategy.get_params()}},
        versions=versions(), accuracy_matrix=[list(r) for r in R], random_init_accuracy=list(b), metrics=summary,
        timings=copy.deepcopy(timings),
        n_parameters=list(sizes), device=str(device), metric=stream.metric,
        status="finished" if finished else "running", extra=collected,
    )
