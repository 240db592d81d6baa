"""Metric tables of a report: Markdown, CSV, LaTeX (booktabs) and the HTML of the index page.

All four come from one :class:`Table` per scenario so they always agree:

* every metric as mean ± std over seeds (one decimal, in percent for
  accuracies and the metrics made of accuracies; an MSE as it is, to three
  significant figures); training time is left out (it varies between runs, and
  a resumed experiment must give the same tables);
* a regression scenario (``RunResult.metric == "mse"``) shows MSE instead of
  ACC and its BWT, FWT and forgetting in MSE units (not percent), without the
  Díaz-Rodríguez columns;
* the best strategy per scenario and metric in bold (higher is better, except
  forgetting and any MSE; compared on the shown,
  rounded values, so ties are all bold), when at least two strategies have it
  and they do not all tie;
* ``n/a`` where a metric is not defined (FWT in class-incremental, BWT with
  one task) or no run finished;
* a p-value column for ACC (MSE in a regression scenario) against the
  reference strategy (paired over seeds), ``ref.`` on the reference's own row;
* the number of finished seeds, with a dagger and a note naming each failed
  run and its error.

The CSV is for machines: one row per (scenario, strategy), raw values (fractions,
not percent), ``<metric>_mean, _std, _ci95, _n, _p`` for every metric (and a
``metric`` column, ``accuracy`` or ``mse``, when a scenario is a regression one).
The LaTeX file has one ``tabular`` for the classification scenarios and one
for the regression scenarios (their columns differ).
Nothing depends on the time or the machine, so the same results give the
same bytes.
"""
from __future__ import annotations

import csv
import html
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from lifelong.atomic import atomic_write_text
from lifelong.reporting.stats import TESTS, Aggregate, Group, MetricSpec

__all__ = ["Cell", "Table", "make_tables", "render_markdown", "render_latex", "render_csv", "render_html",
           "write_tables", "format_p", "latex_escape", "markdown_escape", "one_line"]

NA = "n/a"
DAGGER = "†"
_ERROR_CHARS = 240


@dataclass
class Cell:
    """One table cell: ``mean`` and ``std`` already formatted (``std`` None: no ±), or a plain ``text``."""

    text: str = ""
    mean: Optional[str] = None
    std: Optional[str] = None
    bold: bool = False
    dagger: bool = False


@dataclass
class Row:
    strategy: str
    cells: list
    is_reference: bool = False


@dataclass
class Table:
    """The rows of one scenario: ``columns`` are (key, header) pairs after the Strategy column."""

    scenario: str
    columns: list
    rows: list
    failures: list = field(default_factory=list)  # (strategy, seed, error)


# ---------------------------------------------------------------------------
# Number formatting
# ---------------------------------------------------------------------------


def _decimals(spec: MetricSpec, mean: float) -> int:
    """1 decimal for percentages and for seconds from 1 s up; else 3 significant figures (at most 4 decimals)."""
    a = abs(mean)
    if spec.percent or a == 0 or not math.isfinite(a) or (spec.key == "train_s" and a >= 1):
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


# ---------------------------------------------------------------------------
# The table model
# ---------------------------------------------------------------------------


def _header(spec: MetricSpec) -> str:
    return f"{spec.label} (%)" if spec.percent else spec.label


def _metric_cell(g: Optional[Group], spec: MetricSpec) -> tuple[Cell, Optional[float]]:
    """The cell of ``spec`` for ``g`` and the shown mean as a number (None: nothing to rank)."""
    s = g.summary(spec.key) if g is not None else None
    if s is None or s.mean is None:
        return Cell(NA), None
    scale = 100.0 if spec.percent else 1.0
    mean = s.mean * scale
    d = _decimals(spec, mean)
    m = _fmt(mean, d)
    std = None if s.n < 2 else _fmt(s.std * scale, d)
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


def make_tables(agg: Aggregate, *, union_columns: bool = False) -> list[Table]:
    """One :class:`Table` per scenario of ``agg``, rows in strategy order.

    ``union_columns``: every table gets the columns of all scenarios of its
    kind, classification or regression (the LaTeX table has one header for
    each kind); otherwise each scenario shows its core metrics and the
    optional ones (few-shot, LCA) its runs have.
    """
    tables = []
    for scen in agg.scenarios:
        if union_columns:
            kind = agg.is_regression(scen)
            metrics = [m for m in agg.metrics
                       if any(m in agg.metrics_of(s) for s in agg.scenarios if agg.is_regression(s) == kind)]
        else:
            metrics = agg.metrics_of(scen)
        specs = [agg.spec(scen, m) for m in metrics]
        primary = agg.primary(scen)
        columns = [("seeds", "Seeds")]
        for spec in specs:
            columns.append((spec.key, _header(spec)))
            if spec.key == primary and agg.reference is not None:
                columns.append((f"{primary}_p", f"p ({spec.label})"))
        strategies = [s for s in agg.strategies if agg.group(scen, s) is not None]
        rows = [Row(s, [], s == agg.reference) for s in strategies]
        shown: dict = {}
        failures = []
        for row in rows:
            g = agg.group(scen, row.strategy)
            seeds = Cell(str(g.n_finished) if g.n_failed == 0 else f"{g.n_finished}/{g.n_runs}",
                         dagger=g.n_failed > 0)
            row.cells.append(seeds)
            for seed, err in g.failed:
                failures.append((row.strategy, seed, err))
            for spec in specs:
                cell, value = _metric_cell(g, spec)
                row.cells.append(cell)
                shown.setdefault(spec.key, []).append((value, cell))
                if spec.key == primary and agg.reference is not None:
                    row.cells.append(_p_cell(agg, g, row.strategy, primary))
        for spec in specs:
            ranked = [(v, c) for v, c in shown.get(spec.key, []) if v is not None]
            if len(ranked) < 2:
                continue
            best = max(v for v, _ in ranked) if spec.higher_is_better else min(v for v, _ in ranked)
            if all(v == best for v, _ in ranked):
                continue  # a tie of all: nobody is best
            for v, c in ranked:
                c.bold = v == best
        tables.append(Table(scen, columns, rows, failures))
    return tables


def _intro(agg: Aggregate) -> list[str]:
    lines = ["Mean ± std over the finished seeds; accuracies and the metrics made of them in percent. "
             "Bold: the best strategy of a scenario for that metric (lower is better "
             "for forgetting and MSE; higher for the others). n/a: not defined for this stream "
             "(e.g. FWT in class-incremental learning) or no finished run."]
    regression = agg.has_regression
    if regression:
        lines.append("Regression scenarios show the test MSE instead of ACC, and their BWT, FWT and forgetting "
                     "in MSE units (not percent): lower is better for MSE and forgetting, higher for BWT and FWT "
                     "(BWT < 0: the error on earlier tasks grew).")
    if agg.reference is not None:
        if not regression:
            lines.append(f"p (ACC): two-sided {TESTS[agg.test]} of each strategy's ACC against "
                         f"{agg.reference} (ref.) over the seeds both finished.")
        else:
            both = any(not agg.is_regression(s) for s in agg.scenarios)
            lines.append(f"{'p (ACC), ' if both else ''}p (MSE): two-sided {TESTS[agg.test]} of each strategy's "
                         f"{'ACC (MSE in regression scenarios)' if both else 'MSE'} against "
                         f"{agg.reference} (ref.) over the seeds both finished.")
    return lines


def _glossary(agg: Aggregate) -> list[tuple[str, str]]:
    """(label, description) of every metric shown, once per distinct meaning (a BWT in MSE differs from one in %)."""
    out = []
    for m in agg.metrics:
        for scen in agg.scenarios:
            if m in agg.metrics_of(scen):
                spec = agg.spec(scen, m)
                if (spec.label, spec.description) not in out:
                    out.append((spec.label, spec.description))
    return out


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def markdown_escape(text: str) -> str:
    """Escape the characters Markdown (and its tables) would interpret."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def _md_cell(c: Cell) -> str:
    if c.mean is None:
        s = c.text  # fixed vocabulary (n/a, ref., p-values, seed counts): nothing to escape
    else:
        s = c.mean if c.std is None else f"{c.mean} ± {c.std}"
    if c.bold:
        s = f"**{s}**"
    if c.dagger:
        s += DAGGER
    return s


def _md_table(t: Table) -> list[str]:
    head = ["Strategy"] + [h for _, h in t.columns]
    lines = ["| " + " | ".join(markdown_escape(h) for h in head) + " |",
             "|" + "|".join([":---"] + ["---:"] * len(t.columns)) + "|"]
    for row in t.rows:
        lines.append("| " + " | ".join([markdown_escape(row.strategy)] + [_md_cell(c) for c in row.cells]) + " |")
    if t.failures:
        lines.append("")
        lines.append(f"{DAGGER} Failed runs, left out of the numbers:")
        lines.append("")
        for strategy, seed, err in t.failures:
            lines.append(f"- {markdown_escape(strategy)}, seed {seed}: {markdown_escape(one_line(err))}")
    return lines


def render_markdown(agg: Aggregate, tables: Optional[list] = None, *, heading_level: int = 1) -> str:
    """The tables as Markdown: an explanation, one section per scenario, the metric glossary."""
    tables = make_tables(agg) if tables is None else tables
    h = "#" * heading_level
    lines = [f"{h} Metrics", ""]
    for par in _intro(agg):
        lines += [par, ""]
    for t in tables:
        lines += [f"{h}# {markdown_escape(t.scenario)}", ""]
        lines += _md_table(t)
        lines.append("")
    gloss = _glossary(agg)
    if gloss:
        lines += [f"{h}# Metric definitions", ""]
        lines += [f"- {markdown_escape(label)}: {markdown_escape(desc)}" for label, desc in gloss]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# LaTeX
# ---------------------------------------------------------------------------


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "†": r"$^\dagger$", "±": r"$\pm$",
        "<": r"\textless{}", ">": r"\textgreater{}"}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX))


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (``& % $ # _ { } ~ ^ \\ < >``)."""
    return _TEX_RE.sub(lambda m: _TEX[m.group(0)], str(text))


def _tex_cell(c: Cell) -> str:
    if c.mean is None:
        s = "$<$0.001" if c.text == "<0.001" else latex_escape(c.text)
    else:
        s = c.mean if c.std is None else f"{c.mean} $\\pm$ {c.std}"
    if c.bold:
        s = f"\\textbf{{{s}}}"
    if c.dagger:
        s += r"$^\dagger$"
    return s


def render_latex(agg: Aggregate, tables: Optional[list] = None) -> str:
    """One booktabs ``tabular`` for all scenarios (a block per scenario), ready to ``\\input``.

    Scenarios whose tables have different columns (classification and
    regression scenarios in one report) get one ``tabular`` per set of
    columns, separated by a blank line. Needs ``\\usepackage{booktabs}``;
    put it in a ``table`` environment for a caption.
    """
    tables = make_tables(agg, union_columns=True) if tables is None else tables
    lines = ["% Generated by lifelong.reporting. Needs \\usepackage{booktabs}.",
             *("% " + one_line(par, 10_000).replace("±", "+/-") for par in _intro(agg))]
    blocks: list = []  # tables sharing their columns, in order of first appearance
    for t in tables:
        for cols, members in blocks:
            if cols == t.columns:
                members.append(t)
                break
        else:
            blocks.append((t.columns, [t]))
    if not blocks:
        blocks = [([("seeds", "Seeds")], [])]
    for b, (columns, members) in enumerate(blocks):
        if b:
            lines.append("")
        lines += _latex_tabular(columns, members)
    return "\n".join(lines) + "\n"


def _latex_tabular(columns: list, tables: list) -> list[str]:
    ncols = 1 + len(columns)
    lines = []
    align = "lr" + "c" * (len(columns) - 1)
    lines.append(f"\\begin{{tabular}}{{{align}}}")
    lines.append(r"\toprule")
    head = [f"$p$ {latex_escape(h[2:])}" if k.endswith("_p") and h.startswith("p (") else latex_escape(h)
            for k, h in [("strategy", "Strategy"), *columns]]
    lines.append(" & ".join(head) + r" \\")
    failures = []
    for t in tables:
        lines.append(r"\midrule")
        lines.append(f"\\multicolumn{{{ncols}}}{{l}}{{\\textit{{{latex_escape(t.scenario)}}}}} \\\\")
        for row in t.rows:
            lines.append(" & ".join([latex_escape(row.strategy)] + [_tex_cell(c) for c in row.cells]) + r" \\")
        failures += [(t.scenario, *f) for f in t.failures]
    lines.append(r"\bottomrule")
    for scen, strategy, seed, err in failures:
        note = latex_escape(f"{scen}, {strategy}, seed {seed}: {one_line(err, 120)}")
        lines.append(f"\\multicolumn{{{ncols}}}{{l}}{{\\footnotesize $^\\dagger$ failed run, left out: {note}}} \\\\")
    lines.append(r"\end{tabular}")
    return lines


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------


def _num(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


def render_csv(agg: Aggregate) -> str:
    """One row per (scenario, strategy); raw values (fractions, seconds), empty where undefined."""
    metrics = [m for m in agg.metrics if any(m in agg.metrics_of(s) for s in agg.scenarios)]
    head = ["scenario", "strategy", "is_reference", "n_runs", "n_finished", "n_failed", "failed_seeds",
            "failed_errors", "test"]
    if agg.has_regression:
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
            if agg.has_regression:
                row.append(agg.matrix_metric(scen))
            if agg.fewshot_metric:
                row.append(agg.fewshot_metric.get(scen, ""))
            for m in metrics:
                s = g.summary(m)
                t = g.tests.get(m)
                row += [_num(s.mean), _num(s.std) if s.n else "", _num(s.ci95), s.n, _num(t.p if t else None)]
            w.writerow(row)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------


def _html_cell(c: Cell) -> str:
    if c.mean is None:
        s = html.escape(c.text)
    else:
        s = c.mean if c.std is None else f"{c.mean}&nbsp;±&nbsp;{c.std}"
    if c.bold:
        s = f"<strong>{s}</strong>"
    if c.dagger:
        s += DAGGER
    return s


def render_html(agg: Aggregate, tables: Optional[list] = None, *, heading: str = "h3") -> str:
    """The tables as HTML fragments (one ``<table>`` per scenario), with the explanation and notes."""
    tables = make_tables(agg) if tables is None else tables
    out = [f"<p class=\"note\">{html.escape(par)}</p>" for par in _intro(agg)]
    for t in tables:
        out.append(f"<{heading}>{html.escape(t.scenario)}</{heading}>")
        out.append("<table>")
        out.append("<thead><tr><th class=\"name\">Strategy</th>"
                   + "".join(f"<th>{html.escape(h)}</th>" for _, h in t.columns) + "</tr></thead>")
        out.append("<tbody>")
        for row in t.rows:
            out.append(f"<tr><td class=\"name\">{html.escape(row.strategy)}</td>"
                       + "".join(f"<td>{_html_cell(c)}</td>" for c in row.cells) + "</tr>")
        out.append("</tbody>")
        out.append("</table>")
        if t.failures:
            out.append(f"<p class=\"note\">{DAGGER} Failed runs, left out of the numbers:</p><ul class=\"note\">")
            for strategy, seed, err in t.failures:
                out.append(f"<li>{html.escape(strategy)}, seed {html.escape(str(seed))}: "
                           f"<code>{html.escape(one_line(err))}</code></li>")
            out.append("</ul>")
    gloss = _glossary(agg)
    if gloss:
        out.append("<details><summary>Metric definitions</summary><ul class=\"note\">")
        out += [f"<li><b>{html.escape(label)}</b>: {html.escape(desc)}</li>" for label, desc in gloss]
        out.append("</ul></details>")
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def write_tables(agg: Aggregate, out_dir) -> list[Path]:
    """Write ``tables/metrics.md``, ``metrics.csv`` and ``metrics.tex`` under ``out_dir``, atomically."""
    folder = Path(out_dir) / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    files = {"metrics.md": render_markdown(agg), "metrics.csv": render_csv(agg), "metrics.tex": render_latex(agg)}
    paths = []
    for name, text in files.items():
        path = folder / name
        atomic_write_text(path, text)
        paths.append(path)
    return paths
