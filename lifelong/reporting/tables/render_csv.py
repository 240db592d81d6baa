"""The tables as CSV, for machines: one row per (scenario, strategy), raw values.

Values are in the units of ``RunResult.metrics`` (fractions, not percent);
``<metric>_mean, _std, _ci95, _n, _p`` for every metric shown; a ``metric``
column (the scenario's measure) when a scenario is scored with another
measure than the default one, and ``fewshot_metric`` when runs have few-shot
data. Empty where undefined.
"""
from __future__ import annotations

import csv
import io
import math

from lifelong.evaluation.measures import DEFAULT
from lifelong.reporting.aggregation import Aggregate
from lifelong.reporting.statistics import TESTS
from lifelong.reporting.tables.model import one_line

__all__ = ["render_csv"]


def _num(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


def render_csv(agg: Aggregate) -> str:
    """One row per (scenario, strategy); raw values (fractions), empty where undefined."""
    metrics = [m for m in agg.metrics if any(m in agg.metrics_of(s) for s in agg.scenarios)]
    with_measure = any(m is not DEFAULT for m in agg.present())
    head = ["scenario", "strategy", "is_reference", "n_runs", "n_finished", "n_failed", "failed_seeds",
            "failed_errors", "test"]
    if with_measure:
        head.append("metric")
    if agg.fewshot_metric:
        head.append("fewshot_metric")
    for m in metrics:
        head += [f"{m}_mean", f"{m}_std", f"{m}_ci95", f"{m}_n", f"{m}_p"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for scen in agg.scenarios:
        for strat in agg.strategies:
            g = agg.group(scen, strat)
            if g is None:
                continue
            row = [scen, strat, int(strat == agg.reference), g.n_runs, g.n_finished, g.n_failed,
                   ";".join(str(s) for s, _ in g.failed), " | ".join(one_line(e, 10_000) for _, e in g.failed),
                   TESTS[agg.test] if agg.reference is not None and strat != agg.reference else ""]
            if with_measure:
                row.append(agg.measure(scen).name)
            if agg.fewshot_metric:
                row.append(agg.fewshot_metric.get(scen, ""))
            for m in metrics:
                s = g.summary(m)
                t = g.tests.get(m)
                row += [_num(s.mean), _num(s.std) if s.n else "", _num(s.ci95), s.n, _num(t.p if t else None)]
            w.writerow(row)
    return buf.getvalue()
