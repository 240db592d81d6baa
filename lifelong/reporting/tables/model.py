"""The table model of a report: one :class:`Table` per scenario, which every renderer draws.

* every metric as mean ± std over seeds, scaled as its measure says (one
  decimal for a percentage; otherwise three significant figures);
* the best strategy per scenario and metric in bold (in the metric's
  direction; compared on the shown, rounded values, so ties are all bold),
  when at least two strategies have it and they do not all tie; strategies
  the experiment marks as upper bounds are never bold nor ranked;
* ``n/a`` where a metric is not defined (FWT in class-incremental, BWT with
  one task) or no run finished;
* in the full table (:func:`make_tables`): the number of finished seeds, with
  a dagger and a note naming each failed run and its error, and a p-value
  column for the headline metric against the reference strategy (paired over
  seeds), ``ref.`` on the reference's own row;
* in the main table (:func:`main_tables`): only the columns the experiment
  names (:data:`MAIN_COLUMNS` by default), to fit one paper column.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from lifelong.evaluation.measures import DEFAULT, MetricInfo
from lifelong.reporting.aggregation import Aggregate, Group
from lifelong.reporting.statistics import TESTS

__all__ = ["Cell", "Row", "Table", "make_tables", "main_tables", "blocks", "intro", "glossary", "format_p",
           "one_line", "header", "NA", "DAGGER", "MAIN_COLUMNS"]

NA = "n/a"
DAGGER = "†"
_ERROR_CHARS = 240
#: The main table's columns when the experiment names none; ``acc`` is the headline of any measure.
MAIN_COLUMNS = ("acc", "forgetting", "bwt", "fewshot_at_arrival_5")


@dataclass
class Cell:
    """One table cell: ``mean`` and ``std`` already formatted (``std`` None: no ±), or a plain ``text``."""

    text: str = ""
    mean: Optional[str] = None
    std: Optional[str] = None
    bold: bool = False
    dagger: bool = False

    def draw(self, text: Callable[[str], str], pm: str, bold: str, dagger: str) -> str:
        """The cell in a renderer's markup: ``text(self.text)`` for a plain cell, else the mean and, with a
        std, ``pm`` and the std; wrapped in ``bold`` (a format string) when best; ``dagger`` appended when
        some of its runs failed."""
        if self.mean is None:
            s = text(self.text)
        else:
            s = self.mean if self.std is None else f"{self.mean}{pm}{self.std}"
        if self.bold:
            s = bold.format(s)
        return s + dagger if self.dagger else s


@dataclass
class Row:
    strategy: str
    cells: list
    is_reference: bool = False
    failed: bool = False  # some of its runs did not finish


@dataclass
class Table:
    """The rows of one scenario: ``columns`` are (key, header) pairs after the Strategy column."""

    scenario: str
    columns: list
    rows: list
    failures: list = field(default_factory=list)  # (strategy, seed, error)


def _decimals(info: MetricInfo, mean: float) -> int:
    """1 decimal for percentages; else 3 significant figures (at most 4 decimals)."""
    a = abs(mean)
    if info.percent or a == 0 or not math.isfinite(a):
        return 1
    return int(min(4, max(1, 2 - math.floor(math.log10(a)))))


def _fmt(v: float, d: int) -> str:
    s = f"{v:.{d}f}"
    if re.fullmatch(r"-0\.?0*", s):
        s = s[1:]
    return s


def format_p(p: Optional[float]) -> str:
    """A p-value to three decimals, ``<0.001`` below that, ``n/a`` for None."""
    if p is None:
        return NA
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


def one_line(text: str, limit: int = _ERROR_CHARS) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def header(info: MetricInfo) -> str:
    return f"{info.label} (%)" if info.percent else info.label


def _metric_cell(g: Optional[Group], info: MetricInfo) -> tuple[Cell, Optional[float]]:
    """The cell of ``info`` for ``g`` and the shown mean as a number (None: nothing to rank)."""
    s = g.summary(info.key) if g is not None else None
    if s is None or s.mean is None:
        return Cell(NA), None
    mean = s.mean * info.scale
    d = _decimals(info, mean)
    m = _fmt(mean, d)
    std = None if s.n < 2 else _fmt(s.std * info.scale, d)
    return Cell(mean=m, std=std), float(m)


def _p_cell(agg: Aggregate, g: Optional[Group], strategy: str, metric: str) -> Cell:
    if strategy == agg.reference:
        return Cell("ref.")
    if g is None or agg.group(g.scenario, agg.reference) is None:
        return Cell(NA)
    t = g.tests.get(metric)
    if t is None:
        return Cell(NA)
    if t.p is None and t.note == "all differences are zero":
        return Cell(f"{NA} (identical)")
    return Cell(format_p(t.p))


def _bold_best(agg: Aggregate, infos: list, shown: dict) -> None:
    """Bold the best shown value of each metric among the strategies that compete (not upper bounds)."""
    for info in infos:
        ranked = [(v, c) for strategy, v, c in shown.get(info.key, [])
                  if v is not None and strategy not in agg.upper_bounds]
        if len(ranked) < 2:
            continue
        best = max(v for v, _ in ranked) if info.higher_is_better else min(v for v, _ in ranked)
        if all(v == best for v, _ in ranked):
            continue  # a tie of all: nobody is best
        for v, c in ranked:
            c.bold = v == best


def _table(agg: Aggregate, scen: str, metrics: Sequence[str], *, full: bool) -> Table:
    """The table of ``scen`` with columns ``metrics``; ``full`` adds the seeds and p-value columns."""
    infos = [agg.info(scen, m) for m in metrics]
    primary = agg.tested(scen)
    with_p = full and agg.reference is not None
    columns = [("seeds", "Seeds")] if full else []
    for info in infos:
        columns.append((info.key, header(info)))
        if info.key == primary and with_p:
            columns.append((f"{primary}_p", f"p ({info.label})"))
    rows, shown, failures = [], {}, []
    for strategy in agg.strategies:
        g = agg.group(scen, strategy)
        if g is None:
            continue
        row = Row(strategy, [], strategy == agg.reference, g.n_failed > 0)
        rows.append(row)
        if full:
            row.cells.append(Cell(str(g.n_finished) if g.n_failed == 0 else f"{g.n_finished}/{g.n_runs}",
                                  dagger=g.n_failed > 0))
        failures += [(strategy, seed, err) for seed, err in g.failed]
        for info in infos:
            cell, value = _metric_cell(g, info)
            row.cells.append(cell)
            shown.setdefault(info.key, []).append((strategy, value, cell))
            if info.key == primary and with_p:
                row.cells.append(_p_cell(agg, g, strategy, primary))
    _bold_best(agg, infos, shown)
    return Table(scen, columns, rows, failures)


def _kind_metrics(agg: Aggregate, scen: str) -> list:
    """The metrics of every scenario scored with ``scen``'s measure, in table order."""
    measure = agg.measure(scen)
    same = [s for s in agg.scenarios if agg.measure(s) is measure]
    return [m for m in agg.metrics if any(m in agg.metrics_of(s) for s in same)]


def make_tables(agg: Aggregate, *, union_columns: bool = False) -> list[Table]:
    """One full :class:`Table` per scenario of ``agg``, rows in strategy order.

    ``union_columns``: every table gets the columns of all scenarios scored
    with its measure (the LaTeX table has one header for each measure);
    otherwise each scenario shows its core metrics and the optional ones
    (few-shot, LCA) its runs have.
    """
    return [_table(agg, scen, _kind_metrics(agg, scen) if union_columns else agg.metrics_of(scen), full=True)
            for scen in agg.scenarios]


def main_tables(agg: Aggregate, columns: Optional[Sequence[str]] = None) -> list[Table]:
    """One main :class:`Table` per scenario: the metrics ``columns`` (default :data:`MAIN_COLUMNS`), each read
    as its counterpart in the scenario's measure (``acc`` is the headline: a regression scenario's MSE), without the
    seeds and p-value columns. A column no scenario of that measure shows is left out."""
    tables = []
    for scen in agg.scenarios:
        measure, have = agg.measure(scen), _kind_metrics(agg, scen)
        keys = [measure.counterpart(k) for k in (columns or MAIN_COLUMNS)]
        tables.append(_table(agg, scen, [k for k in dict.fromkeys(keys) if k in have], full=False))
    return tables


def blocks(tables: Sequence[Table]) -> list[tuple[list, list]]:
    """The tables grouped by their columns, in order of first appearance: ``[(columns, [tables])]``."""
    out: list = []
    for t in tables:
        for cols, members in out:
            if cols == t.columns:
                members.append(t)
                break
        else:
            out.append((t.columns, [t]))
    return out


def intro(agg: Aggregate, *, tests: bool = True) -> list[str]:
    """The paragraphs that explain the tables (``tests``: and their p-value columns)."""
    lines = ["Mean ± std over the finished seeds; accuracies and the metrics made of them in percent. "
             "Bold: the best strategy of a scenario for that metric (lower is better "
             "for forgetting and MSE; higher for the others). n/a: not defined for this stream "
             "(e.g. FWT in class-incremental learning) or no finished run."]
    present = agg.present() or [DEFAULT]
    lines += [m.note for m in present if m.note]
    if agg.upper_bounds:
        lines.append(f"Upper bounds ({', '.join(agg.upper_bounds)}): shown for comparison, never bold.")
    if agg.joint:
        lines.append(f"Intransigence: how much worse each strategy scores on a task right after learning it than "
                     f"{', '.join(dict.fromkeys(agg.joint.values()))} (trained jointly on the tasks so far) on the "
                     f"same seed, mean over tasks; lower is better.")
    if tests and agg.reference is not None:
        heads = [m.metric(m.headline).label for m in present]
        others = ", ".join(f"{h} in {m.kind} scenarios" for h, m in zip(heads[1:], present[1:]))
        what = heads[0] + (f" ({others})" if others else "")
        online = [s for s in agg.scenarios if agg.tested(s) == "online_acc"]
        label = DEFAULT.metric("online_acc").label
        if online and len(online) == len(agg.scenarios):
            heads, what = [label], label
        elif online:
            heads, what = heads + [label], what + f", and {label} in the online streams ({', '.join(online)})"
        lines.append(f"{', '.join(f'p ({h})' for h in dict.fromkeys(heads))}: two-sided {TESTS[agg.test]} of each "
                     f"strategy's {what} against {agg.reference} (ref.) over the seeds both finished.")
    return lines


def glossary(agg: Aggregate) -> list[tuple[str, str]]:
    """(label, description) of every metric shown, once per distinct meaning (a BWT in MSE differs from one in %)."""
    out = []
    for m in agg.metrics:
        for scen in agg.scenarios:
            if m in agg.metrics_of(scen):
                info = agg.info(scen, m)
                if (info.label, info.description) not in out:
                    out.append((info.label, info.description))
    return out
