"""Continual evaluation: the learner scored every N optimisation steps, not only at task boundaries.

De Lange, van de Ven & Tuytelaars (ICLR 2023) showed that accuracy on earlier tasks drops sharply
right after a task switch and partly recovers (the *stability gap*), which evaluating at task
boundaries never sees. This evaluator scores the learner on a fixed, seeded subset of each seen
task's test set before the first step, every ``every`` steps of the stream and at the end of each
task, and computes min-ACC, WC-ACC, WF^w and WP^w from the curve, and the average anytime accuracy
of Koh et al. (ICLR 2022) (:mod:`lifelong.evaluation.continual_metrics`).
"""
from __future__ import annotations

import torch

from lifelong.evaluation import continual_metrics as cm
from lifelong.evaluation.evaluators import Evaluator
from lifelong.events import Output

DEFAULTS = {"every": 10, "subset": 1000, "window": 10}
LEAST = {"every": 1, "subset": 1, "window": 2}  # the smallest value each setting may take


def invalid_setting(settings: dict) -> tuple[str, object, int] | None:
    """The first setting that is not an integer at least its ``LEAST``, as (name, value, least), or None."""
    for name, value in settings.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < LEAST[name]:
            return name, value, LEAST[name]
    return None


class ContinualEvaluation(Evaluator):
    """Every seen task's score every ``every`` optimisation steps, on at most ``subset`` test samples a
    task (the same samples at every evaluation, drawn from the run's seed); ``window`` is the w of
    WF^w and WP^w. Output: ``continual`` in the result's ``extra`` (the curve as (step, task, score)
    points, the steps at which each task ended, each task's number of test samples scored, the
    settings), and the metrics ``min_acc``, ``wc_acc``, ``wf<w>``, ``wp<w>`` and ``aaa`` where the
    measure defines them (accuracy)."""

    def __init__(self, every: int = DEFAULTS["every"], subset: int = DEFAULTS["subset"],
                 window: int = DEFAULTS["window"]):
        bad = invalid_setting({"every": every, "subset": subset, "window": window})
        if bad is not None:
            raise ValueError(f"{bad[0]} must be an integer >= {bad[2]}, got {bad[1]!r}")
        self.every, self.subset, self.window = every, subset, window
        self.step = 0  # optimisation steps of the stream so far
        self.learning = 0  # the task being learned
        self.curve: list[tuple[int, int, float]] = []
        self.ends: list[int] = []
        self.sizes: list[int] = []  # per task: the test samples its scores are over
        self.scored = True  # whether the stream's measure defines the metrics (accuracy does)
        self._subsets: dict = {}  # task -> (x, y) on the device; rebuilt from the seed, not saved

    def state_dict(self) -> dict:
        return {k: v for k, v in super().state_dict().items() if k != "_subsets"}

    def on_stream_start(self, ctx):
        self.scored = "min_acc" in ctx.measure.metrics  # the catalogue says where they are defined

    def on_task_start(self, ctx, task):
        self.learning = task
        if task == 0:
            self._evaluate(ctx)  # before any training

    def on_step(self, ctx, task, step, loss):
        self.step += 1
        if self.step % self.every == 0:
            self._evaluate(ctx)

    def on_task_end(self, ctx, task):
        self.ends.append(self.step)
        if not self.curve or self.curve[-1][0] != self.step:
            self._evaluate(ctx)

    def _evaluate(self, ctx) -> None:
        tasks = range(self.learning + 1)
        scores = ctx.scores(tasks, [self._subset(ctx, t) for t in tasks])
        self.curve += [(self.step, task, score) for task, score in zip(tasks, scores)]
        ctx.publish({f"continual/task{task + 1}": score for task, score in zip(tasks, scores)})

    def _subset(self, ctx, task: int):
        if task not in self._subsets:
            t = ctx.stream[task]
            n = len(t.y_test)
            if n <= self.subset:
                self._subsets[task] = (t.x_test, t.y_test)
            else:
                idx = torch.randperm(n, generator=ctx.generator(task))[: self.subset].sort().values
                idx = idx.to(t.y_test.device)
                self._subsets[task] = (t.x_test[idx], t.y_test[idx])
            if task == len(self.sizes):
                self.sizes.append(len(self._subsets[task][1]))
        return self._subsets[task]

    def output(self) -> Output:
        data = {"continual": {"every": self.every, "subset": self.subset, "window": self.window,
                              "task_ends": list(self.ends), "sizes": list(self.sizes),
                              "curve": [list(p) for p in self.curve]}}
        if not self.scored:
            return Output(data)
        w = self.window
        return Output(data, {"min_acc": cm.min_acc(self.curve, self.ends), "wc_acc": cm.wc_acc(self.curve, self.ends),
                             f"wf{w}": cm.windowed_forgetting(self.curve, w),
                             f"wp{w}": cm.windowed_plasticity(self.curve, w),
                             "aaa": cm.average_anytime_accuracy(self.curve, self.sizes)})
