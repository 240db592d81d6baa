"""Evaluators: observers of a run (``lifelong.events``) that score the learner and collect data.

``AccuracyMatrix`` is the one every run has: the T x T score matrix and the scores of the randomly
initialised model. Others (``FewShot``, ``LearningCurve``, a user's own) subclass ``Evaluator``
and return an ``Output``: the data they collected and the metrics computed from it.
"""
from __future__ import annotations

from lifelong.events import Observer, Output, RunContext

Evaluator = Observer  # an evaluator is an observer that scores the learner


def score_row(ctx: RunContext, tasks=None) -> list:
    """The learner's score on the test set of every task of the stream, or of ``tasks`` only (the others
    None: not measured)."""
    T = len(ctx.stream)
    tasks = range(T) if tasks is None else set(tasks)
    return [ctx.score(j) if j in tasks else None for j in range(T)]


class AccuracyMatrix(Evaluator):
    """R[i][j] = test accuracy on task j after training on task i, and the accuracy of the randomly
    initialised model on every task (the reference b of GEM's forward transfer). In a regression
    stream both hold the test MSE instead (the stream's measure).

    With ``every`` = k > 1 (long streams), row i is whole only after every k-th task and after the
    last; the rows in between measure task i (the diagonal) and task i + 1 (the first super-diagonal,
    FWT's) only, the other entries None. So a stream of T tasks costs about 2T + T²/k evaluations, not
    T², and ACC, BWT, FWT, first-based forgetting and intransigence are the same as with whole rows;
    max-based forgetting and the Díaz-Rodríguez metrics run over the measured entries
    (``lifelong.evaluation.metrics``)."""

    def __init__(self, every: int = 1):
        self.every = every
        self.random_init: list[float] = []
        self.rows: list[list] = []
        self.sizes: list[int] = []  # the learner's parameter count after each task

    def on_stream_start(self, ctx):
        self.random_init = score_row(ctx)

    def on_task_end(self, ctx, task):
        whole = (task + 1) % self.every == 0 or task == len(ctx.stream) - 1
        self.rows.append(score_row(ctx, None if whole else (task, task + 1)))
        ctx.publish({f"score/task{j + 1}": v for j, v in enumerate(self.rows[-1]) if v is not None})
        self.sizes.append(ctx.strategy.n_parameters())
