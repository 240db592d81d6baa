"""Few-shot adaptation at each task's arrival, and the learning-curve area.

``FewShot``: before the learner trains on task i, draw K-shot support sets from the task's
training data (K labelled examples per class, or K points of a regression task), ask the learner
for a copy adapted to them (``strategy.adapt``) and score that copy on the task's test set. Every
strategy is measured: the default ``adapt`` fine-tunes a copy of the network. After the stream,
the same is done on the stream's held-out tasks (classes or functions never trained on).

``LearningCurve``: A-GEM's LCA_β (Chaudhry et al. 2019, "Efficient Lifelong Learning with A-GEM"):
the accuracy on task k before its first mini-batch and after each of the first β.

The support sets depend on the run's seed, the task, K and the draw only, so every strategy run
with the same seed is scored on the same supports (paired comparisons).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lifelong.evaluation import metrics
from lifelong.evaluation.evaluators import Evaluator
from lifelong.events import Output, RunContext
from lifelong.scenarios.stream import Task


def support_set(task: Task, k: int, generator: torch.Generator, regression: bool):
    """K examples per class of ``task`` (all of a class's examples when it has fewer), or K points of a
    regression task, drawn without replacement from its training data."""
    y = task.y_train.cpu()
    if regression:
        idx = torch.randperm(len(y), generator=generator)[:k]
    else:
        picks = []
        for c in task.classes:
            of_c = (y == c).nonzero().flatten()
            picks.append(of_c[torch.randperm(len(of_c), generator=generator)[:k]])
        idx = torch.cat(picks) if picks else torch.zeros(0, dtype=torch.long)
    idx = idx.to(task.y_train.device)
    return task.x_train[idx], task.y_train[idx]


class FewShot(Evaluator):
    """K-shot adaptation score at each task's arrival (before training on it) and on held-out tasks.

    Collected as ``fewshot = {"metric", "shots", "draws", "tasks": [{"task": i, "k": {"5": {"mean", "std"}}}],
    "held_out": {"k": {...}} or None}`` (mean and std over draws; for held-out tasks over every task and
    draw); metrics ``fewshot_at_arrival`` (per K, mean over the tasks after the first) and
    ``fewshot_held_out`` (per K).
    """

    def __init__(self, shots: Sequence[int] = (1, 5, 10), draws: int = 5):
        if not shots or any(int(k) < 1 for k in shots) or draws < 1:
            raise ValueError(f"shots must be positive integers and draws at least 1, got {shots!r} and {draws!r}")
        self.shots, self.draws = [int(k) for k in shots], int(draws)
        self.metric = "accuracy"
        self.tasks: list[dict] = []
        self.held_out: dict | None = None

    def on_stream_start(self, ctx):
        self.metric = ctx.measure.name

    def on_task_start(self, ctx, task):
        cells = {str(k): _mean_std(self.scores(ctx, ctx.stream[task], k, task)) for k in self.shots}
        self.tasks.append({"task": task, "k": cells})

    def on_stream_end(self, ctx):
        stream = ctx.stream
        if stream.held_out:
            self.held_out = {"n_tasks": len(stream.held_out), "k": {
                str(k): _mean_std([s for j, task in enumerate(stream.held_out)
                                   for s in self.scores(ctx, task, k, len(stream) + j)])
                for k in self.shots}}

    def scores(self, ctx: RunContext, task: Task, k: int, position: int) -> list[float]:
        """One score per draw: the copy adapted to a K-shot support of ``task``, tested on its test set."""
        out = []
        info = ctx.stream.info_of(task)
        for d in range(self.draws):
            x, y = support_set(task, k, ctx.generator(position, k, d), ctx.stream.regression)
            adapted = ctx.strategy.adapt(x, y, info)
            out.append(ctx.measure.score(adapted, task.x_test, task.y_test, info))
        return out

    def output(self):
        fs = {"metric": self.metric, "shots": self.shots, "draws": self.draws, "tasks": self.tasks,
              "held_out": self.held_out}
        found = {"fewshot_at_arrival": metrics.fewshot_at_arrival(self.tasks, self.shots)}
        if self.held_out is not None:
            found["fewshot_held_out"] = {k: v["mean"] for k, v in self.held_out["k"].items()}
        return Output({"fewshot": fs}, found)


class LearningCurve(Evaluator):
    """Accuracy on task k before its first mini-batch and after each of its first ``beta`` steps;
    metric ``lca`` = LCA_β (A-GEM). Learners report a step through the run's step channel; a task
    with fewer steps than β keeps its last accuracy for the rest. Defined for accuracy only: off
    in a regression stream."""

    def __init__(self, beta: int = 10):
        if beta < 0:
            raise ValueError(f"beta must be a non-negative integer, got {beta!r}")
        self.beta = int(beta)
        self.curves: list[list[float]] = []
        self.current: list[float] = []
        self.active = True

    def on_stream_start(self, ctx):
        self.active = "lca" in ctx.measure.metrics  # the catalogue says where LCA is defined

    def on_task_start(self, ctx, task):
        self.current = []
        if self.active:
            self.current.append(ctx.score(task))

    def on_step(self, ctx, task, step, loss):
        if self.active and step <= self.beta:
            self.current.append(ctx.score(task))

    def on_task_end(self, ctx, task):
        if self.active:
            self.curves.append(self.current + [self.current[-1]] * (self.beta + 1 - len(self.current)))
        self.current = []

    def output(self):
        if not self.active:
            return Output()
        found = {"lca": metrics.lca(self.curves, self.beta)} if self.curves else {}
        return Output({"learning_curves": self.curves, "lca_beta": self.beta}, found)


def _mean_std(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}
