"""Evaluators observe a run at task boundaries and collect what metrics are computed from.

An evaluator implements any of ``before_stream``, ``before_task`` and
``after_task`` (each receives the strategy, the stream and, for the task hooks,
the task index) and returns what it collected from ``result()``, a
JSON-serialisable dict merged into the run's ``extra``; its ``metrics`` entry,
if any, is merged into the run's metrics once the stream is finished.
"""
from __future__ import annotations

import copy

import torch

from lifelong.scenarios.stream import Stream


@torch.inference_mode()
def accuracy(strategy, x: torch.Tensor, y: torch.Tensor, info, batch_size: int = 2048) -> float:
    """Fraction of ``x`` whose predicted label is ``y``, predicted in batches."""
    correct = torch.zeros((), dtype=torch.long, device=y.device)
    for start in range(0, len(y), batch_size):
        s = slice(start, start + batch_size)
        correct += (strategy.predict(x[s], info) == y[s]).sum()
    return int(correct) / max(len(y), 1)


@torch.inference_mode()
def mse(strategy, x: torch.Tensor, y: torch.Tensor, info, batch_size: int = 2048) -> float:
    """Mean squared error of the predicted targets of ``x`` against ``y``, over samples and outputs."""
    total = torch.zeros((), dtype=torch.float64, device=y.device)
    for start in range(0, len(y), batch_size):
        s = slice(start, start + batch_size)
        total += ((strategy.predict(x[s], info) - y[s]) ** 2).sum(dtype=torch.float64)
    return float(total) / max(y.numel(), 1)


def score(strategy, x, y, info, metric: str) -> float:
    """``accuracy`` or ``mse`` of ``strategy`` on a test set."""
    return mse(strategy, x, y, info) if metric == "mse" else accuracy(strategy, x, y, info)


class Evaluator:
    def before_stream(self, strategy, stream: Stream) -> None:
        pass

    def before_task(self, strategy, stream: Stream, i: int) -> None:
        pass

    def after_task(self, strategy, stream: Stream, i: int) -> None:
        pass

    def result(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        """What the evaluator collected so far, for a checkpoint."""
        return copy.deepcopy(self.__dict__)

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(copy.deepcopy(state))


class AccuracyMatrix(Evaluator):
    """R[i][j] = test accuracy on task j after training on task i, and the accuracy of the randomly
    initialised model on every task (the reference b of GEM's forward transfer). In a regression
    stream both hold the test MSE instead."""

    def before_stream(self, strategy, stream):
        self.random_init = self.row(strategy, stream)
        self.rows: list[list[float]] = []
        self.sizes: list[int] = []

    def after_task(self, strategy, stream, i):
        self.rows.append(self.row(strategy, stream))
        self.sizes.append(strategy.n_parameters())

    @staticmethod
    def row(strategy, stream) -> list[float]:
        return [score(strategy, t.x_test, t.y_test, stream.task_info(j), stream.metric) for j, t in enumerate(stream)]

    def result(self):
        return {"accuracy_matrix": self.rows, "random_init_accuracy": self.random_init, "n_parameters": self.sizes}
