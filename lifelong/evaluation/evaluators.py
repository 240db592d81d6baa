"""Evaluators: observers of a run (``lifelong.events``) that score the learner and collect data.

``AccuracyMatrix`` is the one every run has: the T x T score matrix and the scores of the randomly
initialised model. Others (``FewShot``, ``LearningCurve``, a user's own) subclass ``Evaluator``
and return an ``Output``: the data they collected and the metrics computed from it.
"""
from __future__ import annotations

from lifelong.events import Observer, Output, RunContext

Evaluator = Observer  # an evaluator is an observer that scores the learner


def score_row(ctx: RunContext) -> list[float]:
    """The learner's score on every task's test set of the stream."""
    return [ctx.score(j) for j in range(len(ctx.stream))]


class AccuracyMatrix(Evaluator):
    """R[i][j] = test accuracy on task j after training on task i, and the accuracy of the randomly
    initialised model on every task (the reference b of GEM's forward transfer). In a regression
    stream both hold the test MSE instead (the stream's measure)."""

    def __init__(self):
        self.random_init: list[float] = []
        self.rows: list[list[float]] = []
        self.sizes: list[int] = []  # the learner's parameter count after each task

    def on_stream_start(self, ctx):
        self.random_init = score_row(ctx)

    def on_task_end(self, ctx, task):
        self.rows.append(score_row(ctx))
        ctx.publish({f"score/task{j + 1}": v for j, v in enumerate(self.rows[-1])})
        self.sizes.append(ctx.strategy.n_parameters())
