"""Continual-evaluation metrics: pure functions of the scores a learner had *during* training.

M. De Lange, G. van de Ven and T. Tuytelaars, "Continual evaluation for lifelong learning:
identifying the stability gap", ICLR 2023 (arXiv 2205.13452); their reference code is
Mattdl/ContinualEvaluation, ``src/eval/continual_eval_metrics.py``.

Conventions
-----------
``curve`` is a sequence of evaluation points ``(step, task, score)``: the accuracy on (a fixed
subset of) the test set of ``task``, measured after ``step`` optimisation steps of the stream (0:
before the first). Tasks are 0-based. ``ends[k]`` is the step at which training on task ``k``
ended (the paper's |T_k|), so a point of task ``k`` with ``step > ends[k]`` was measured while
later tasks were learned. Scores are fractions in [0, 1]; a metric that is not defined (no task
was learned before the last one) is ``None``; every result is a built-in ``float``.
"""
from __future__ import annotations

from typing import Optional, Sequence

Point = tuple[int, int, float]


def series(curve: Sequence[Point]) -> dict[int, list[tuple[int, float]]]:
    """Each task's ``(step, score)`` points, in step order."""
    out: dict[int, list[tuple[int, float]]] = {}
    for step, task, score in sorted(curve, key=lambda p: (p[0], p[1])):
        out.setdefault(int(task), []).append((int(step), float(score)))
    return out


def task_min_acc(curve: Sequence[Point], ends: Sequence[int]) -> dict[int, float]:
    """Per task ``k`` learned before the last one: min over evaluations n > |T_k| of A(E_k, f_n),
    the lowest accuracy on task ``k`` once training moved on to later tasks."""
    found = {}
    for task, points in series(curve).items():
        if task < len(ends):
            later = [score for step, score in points if step > ends[task]]
            if later:
                found[task] = min(later)
    return found


def min_acc(curve: Sequence[Point], ends: Sequence[int]) -> Optional[float]:
    """min-ACC (De Lange et al. 2023): the mean over the tasks learned before the last one of
    their lowest accuracy after their own training ended (:func:`task_min_acc`). Lower than the
    final accuracy when a task dipped and recovered: the stability gap."""
    mins = task_min_acc(curve, ends)
    return float(sum(mins.values()) / len(mins)) if mins else None


def wc_acc(curve: Sequence[Point], ends: Sequence[int]) -> Optional[float]:
    """WC-ACC (De Lange et al. 2023) at the end of the stream, while learning task k (the last
    one, 1-based): (1/k)·A(E_k, f) + (1 − 1/k)·(mean min-ACC of tasks 1..k−1), with f the last
    evaluated model. A lower bound on the accuracy the learner had at any point, task by task."""
    by_task = series(curve)
    if not by_task:
        return None
    last = max(by_task)
    current = by_task[last][-1][1]
    mins = [v for task, v in task_min_acc(curve, ends).items() if task < last]
    k = last + 1
    if k == 1 or not mins:
        return float(current)
    return float(current / k + (1 - 1 / k) * sum(mins) / len(mins))


def _windowed(curve: Sequence[Point], window: int, sign: float) -> Optional[float]:
    if window < 2:
        raise ValueError(f"window must be at least 2 evaluations, got {window!r}")
    per_task = []
    for points in series(curve).values():
        scores = [sign * s for _, s in points]
        worst = 0.0
        for j in range(1, len(scores)):
            worst = max(worst, max(scores[max(0, j - window + 1):j]) - scores[j])
        per_task.append(worst)
    return float(sum(per_task) / len(per_task)) if per_task else None


def windowed_forgetting(curve: Sequence[Point], window: int = 10) -> Optional[float]:
    """WF^w (De Lange et al. 2023): per task, the largest drop A_i − A_j (i before j) between two
    of its evaluations at most ``window`` − 1 evaluations apart, at least 0; mean over tasks."""
    return _windowed(curve, window, 1.0)


def windowed_plasticity(curve: Sequence[Point], window: int = 10) -> Optional[float]:
    """WP^w (De Lange et al. 2023): per task, the largest rise A_j − A_i (i before j) within ``window``
    evaluations, at least 0; mean over tasks."""
    return _windowed(curve, window, -1.0)


def average_anytime_accuracy(curve: Sequence[Point], sizes: Sequence[int]) -> Optional[float]:
    """AAA (Koh et al., ICLR 2022, "Online continual learning on class incremental blurry task
    configuration with anytime inference"): the mean over evaluation points of the accuracy on the
    test data of everything seen so far. Here an evaluation point is a step of ``curve`` after the
    first step (step > 0: before it nothing was seen), and its accuracy is over the test samples of
    the tasks evaluated there (those begun), each task's score weighted by its number of test samples
    ``sizes[task]``: the accuracy on their union."""
    points: dict[int, list[tuple[int, float]]] = {}
    for step, task, score in curve:
        if step > 0:
            points.setdefault(int(step), []).append((int(task), float(score)))
    if not points:
        return None
    accs = [sum(sizes[t] * s for t, s in p) / sum(sizes[t] for t, _ in p) for p in points.values()]
    return float(sum(accs) / len(accs))
