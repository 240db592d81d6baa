"""Numbers of a report: summaries over seeds, paired tests against a reference, and the aggregation of a grid.

Everything here is a pure function of its inputs (``RunResult`` objects or
plain numbers); nothing is printed or written.

* :func:`summarize` — n, mean, sample standard deviation and the half-width of
  the 95% confidence interval of the mean from Student's t distribution.
* :func:`paired_test` — a paired comparison over seeds (paired t-test by
  default, Wilcoxon signed-rank as an option).
* :func:`aggregate` — one :class:`Group` per (scenario, strategy): metric
  summaries, failed runs, p-values against the reference strategy, and the
  mean accuracy matrix with its per-cell confidence band (for curves).

Metric values are kept in the units of ``RunResult.metrics``: accuracies are
fractions in [0, 1] (the tables turn them into percent), ``train_s`` is in
seconds, a few-shot MSE is an MSE.

A scenario is a classification stream (``RunResult.metric == "accuracy"``, the
default when a result has no ``metric``) or a regression stream (``"mse"``):
there the matrix holds test MSEs (lower is better), the core metrics are
``mse``, ``bwt``, ``fwt``, ``forgetting`` and ``forgetting_first_based`` in MSE
units (:func:`lifelong.evaluation.metrics.regression_summary`) and there are no
``dr_*`` metrics. ``Aggregate.metric`` says which, per scenario.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
from scipy import stats as _sps

__all__ = [
    "Summary",
    "PairedTest",
    "MetricSpec",
    "Group",
    "Aggregate",
    "summarize",
    "paired_test",
    "aggregate",
    "metric_spec",
    "result_metric",
    "run_metrics",
    "CORE_METRICS",
    "REGRESSION_CORE_METRICS",
    "TESTS",
]

#: Names accepted by :func:`paired_test` (``test=``), with what they are called in a report.
TESTS = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test"}

_DR_KEYS = ("a", "bwt", "rem", "bwt_plus", "fwt", "ms")

#: Metrics every report has a column for, in table order (optional ones follow: few-shot, lca).
CORE_METRICS = ("acc", "bwt", "fwt", "forgetting", "forgetting_first_based",
                *(f"dr_{k}" for k in _DR_KEYS))
#: The same for a regression scenario (``RunResult.metric == "mse"``): the values are MSEs, not accuracies.
REGRESSION_CORE_METRICS = ("mse", "bwt", "fwt", "forgetting", "forgetting_first_based")

_ARRIVAL, _HELD_OUT = "fewshot_at_arrival_", "fewshot_held_out_"


# ---------------------------------------------------------------------------
# Summaries and tests
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """``n`` values: their mean, sample std (ddof=1; 0 when n=1) and 95% CI half-width (None when n<2).

    With n = 0 every field but ``n`` is None.
    """

    n: int
    mean: Optional[float]
    std: Optional[float]
    ci95: Optional[float]

    def as_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "std": self.std, "ci95": self.ci95}


def _clean(values: Iterable[Any]) -> list[float]:
    out = []
    for v in values:
        if v is None:
            continue
        v = float(v)
        if math.isnan(v):
            continue
        out.append(v)
    return out


def _t975(df: int) -> float:
    return float(_sps.t.ppf(0.975, df))


def summarize(values: Iterable[Any]) -> Summary:
    """Summary of a list of floats; ``None`` and NaN entries are dropped.

    ``ci95 = t.ppf(0.975, n-1) * std / sqrt(n)`` (Student's t), the half-width
    of the 95% confidence interval of the mean. For ``[0.8, 0.9, 1.0]``:
    mean 0.9, std 0.1, ci95 = 4.303 * 0.1 / sqrt(3) = 0.2484.
    """
    xs = _clean(values)
    n = len(xs)
    if n == 0:
        return Summary(0, None, None, None)
    arr = np.asarray(xs, dtype=float)
    mean = float(arr.mean())
    if n == 1:
        return Summary(1, mean, 0.0, None)
    std = float(arr.std(ddof=1))
    return Summary(n, mean, std, _t975(n - 1) * std / math.sqrt(n))


@dataclass(frozen=True)
class PairedTest:
    """Outcome of a paired test: ``p`` (None when it cannot be computed; ``note`` says why), test name, n pairs."""

    p: Optional[float]
    test: str
    n: int
    note: Optional[str] = None

    def as_dict(self) -> dict:
        return {"p": self.p, "test": self.test, "n": self.n, "note": self.note}


def _pairs(a, b) -> list[tuple[float, float]]:
    if isinstance(a, Mapping) != isinstance(b, Mapping):
        raise ValueError("paired_test: give two sequences of the same length or two mappings seed -> value")
    if isinstance(a, Mapping):
        keys = [k for k in a if k in b]
        try:
            keys = sorted(keys)
        except TypeError:
            pass
        raw = [(a[k], b[k]) for k in keys]
    else:
        a, b = list(a), list(b)
        if len(a) != len(b):
            raise ValueError(f"paired_test: the two samples must have the same length (pairs); "
                             f"got {len(a)} and {len(b)}")
        raw = list(zip(a, b))
    out = []
    for x, y in raw:
        cx, cy = _clean([x]), _clean([y])
        if cx and cy:
            out.append((cx[0], cy[0]))
    return out


def paired_test(a, b, test: str = "t") -> PairedTest:
    """Paired comparison of ``a`` (a strategy) against ``b`` (the reference), pairs matched by seed.

    ``a`` and ``b`` are either two sequences of the same length (already
    paired) or two mappings ``seed -> value`` (paired on their common seeds).
    Pairs with a missing value (None or NaN) on either side are dropped.

    ``test="t"``: paired t-test (``scipy.stats.ttest_rel``);
    ``test="wilcoxon"``: Wilcoxon signed-rank test (``scipy.stats.wilcoxon``).
    Both two-sided.

    ``p`` is None, with ``note`` saying why, when there are fewer than two
    pairs or when every difference is zero. When the differences are all
    equal but not zero the t statistic is infinite and p is 0.0 (noted).
    """
    if test not in TESTS:
        raise ValueError(f"paired_test: test must be one of {sorted(TESTS)}; got {test!r}")
    name = TESTS[test]
    pairs = _pairs(a, b)
    n = len(pairs)
    if n < 2:
        return PairedTest(None, name, n, f"fewer than 2 paired seeds ({n})")
    x = np.array([p[0] for p in pairs])
    y = np.array([p[1] for p in pairs])
    d = x - y
    if np.all(d == 0):
        return PairedTest(None, name, n, "all differences are zero")
    note = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if test == "t":
            if np.all(d == d[0]):
                return PairedTest(0.0, name, n, "constant non-zero difference (zero variance)")
            p = float(_sps.ttest_rel(x, y).pvalue)
        else:
            p = float(_sps.wilcoxon(x, y).pvalue)
            if np.any(d == 0):
                note = f"{int(np.sum(d == 0))} zero difference(s) dropped"
    if math.isnan(p):
        return PairedTest(None, name, n, "the test is undefined for these values")
    return PairedTest(p, name, n, note)


# ---------------------------------------------------------------------------
# Metric descriptions
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is shown: its label, whether it is a fraction shown in percent, and its direction."""

    key: str
    label: str
    percent: bool
    higher_is_better: bool
    description: str


_SPECS = {
    "acc": ("ACC", True, True, "average accuracy after the last task (GEM)"),
    "bwt": ("BWT", True, True, "backward transfer (GEM)"),
    "fwt": ("FWT", True, True, "forward transfer (GEM)"),
    "forgetting": ("Forgetting", True, False, "average forgetting, max-based (Chaudhry et al. 2018)"),
    "forgetting_first_based": ("Forgetting (first)", True, False, "average forgetting, first-based (Avalanche)"),
    "dr_a": ("DR A", True, True, "accuracy over the run (Díaz-Rodríguez et al. 2018)"),
    "dr_bwt": ("DR BWT", True, True, "backward transfer over all pairs (Díaz-Rodríguez et al. 2018)"),
    "dr_rem": ("DR REM", True, True, "remembering (Díaz-Rodríguez et al. 2018)"),
    "dr_bwt_plus": ("DR BWT+", True, True, "positive backward transfer (Díaz-Rodríguez et al. 2018)"),
    "dr_fwt": ("DR FWT", True, True, "forward transfer, upper triangle (Díaz-Rodríguez et al. 2018)"),
    "dr_ms": ("DR MS", True, True, "model-size efficiency (Díaz-Rodríguez et al. 2018)"),
    "lca": ("LCA", True, True, "learning curve area (A-GEM, Chaudhry et al. 2019)"),
    "train_s": ("Train (s)", False, False, "training time in seconds, summed over tasks"),
}

#: Regression scenarios: the core metrics in test-MSE units (not percent), signs as in
#: :func:`lifelong.evaluation.metrics.regression_summary`.
_REGRESSION_SPECS = {
    "mse": ("MSE", False, False, "mean test MSE over all tasks after the last task (regression; lower is better)"),
    "bwt": ("BWT", False, True, "backward transfer in test MSE, mean over i<T of E[i,i] - E[T,i] "
                                "(regression; negative when the error on earlier tasks grew)"),
    "fwt": ("FWT", False, True, "forward transfer in test MSE, mean over i>1 of b[i] - E[i-1,i] "
                                "(regression; positive when earlier tasks lowered the error before training)"),
    "forgetting": ("Forgetting", False, False, "rise of the test MSE on each task from its best, mean over "
                                               "the tasks before the last (regression, max-based)"),
    "forgetting_first_based": ("Forgetting (first)", False, False, "rise of the test MSE on each task since it "
                                                                   "was trained (regression, first-based)"),
}


def metric_spec(key: str, fewshot_metric: str = "accuracy", *, matrix_metric: str = "accuracy") -> MetricSpec:
    """The :class:`MetricSpec` of ``key``.

    ``fewshot_at_arrival_<K>`` and ``fewshot_held_out_<K>`` are in percent
    and higher-is-better when the few-shot metric is ``"accuracy"``; for
    ``"mse"`` (regression) they are MSEs, shown as they are, lower-is-better.
    ``matrix_metric="mse"`` (a regression scenario) gives the core metrics
    (``mse``, ``bwt``, ``fwt``, forgetting) in MSE units.
    """
    if key.startswith(_ARRIVAL):
        k = key[len(_ARRIVAL):]
        if fewshot_metric == "mse":
            return MetricSpec(key, f"{k}-shot MSE", False, False,
                              f"MSE after {k}-shot adaptation at each task's arrival, mean over tasks after the first")
        return MetricSpec(key, f"{k}-shot", True, True,
                          f"accuracy after {k}-shot adaptation at each task's arrival, mean over tasks after the first")
    if key.startswith(_HELD_OUT):
        k = key[len(_HELD_OUT):]
        what = "MSE" if fewshot_metric == "mse" else "accuracy"
        desc = (f"{what} after {k}-shot adaptation on the held-out tasks (never trained on) after the stream, "
                f"mean over those tasks and the draws")
        if fewshot_metric == "mse":
            return MetricSpec(key, f"{k}-shot held-out MSE", False, False, desc)
        return MetricSpec(key, f"{k}-shot held-out", True, True, desc)
    if matrix_metric == "mse" and key in _REGRESSION_SPECS:
        label, pct, hib, desc = _REGRESSION_SPECS[key]
        return MetricSpec(key, label, pct, hib, desc)
    if key in _SPECS:
        label, pct, hib, desc = _SPECS[key]
        return MetricSpec(key, label, pct, hib, desc)
    return MetricSpec(key, key, False, True, key)


def _k_sort_key(k: str):
    try:
        return (0, float(k), k)
    except ValueError:
        return (1, 0.0, k)


# ---------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------


@dataclass
class Group:
    """Every run of one strategy on one scenario, summarised over seeds.

    ``values[metric]`` maps seed -> value (finished runs, value not None);
    ``summaries[metric]`` and ``tests[metric]`` (vs the reference; absent for
    the reference itself or without a reference) follow from it.
    ``failed`` lists ``(seed, error)`` of every run that did not finish.
    ``matrix_mean`` / ``matrix_ci95`` (T x T, NaN where undefined) are the
    per-cell mean and 95% CI half-width of R[i][j] over seeds;
    ``avg_seen_mean`` / ``avg_seen_ci95`` (length T) of the mean accuracy
    (test MSE in a regression scenario) over the tasks seen so far,
    ``mean_{j<=i} R[i][j]``.
    ``fewshot`` holds the few-shot curves when the runs have them
    (see :func:`aggregate`).
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
        return self.summaries.get(metric, Summary(0, None, None, None))


@dataclass
class Aggregate:
    """The groups of a grid, in display order, with what they were compared against."""

    scenarios: list
    strategies: list
    groups: dict
    metrics: list
    reference: Optional[str]
    test: str
    fewshot_metric: dict = field(default_factory=dict)
    #: What the accuracy matrices of a scenario hold: ``"accuracy"`` (also when absent) or ``"mse"``.
    metric: dict = field(default_factory=dict)

    def group(self, scenario: str, strategy: str) -> Optional[Group]:
        return self.groups.get((scenario, strategy))

    def matrix_metric(self, scenario: str) -> str:
        """``"mse"`` for a regression scenario, else ``"accuracy"``."""
        return self.metric.get(scenario, "accuracy")

    def is_regression(self, scenario: str) -> bool:
        return self.matrix_metric(scenario) == "mse"

    @property
    def has_regression(self) -> bool:
        return any(self.is_regression(s) for s in self.scenarios)

    def primary(self, scenario: str) -> str:
        """The headline metric of ``scenario``: ``"acc"``, or ``"mse"`` for a regression scenario."""
        return "mse" if self.is_regression(scenario) else "acc"

    def spec(self, scenario: str, metric: str) -> MetricSpec:
        mm = self.matrix_metric(scenario)
        return metric_spec(metric, self.fewshot_metric.get(scenario, mm), matrix_metric=mm)

    def metrics_of(self, scenario: str) -> list:
        """The metrics shown for ``scenario``: the core ones and the optional ones that some run there has."""
        have = set()
        for s in self.strategies:
            g = self.group(scenario, s)
            if g is not None:
                have.update(k for k, v in g.values.items() if v)
        core = REGRESSION_CORE_METRICS if self.is_regression(scenario) else CORE_METRICS
        return [m for m in self.metrics if m in core or (m in have and m not in CORE_METRICS + ("mse",))]


def _get(obj, name, default=None):
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _fewshot_tasks_for_mean(tasks: list) -> list:
    """Tasks after the first (the one-shot few-shot score of a stream); all of them if there is only one."""
    later = [t for t in tasks if int(_get(t, "task", 0)) > 0]
    return later if later else list(tasks)


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


def _fewshot_mean_over_tasks(fs: Mapping, k: str) -> Optional[float]:
    vals = []
    for t in _fewshot_tasks_for_mean(list(fs.get("tasks") or [])):
        v = _cell(t, k)
        if v is not None:
            vals.append(v)
    return float(np.mean(vals)) if vals else None


def result_metric(result) -> str:
    """What the accuracy matrix of ``result`` holds: ``"mse"`` (a regression stream) or ``"accuracy"``."""
    return "mse" if str(_get(result, "metric") or "accuracy") == "mse" else "accuracy"


def run_metrics(result) -> dict:
    """The flat metric dict of one finished run: core metrics, ``dr_*``, few-shot, ``lca`` and ``train_s``.

    For a regression run (``metric == "mse"``) the core metrics are ``mse``,
    ``bwt``, ``fwt``, ``forgetting`` and ``forgetting_first_based`` (MSE
    units) and there is no ``acc`` nor ``dr_*``.

    ``fewshot_at_arrival_<K>`` comes from ``metrics["fewshot_at_arrival"]``;
    when that is absent but ``extra["fewshot"]`` is there, it is computed the
    same way (mean over the tasks after the first of the per-task mean at K).
    ``fewshot_held_out_<K>`` comes from ``metrics["fewshot_held_out"]``, else
    from ``extra["fewshot"]["held_out"]["k"][K]["mean"]``.
    """
    m = dict(_get(result, "metrics") or {})
    out: dict = {}
    if result_metric(result) == "mse":
        for key in REGRESSION_CORE_METRICS:
            out[key] = m.get(key)
    else:
        for key in ("acc", "bwt", "fwt", "forgetting", "forgetting_first_based"):
            out[key] = m.get(key)
        dr = m.get("diaz_rodriguez") or {}
        for k in _DR_KEYS:
            out[f"dr_{k}"] = dr.get(k)
    fs_metric = m.get("fewshot_at_arrival")
    fs = (_get(result, "extra") or {}).get("fewshot")
    if isinstance(fs_metric, Mapping):
        for k, v in fs_metric.items():
            out[f"{_ARRIVAL}{k}"] = v
    elif isinstance(fs, Mapping):
        for k in _fewshot_ks(fs):
            out[f"{_ARRIVAL}{k}"] = _fewshot_mean_over_tasks(fs, k)
    held = m.get("fewshot_held_out")
    held_fs = fs.get("held_out") if isinstance(fs, Mapping) else None
    if isinstance(held, Mapping):
        for k, v in held.items():
            out[f"{_HELD_OUT}{k}"] = v
    elif isinstance(held_fs, Mapping):
        for k, cell in (held_fs.get("k") or {}).items():
            out[f"{_HELD_OUT}{k}"] = cell.get("mean") if isinstance(cell, Mapping) else None
    if "lca" in m:
        out["lca"] = m.get("lca")
    timings = _get(result, "timings") or {}
    train = timings.get("train_s")
    out["train_s"] = float(sum(train)) if train else None
    return out


def _fewshot_ks(fs: Mapping) -> list:
    ks = [str(k) for k in (fs.get("shots") or [])]
    for t in fs.get("tasks") or []:
        for k in (t.get("k") or {}):
            if str(k) not in ks:
                ks.append(str(k))
    return sorted(set(ks), key=_k_sort_key)


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


def _mean_ci(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-element mean and 95% CI half-width over axis 0 (NaN where n < 2)."""
    n = stack.shape[0]
    mean = stack.mean(axis=0)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    std = stack.std(axis=0, ddof=1)
    return mean, _t975(n - 1) * std / math.sqrt(n)


def _dedupe(results: Sequence) -> list:
    """One result per (scenario, strategy, seed): a finished one wins over one that is not, else the later one."""
    chosen: dict = {}
    for r in results:
        key = (str(_get(r, "scenario")), str(_get(r, "strategy")), _get(r, "seed"))
        prev = chosen.get(key)
        if prev is None or _get(r, "status") == "finished" or _get(prev, "status") != "finished":
            chosen[key] = r
    return list(chosen.values())


def aggregate(results: Sequence, reference: Optional[str] = None, test: str = "t", *,
              scenarios: Optional[Sequence[str]] = None,
              strategies: Optional[Sequence[str]] = None) -> Aggregate:
    """Summarise a grid of ``RunResult`` objects per (scenario, strategy).

    Runs whose ``status`` is not ``"finished"`` are left out of every number
    and listed in ``Group.failed`` with their error. For each metric of
    :func:`run_metrics`: a :class:`Summary` over seeds and, when ``reference``
    names a strategy, a :class:`PairedTest` against the reference's runs on
    the same scenario, matched by seed (``test``: ``"t"`` or ``"wilcoxon"``).

    ``scenarios`` and ``strategies`` give the display order (e.g. the order
    of the experiment definition; strategy colours follow it); names found
    only in ``results`` follow in order of appearance. When the same
    (scenario, strategy, seed) appears more than once, a finished run wins,
    else the later one.

    Few-shot (``Group.fewshot``, when a finished run has ``extra["fewshot"]``):
    ``{"metric", "shots": [K...], "vs_k": {K: Summary over seeds of the mean
    over tasks after the first}, "arrival": {K: (tasks, mean, ci95)},
    "held_out": {K: Summary over seeds} or None, "held_out_tasks": [n...]}``
    (the number of held-out tasks of the runs).

    ``Aggregate.metric[scenario]`` is ``"mse"`` when the scenario's runs are
    regression runs (``RunResult.metric``), else ``"accuracy"``; the runs of
    one scenario must agree.
    """
    if test not in TESTS:
        raise ValueError(f"aggregate: test must be one of {sorted(TESTS)}; got {test!r}")
    results = _dedupe(results)
    scen_order = _order(list(scenarios or []), [str(_get(r, "scenario")) for r in results])
    strat_order = _order(list(strategies or []), [str(_get(r, "strategy")) for r in results])
    if reference is not None and reference not in strat_order:
        raise ValueError(f"aggregate: reference strategy {reference!r} is not among the strategies {strat_order}")

    def seed_key(r):
        s = _get(r, "seed")
        return (0, s, "") if isinstance(s, (int, float)) else (1, 0, str(s))

    by_group: dict = {}
    for r in sorted(results, key=seed_key):
        by_group.setdefault((str(_get(r, "scenario")), str(_get(r, "strategy"))), []).append(r)

    # A failed run recorded without a result says nothing about its stream (it defaults to accuracy): the
    # finished runs decide, else a failed run that got as far as an accuracy matrix.
    matrix_metric: dict = {}
    for r in results:
        if _get(r, "status") == "finished":
            scen, mm = str(_get(r, "scenario")), result_metric(r)
            if matrix_metric.setdefault(scen, mm) != mm:
                raise ValueError(f"scenario {scen!r}: its runs mix accuracy and MSE results (RunResult.metric); "
                                 f"a scenario is either a classification or a regression stream")
    for r in results:
        if _get(r, "status") != "finished" and _get(r, "accuracy_matrix"):
            matrix_metric.setdefault(str(_get(r, "scenario")), result_metric(r))

    groups: dict = {}
    all_metrics: list = []
    fewshot_metric: dict = {}
    for (scen, strat), runs in by_group.items():
        g = Group(scen, strat)
        finished = [r for r in runs if _get(r, "status") == "finished"]
        for r in runs:
            if _get(r, "status") != "finished":
                err = _get(r, "error")
                g.failed.append((_get(r, "seed"), str(err) if err else f"status {_get(r, 'status')!r}"))
        g.seeds = [_get(r, "seed") for r in finished]
        for r in finished:
            for key, v in run_metrics(r).items():
                if key not in all_metrics:
                    all_metrics.append(key)
                vals = g.values.setdefault(key, {})
                if v is not None and not (isinstance(v, float) and math.isnan(v)):
                    vals[_get(r, "seed")] = float(v)
        for key, vals in g.values.items():
            g.summaries[key] = summarize(vals.values())
        _curves(g, finished)
        fs = _fewshot(finished)
        if fs is not None:
            held = {key[len(_HELD_OUT):]: s for key, s in g.summaries.items()
                    if key.startswith(_HELD_OUT) and s.n > 0}
            fs["held_out"] = {k: held[k] for k in sorted(held, key=_k_sort_key)} or None
            fs["held_out_tasks"] = sorted({int(n) for r in finished
                                           for n in [(((_get(r, "extra") or {}).get("fewshot") or {})
                                                      .get("held_out") or {}).get("n_tasks")]
                                           if isinstance(n, (int, float))})
            g.fewshot = fs
            fewshot_metric.setdefault(scen, fs["metric"])
        groups[(scen, strat)] = g

    if reference is not None:
        for (scen, strat), g in groups.items():
            ref = groups.get((scen, reference))
            if strat == reference or ref is None:
                continue
            for key in g.values:
                g.tests[key] = paired_test(g.values[key], ref.values.get(key, {}), test=test)

    metrics_order = [m for m in CORE_METRICS]
    if "mse" in matrix_metric.values():
        metrics_order.insert(1, "mse")
    extra = [m for m in all_metrics if m not in metrics_order and m != "train_s"]
    fs_keys = sorted((m for m in extra if m.startswith(_ARRIVAL)), key=lambda m: _k_sort_key(m[len(_ARRIVAL):]))
    fs_keys += sorted((m for m in extra if m.startswith(_HELD_OUT)), key=lambda m: _k_sort_key(m[len(_HELD_OUT):]))
    others = [m for m in extra if not m.startswith((_ARRIVAL, _HELD_OUT))]
    if "lca" in others:
        others.remove("lca")
        others.insert(0, "lca")
    # Training time is kept out of the tables: it varies from run to run, and a report must be the
    # same whether or not its experiment was interrupted. It stays in each run's result.
    metrics_order += fs_keys + others
    return Aggregate(scen_order, strat_order, groups, metrics_order, reference, test, fewshot_metric,
                     {s: matrix_metric.get(s, "accuracy") for s in scen_order})


def _curves(g: Group, finished: list) -> None:
    mats = []
    for r in finished:
        R = _get(r, "accuracy_matrix") or []
        if not R:
            continue
        arr = np.asarray(R, dtype=float)
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f"{g.strategy} on {g.scenario}, seed {_get(r, 'seed')}: the accuracy matrix of a "
                             f"finished run must be square; got shape {arr.shape}")
        mats.append(arr)
    if not mats:
        return
    shapes = sorted({m.shape for m in mats})
    if len(shapes) > 1:
        raise ValueError(f"{g.strategy} on {g.scenario}: finished runs have accuracy matrices of different "
                         f"sizes {shapes}")
    stack = np.stack(mats)
    g.matrix_mean, g.matrix_ci95 = _mean_ci(stack)
    T = stack.shape[1]
    seen = np.stack([[m[i, : i + 1].mean() for i in range(T)] for m in mats])
    g.avg_seen_mean, g.avg_seen_ci95 = _mean_ci(seen)


def _fewshot(finished: list) -> Optional[dict]:
    data = [(_get(r, "extra") or {}).get("fewshot") for r in finished]
    data = [d for d in data if isinstance(d, Mapping) and d.get("tasks")]
    if not data:
        return None
    metric = str(data[0].get("metric") or "accuracy")
    ks = sorted({k for d in data for k in _fewshot_ks(d)}, key=_k_sort_key)
    vs_k = {k: summarize(_fewshot_mean_over_tasks(d, k) for d in data) for k in ks}
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
    return {"metric": metric, "shots": ks, "vs_k": vs_k, "arrival": arrival}
