"""What a report reads from one run: its measure, its flat metrics and its raw few-shot scores.

Results are read duck-typed: a ``RunResult`` or its ``to_dict()`` form. The
measure of a run (``RunResult.metric``; accuracy when absent) says which
metrics it has (:mod:`lifelong.evaluation.measures`). Numbers are read from
``RunResult.metrics``, computed once by the evaluators; only the per-task
few-shot curves come from the raw data in ``extra["fewshot"]``.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import numpy as np

from lifelong.evaluation import metrics
from lifelong.evaluation.measures import (ARRIVAL, EVALUATOR_METRICS, HELD_OUT, Measure, flatten, from_evaluator, measure,
                                         windowed_window)
from lifelong.reporting.statistics import mean_ci, summarize

__all__ = ["get", "result_measure", "run_metrics", "fewshot_curves", "k_sort_key", "is_joint", "intransigence"]


def get(obj, name: str, default: Any = None) -> Any:
    """Field ``name`` of a result, whether it is an object or a mapping."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def result_measure(result) -> Measure:
    """The measure the score matrix of ``result`` holds (accuracy for results that name none)."""
    return measure(get(result, "metric"))


def metric_order(found: list, measures: list) -> list:
    """Table order: the headlines of the measures, the rest of their core metrics, the few-shot columns
    by K (at arrival, then held-out), LCA, continual evaluation's (min-ACC, WC-ACC, then WF and WP by
    window), then any other metric in order of appearance."""
    order = [m.headline for m in measures]
    order += [k for m in measures for k in m.core if k not in order]
    order = list(dict.fromkeys(order))
    extra = [m for m in found if m not in order]
    fs = sorted((m for m in extra if m.startswith(ARRIVAL)), key=lambda m: k_sort_key(m[len(ARRIVAL):]))
    fs += sorted((m for m in extra if m.startswith(HELD_OUT)), key=lambda m: k_sort_key(m[len(HELD_OUT):]))
    others = [m for m in extra if not m.startswith((ARRIVAL, HELD_OUT))]
    known = [m for m in EVALUATOR_METRICS if m in others]
    windowed = sorted((m for m in others if windowed_window(m) is not None), key=lambda m: (windowed_window(m), m))
    return order + fs + known + windowed + [m for m in others if m not in known and m not in windowed]


def run_metrics(result) -> dict:
    """The flat metric dict of one finished run: its measure's core metrics and those its evaluators added
    (few-shot columns, ``lca``, continual evaluation's).

    Core metrics the run lacks are None. ``fewshot_at_arrival_<K>`` and
    ``fewshot_held_out_<K>`` come from ``metrics["fewshot_at_arrival"]`` and
    ``metrics["fewshot_held_out"]``.
    """
    flat = flatten(get(result, "metrics") or {})
    out = {key: flat.get(key) for key in result_measure(result).core}
    out.update((key, v) for key, v in flat.items() if from_evaluator(key))
    return out


def is_joint(result) -> bool:
    """Whether ``result`` is a run of the Joint class (its config's strategy class ends with ``.Joint``), which
    at task k trains from scratch on tasks 1..k: its diagonal R[k,k] is the reference a*_k of intransigence."""
    config = get(result, "config")
    strategy = config.get("strategy") if isinstance(config, Mapping) else None
    cls = strategy.get("class") if isinstance(strategy, Mapping) else None
    return isinstance(cls, str) and cls.endswith(".Joint")


def intransigence(m: Measure, R, joint) -> float:
    """The mean over tasks k of the intransigence of a run with score matrix ``R`` against the score matrix
    ``joint`` of a Joint run (Chaudhry et al. 2018): ``a*_k - R[k,k]`` with ``a*_k = joint[k,k]`` when higher
    scores are better (:func:`lifelong.evaluation.metrics.intransigence`), ``R[k,k] - a*_k`` when lower ones are
    (an MSE): positive when the run learns a new task worse than joint training does."""
    reference = np.diag(np.asarray(joint, dtype=float))
    if m.higher_is_better:
        return float(np.mean(metrics.intransigence(R, reference)))
    return float(np.mean(np.diag(np.asarray(R, dtype=float)) - reference))


def k_sort_key(k: str):
    """Sort key of a few-shot K given as a string: by number, then non-numbers by name."""
    try:
        return (0, float(k), k)
    except ValueError:
        return (1, 0.0, k)


def _cell(task: Mapping, k: str) -> Optional[float]:
    """The mean score of one few-shot task entry at K = ``k`` (keys may be str or int), or None."""
    cells = task.get("k") or {}
    cell = cells.get(k)
    if cell is None:
        try:
            cell = cells.get(int(k))
        except ValueError:
            cell = None
    if not isinstance(cell, Mapping) or cell.get("mean") is None:
        return None
    v = float(cell["mean"])
    return None if math.isnan(v) else v


def _shots(fs: Mapping) -> list:
    ks = [str(k) for k in (fs.get("shots") or [])]
    for t in fs.get("tasks") or []:
        ks += [str(k) for k in (t.get("k") or {})]
    return sorted(set(ks), key=k_sort_key)


def fewshot_curves(finished: list) -> Optional[dict]:
    """The raw few-shot data of a group's finished runs, or None when none has ``extra["fewshot"]``.

    ``{"metric", "shots": [K...], "arrival": {K: (tasks, mean, ci95)}, "held_out_tasks": [n...]}``:
    per K, the score at each task's arrival, mean and 95% CI half-width over seeds; the numbers of
    held-out tasks of the runs.
    """
    data = [(get(r, "extra") or {}).get("fewshot") for r in finished]
    data = [d for d in data if isinstance(d, Mapping) and d.get("tasks")]
    if not data:
        return None
    ks = sorted({k for d in data for k in _shots(d)}, key=k_sort_key)
    arrival = {}
    for k in ks:
        per_task: dict = {}
        for d in data:
            for t in d.get("tasks") or []:
                v = _cell(t, k)
                if v is not None:
                    per_task.setdefault(int(t.get("task", 0)), []).append(v)
        tasks = sorted(per_task)
        sums = [summarize(per_task[t]) for t in tasks]
        arrival[k] = (tasks, np.array([s.mean for s in sums], dtype=float),
                      np.array([np.nan if s.ci95 is None else s.ci95 for s in sums], dtype=float))
    held = {(d.get("held_out") or {}).get("n_tasks") for d in data}
    return {"metric": str(data[0].get("metric") or "accuracy"), "shots": ks, "arrival": arrival,
            "held_out_tasks": sorted(int(n) for n in held if isinstance(n, (int, float)))}


def continual_curves(finished: list) -> Optional[dict]:
    """The continual-evaluation curves of a group's finished runs, or None when none has
    ``extra["continual"]``.

    ``{"every", "task_ends": [step...], "tasks": {task: (steps, mean, ci95)}}``: per task, its score at
    each evaluation step that every run has, mean and 95% CI half-width over seeds; the steps at which
    the tasks ended (the first run's: the runs of a scenario share its task sizes).
    """
    data = [(get(r, "extra") or {}).get("continual") for r in finished]
    data = [d for d in data if isinstance(d, Mapping) and d.get("curve")]
    if not data:
        return None
    points: dict = {}  # task -> step -> one score per run
    for d in data:
        for step, task, score in d["curve"]:
            points.setdefault(int(task), {}).setdefault(int(step), []).append(float(score))
    tasks = {}
    for task, by_step in sorted(points.items()):
        steps = sorted(s for s, v in by_step.items() if len(v) == len(data))
        mean, ci = mean_ci(np.array([[by_step[s][i] for s in steps] for i in range(len(data))], dtype=float))
        tasks[task] = (np.array(steps, dtype=float), mean, ci)
    return {"every": data[0].get("every"), "task_ends": [int(e) for e in data[0].get("task_ends") or []],
            "tasks": tasks}
