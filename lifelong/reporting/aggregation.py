"""The aggregation of a grid of runs: one :class:`Group` per (scenario, strategy), summarised over seeds.

A pure function of ``RunResult`` objects (or their dict form); nothing is
printed or written. Each group holds its metric summaries, its failed runs,
p-values against the reference strategy, and the mean score matrix with its
per-cell confidence band (for curves).

Metric values are kept in the units of ``RunResult.metrics`` (an accuracy is a
fraction in [0, 1]; the tables and figures scale it for display). Each
scenario has one measure, the one its runs were scored with
(``Aggregate.measure``): it says which core metrics the scenario has and how
each of them reads (:mod:`lifelong.evaluation.measures`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np

from lifelong.evaluation.measures import ARRIVAL, DEFAULT, HELD_OUT, MEASURES, Measure, MetricInfo
from lifelong.reporting.runs import (continual_curves, fewshot_curves, get, intransigence, is_joint, k_sort_key,
                                     metric_order, result_measure, run_metrics)
from lifelong.reporting.statistics import EMPTY, TESTS, Summary, mean_ci, paired_test, summarize

__all__ = ["Group", "Aggregate", "aggregate", "experiment_names"]


@dataclass
class Group:
    """Every run of one strategy on one scenario, summarised over seeds.

    ``values[metric]`` maps seed -> value (finished runs, value not None);
    ``summaries[metric]`` and ``tests[metric]`` (vs the reference; absent for
    the reference itself or without a reference) follow from it.
    ``failed`` lists ``(seed, error)`` of every run that did not finish.
    ``matrix_mean`` / ``matrix_ci95`` (T x T, NaN where undefined) are the
    per-cell mean and 95% CI half-width of R[i][j] over seeds;
    ``avg_seen_mean`` / ``avg_seen_ci95`` (length T) of the mean score over
    the tasks seen so far, ``mean_{j<=i} R[i][j]``.
    ``fewshot`` and ``continual`` hold the few-shot and continual-evaluation curves when the runs have
    them (see :func:`aggregate` and :func:`lifelong.reporting.runs.continual_curves`).
    """

    scenario: str
    strategy: str
    seeds: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    values: dict = field(default_factory=dict)
    summaries: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)
    matrix_mean: Optional[np.ndarray] = None
    matrix_ci95: Optional[np.ndarray] = None
    avg_seen_mean: Optional[np.ndarray] = None
    avg_seen_ci95: Optional[np.ndarray] = None
    fewshot: Optional[dict] = None
    continual: Optional[dict] = None

    @property
    def n_finished(self) -> int:
        return len(self.seeds)

    @property
    def n_failed(self) -> int:
        return len(self.failed)

    @property
    def n_runs(self) -> int:
        return self.n_finished + self.n_failed

    @property
    def n_tasks(self) -> int:
        return 0 if self.matrix_mean is None else int(self.matrix_mean.shape[0])

    def summary(self, metric: str) -> Summary:
        return self.summaries.get(metric, EMPTY)


@dataclass
class Aggregate:
    """The groups of a grid, in display order, with what they were compared against.

    ``upper_bounds`` names strategies shown for comparison only (e.g. joint
    training): the tables never mark them best. ``joint[scenario]`` names the
    upper bound whose runs gave that scenario's ``intransigence``.
    """

    scenarios: list
    strategies: list
    groups: dict
    metrics: list
    reference: Optional[str]
    test: str
    fewshot_metric: dict = field(default_factory=dict)  # scenario -> the few-shot data's measure name
    measures: dict = field(default_factory=dict)  # scenario -> Measure
    upper_bounds: tuple = ()
    joint: dict = field(default_factory=dict)

    def group(self, scenario: str, strategy: str) -> Optional[Group]:
        return self.groups.get((scenario, strategy))

    def measure(self, scenario: str) -> Measure:
        """The measure of ``scenario``'s score matrices (the default measure when none of its runs says)."""
        return self.measures.get(scenario, DEFAULT)

    def tested(self, scenario: str) -> str:
        """The metric the tables' p-values test for ``scenario``: the online accuracy where its runs have it
        (an online stream, each sample scored before it is learned: OSAKA's score), else the headline."""
        return "online_acc" if "online_acc" in self.metrics_of(scenario) else self.measure(scenario).headline

    def info(self, scenario: str, metric: str) -> MetricInfo:
        """How ``metric`` reads in ``scenario``."""
        return self.measure(scenario).metric(metric)

    def present(self) -> list:
        """The measures of the scenarios, in catalogue order."""
        used = {self.measure(s).name for s in self.scenarios}
        return [m for m in MEASURES.values() if m.name in used]

    def metrics_of(self, scenario: str) -> list:
        """The metrics shown for ``scenario``: its core ones and the optional ones that some run there has."""
        have = set()
        for s in self.strategies:
            g = self.group(scenario, s)
            if g is not None:
                have.update(k for k, v in g.values.items() if v)
        core = self.measure(scenario).core
        any_core = {k for m in MEASURES.values() for k in m.core}
        return [m for m in self.metrics if m in core or (m in have and m not in any_core)]


def experiment_names(spec) -> list:
    """Names from an experiment field: a list of names, of dicts with ``label`` (or ``name``), or a mapping
    name -> definition."""
    if spec is None:
        return []
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, Mapping):
        return [str(k) for k in spec]
    out = []
    for item in spec:
        if isinstance(item, Mapping):
            name = item.get("label", item.get("name"))
            if name is not None:
                out.append(str(name))
        else:
            out.append(str(item))
    return out


def _order(preferred: Sequence[str], seen: Sequence[str]) -> list:
    out = []
    for name in list(preferred) + list(seen):
        if name not in out:
            out.append(name)
    return out


def _dedupe(results: Sequence) -> list:
    """One result per (scenario, strategy, seed): a finished one wins over one that is not, else the later one."""
    chosen: dict = {}
    for r in results:
        key = (str(get(r, "scenario")), str(get(r, "strategy")), get(r, "seed"))
        prev = chosen.get(key)
        if prev is None or get(r, "status") == "finished" or get(prev, "status") != "finished":
            chosen[key] = r
    return list(chosen.values())


def _scenario_measures(results: list) -> dict:
    """The measure of each scenario. A failed run recorded without a result says nothing about its stream:
    the finished runs decide, else a failed run that got as far as a score matrix."""
    out: dict = {}
    for r in results:
        if get(r, "status") == "finished":
            scen, m = str(get(r, "scenario")), result_measure(r)
            if out.setdefault(scen, m) is not m:
                raise ValueError(f"scenario {scen!r}: its runs mix {out[scen].symbol} and {m.symbol} results "
                                 f"(RunResult.metric); a scenario is scored with one measure")
    for r in results:
        if get(r, "status") != "finished" and get(r, "accuracy_matrix"):
            out.setdefault(str(get(r, "scenario")), result_measure(r))
    return out


def aggregate(results: Sequence, reference: Optional[str] = None, test: str = "t", *,
              scenarios: Optional[Sequence[str]] = None, strategies: Optional[Sequence[str]] = None,
              upper_bounds: Sequence[str] = ()) -> Aggregate:
    """Summarise a grid of ``RunResult`` objects per (scenario, strategy).

    Runs whose ``status`` is not ``"finished"`` are left out of every number
    and listed in ``Group.failed`` with their error. For each metric of
    :func:`lifelong.reporting.runs.run_metrics`: a :class:`Summary` over seeds
    and, when ``reference`` names a strategy, a :class:`PairedTest` against the
    reference's runs on the same scenario, matched by seed (``test``: ``"t"``
    or ``"wilcoxon"``).

    ``scenarios`` and ``strategies`` give the display order (e.g. the order
    of the experiment definition; strategy colours follow it); names found
    only in ``results`` follow in order of appearance. When the same
    (scenario, strategy, seed) appears more than once, a finished run wins,
    else the later one. ``upper_bounds`` is kept for the tables; when the
    finished runs of one of them on a scenario are all of the Joint class (the
    first such in ``upper_bounds``), every group there gets the metric
    ``intransigence`` per seed, against the Joint run of the same seed (seeds
    without one are left out; see :func:`lifelong.reporting.runs.intransigence`).

    Few-shot (``Group.fewshot``, when a finished run has ``extra["fewshot"]``):
    ``{"metric", "shots": [K...], "vs_k": {K: Summary over seeds of the
    fewshot_at_arrival metric}, "arrival": {K: (tasks, mean, ci95)},
    "held_out": {K: Summary over seeds} or None, "held_out_tasks": [n...]}``
    (the number of held-out tasks of the runs).

    The runs of one scenario must agree on their measure (``RunResult.metric``).
    """
    if test not in TESTS:
        raise ValueError(f"aggregate: test must be one of {sorted(TESTS)}; got {test!r}")
    results = _dedupe(results)
    scen_order = _order(list(scenarios or []), [str(get(r, "scenario")) for r in results])
    strat_order = _order(list(strategies or []), [str(get(r, "strategy")) for r in results])
    if reference is not None and reference not in strat_order:
        raise ValueError(f"aggregate: reference strategy {reference!r} is not among the strategies {strat_order}")

    def seed_key(r):
        s = get(r, "seed")
        return (0, s, "") if isinstance(s, (int, float)) else (1, 0, str(s))

    by_group: dict = {}
    for r in sorted(results, key=seed_key):
        by_group.setdefault((str(get(r, "scenario")), str(get(r, "strategy"))), []).append(r)
    measures = _scenario_measures(results)

    groups: dict = {}
    found: list = []
    fewshot_metric: dict = {}
    for (scen, strat), runs in by_group.items():
        g = groups[scen, strat] = _group(scen, strat, runs, found)
        if g.fewshot is not None:
            fewshot_metric.setdefault(scen, g.fewshot["metric"])

    joint = _add_intransigence(groups, by_group, measures, upper_bounds, found)
    if reference is not None:
        for (scen, strat), g in groups.items():
            ref = groups.get((scen, reference))
            if strat == reference or ref is None:
                continue
            for key in g.values:
                g.tests[key] = paired_test(g.values[key], ref.values.get(key, {}), test=test)

    per_scenario = {s: measures.get(s, DEFAULT) for s in scen_order}
    agg = Aggregate(scen_order, strat_order, groups, [], reference, test, fewshot_metric, per_scenario,
                    tuple(upper_bounds), joint)
    agg.metrics = metric_order(found, agg.present() or [DEFAULT])
    return agg


def _finished(runs: list) -> list:
    return [r for r in runs if get(r, "status") == "finished"]


def _add_intransigence(groups: dict, by_group: dict, measures: dict, upper_bounds: Sequence[str],
                       found: list) -> dict:
    """Add ``intransigence`` to every group of each scenario that has a Joint upper bound; return scenario ->
    the name of that bound."""
    joint: dict = {}
    for scen in dict.fromkeys(s for s, _ in by_group):
        bounds = {u: _finished(by_group.get((scen, u), [])) for u in upper_bounds}
        name = next((u for u, rs in bounds.items() if rs and all(map(is_joint, rs))), None)
        if name is None:
            continue
        joint[scen] = name
        ref = {get(r, "seed"): np.asarray(get(r, "accuracy_matrix"), dtype=float) for r in bounds[name]}
        for (s, strat), runs in by_group.items():
            if s != scen:
                continue
            g, vals = groups[s, strat], {}
            for r in _finished(runs):
                R, J = np.asarray(get(r, "accuracy_matrix") or [], dtype=float), ref.get(get(r, "seed"))
                if J is not None and R.shape == J.shape and R.size:
                    vals[get(r, "seed")] = intransigence(measures.get(scen, DEFAULT), R, J)
            g.values["intransigence"], g.summaries["intransigence"] = vals, summarize(vals.values())
        if "intransigence" not in found:
            found.append("intransigence")
    return joint


def _group(scen: str, strat: str, runs: list, found: list) -> Group:
    """The group of ``runs``; metric keys not yet in ``found`` are appended to it."""
    g = Group(scen, strat)
    finished = _finished(runs)
    for r in runs:
        if get(r, "status") != "finished":
            err = get(r, "error")
            g.failed.append((get(r, "seed"), str(err) if err else f"status {get(r, 'status')!r}"))
    g.seeds = [get(r, "seed") for r in finished]
    for r in finished:
        for key, v in run_metrics(r).items():
            if key not in found:
                found.append(key)
            vals = g.values.setdefault(key, {})
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                vals[get(r, "seed")] = float(v)
    for key, vals in g.values.items():
        g.summaries[key] = summarize(vals.values())
    _curves(g, finished)
    g.continual = continual_curves(finished)
    fs = fewshot_curves(finished)
    if fs is not None:
        fs["vs_k"] = {k: g.summary(ARRIVAL + k) for k in fs["shots"]}
        held = {key[len(HELD_OUT):]: s for key, s in g.summaries.items() if key.startswith(HELD_OUT) and s.n > 0}
        fs["held_out"] = {k: held[k] for k in sorted(held, key=k_sort_key)} or None
        g.fewshot = fs
    return g


def _curves(g: Group, finished: list) -> None:
    mats = []
    for r in finished:
        R = get(r, "accuracy_matrix") or []
        if not R:
            continue
        arr = np.asarray(R, dtype=float)
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f"{g.strategy} on {g.scenario}, seed {get(r, 'seed')}: the score matrix of a "
                             f"finished run must be square; got shape {arr.shape}")
        mats.append(arr)
    if not mats:
        return
    if len({m.shape for m in mats}) > 1:  # the stream's length depends on its seed (OSAKA): no mean matrix
        return
    stack = np.stack(mats)
    g.matrix_mean, g.matrix_ci95 = mean_ci(stack)
    T = stack.shape[1]
    seen = np.stack([[m[i, : i + 1].mean() for i in range(T)] for m in mats])
    g.avg_seen_mean, g.avg_seen_ci95 = mean_ci(seen)
