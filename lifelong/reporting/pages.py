"""The two entry pages of a report: ``index.html`` (self-contained, for a browser) and ``README.md``.

Both show the same things: the metric tables, the failed runs with their
errors, every figure with its caption (PNG shown, PDF linked) and the
experiment definition as YAML. Paths are relative to the report folder, so
the folder can be moved or published as it is.
"""
from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

import yaml

from lifelong.reporting.figures import FigureFile
from lifelong.reporting.aggregation import Aggregate
from lifelong.reporting.tables import markdown_escape, render_html, render_markdown

__all__ = ["experiment_yaml", "render_index", "render_readme"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.9em; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th.name, td.name { text-align: left; }
thead th { border-top: 2px solid #333; border-bottom: 1px solid #333; }
tbody tr:last-child td { border-bottom: 2px solid #333; }
.scroll { overflow-x: auto; }
.note { color: #555; font-size: 0.9em; }
figure { display: inline-block; vertical-align: top; margin: 0 1em 1.5em 0; max-width: 520px; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #444; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.failed pre { background: #fff4f4; }
"""


def _plain(obj: Any) -> Any:
    """``obj`` as plain YAML-safe data (dicts with str keys, lists, scalars; anything else as str)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = list(obj)
        if isinstance(obj, (set, frozenset)):
            items = sorted(items, key=str)
        return [_plain(v) for v in items]
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        try:
            return _plain(obj.item())
        except (TypeError, ValueError):
            pass
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def experiment_yaml(experiment: Mapping | None) -> str:
    """The experiment definition as YAML, keys in their given order."""
    if not experiment:
        return "{}\n"
    return yaml.safe_dump(_plain(experiment), sort_keys=False, allow_unicode=True, default_flow_style=False,
                          width=100)


def _title(experiment: Mapping | None) -> str:
    name = (experiment or {}).get("name")
    return f"Report: {name}" if name else "Report"


def _failures(agg: Aggregate) -> list[tuple[str, str, Any, str]]:
    out = []
    for scen in agg.scenarios:
        for strat in agg.strategies:
            g = agg.group(scen, strat)
            if g is not None:
                out += [(scen, strat, seed, err) for seed, err in g.failed]
    return out


def _by_scenario(agg: Aggregate, figures: Sequence[FigureFile]) -> list[tuple[str, list[FigureFile]]]:
    out = []
    for scen in agg.scenarios:
        figs = [f for f in figures if f.scenario == scen]
        if figs:
            out.append((scen, figs))
    return out


def _rel(path: Path, root: Path) -> str:
    try:
        rel = Path(path).relative_to(root)
    except ValueError:
        rel = Path("figures") / Path(path).name
    return rel.as_posix()


def _counts(agg: Aggregate) -> str:
    groups = list(agg.groups.values())
    finished = sum(g.n_finished for g in groups)
    failed = sum(g.n_failed for g in groups)
    return (f"{len(agg.scenarios)} scenario(s) × {len(agg.strategies)} strategies; "
            f"{finished} finished run(s), {failed} failed.")


def render_index(agg: Aggregate, experiment: Mapping | None, figures: Sequence[FigureFile], root,
                 search: str = "") -> str:
    """``index.html``: one page with inline CSS and no external resources; figures by relative path.
    ``search``: the hyperparameter search's section, in HTML (empty: none)."""
    root = Path(root)
    title = _title(experiment)
    e = html.escape
    failures = _failures(agg)
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{e(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
             f"<h1>{e(title)}</h1>", f'<p class="note">{e(_counts(agg))}</p>',
             '<nav><a href="#metrics">Metrics</a>'
             + ('<a href="#search">Search</a>' if search else "")
             + ('<a href="#failed">Failed runs</a>' if failures else "")
             + '<a href="#figures">Figures</a><a href="#experiment">Experiment</a></nav>',
             '<h2 id="metrics">Metrics</h2>',
             '<p class="note">Also as <a href="tables/metrics.md">Markdown</a>, <a href="tables/metrics.csv">CSV</a>'
             ' and <a href="tables/metrics.tex">LaTeX</a>; the main table, for a paper column, as'
             ' <a href="tables/main.md">Markdown</a> and <a href="tables/main.tex">LaTeX</a>.</p>',
             '<div class="scroll">', render_html(agg), "</div>"] + ([search] if search else [])
    if failures:
        parts.append('<h2 id="failed">Failed runs</h2>')
        parts.append('<div class="failed">')
        for scen, strat, seed, err in failures:
            parts.append(f"<h4>{e(strat)} on {e(scen)}, seed {e(str(seed))}</h4><pre>{e(str(err))}</pre>")
        parts.append("</div>")
    parts.append('<h2 id="figures">Figures</h2>')
    for scen, figs in _by_scenario(agg, figures):
        parts.append(f"<h3>{e(scen)}</h3>")
        for f in figs:
            png, pdf = quote(_rel(f.png, root)), quote(_rel(f.pdf, root))
            parts.append(f'<figure><a href="{e(pdf)}"><img src="{e(png)}" alt="{e(f.caption)}"></a>'
                         f'<figcaption>{e(f.caption)} <a href="{e(pdf)}">PDF</a></figcaption></figure>')
    parts.append('<h2 id="experiment">Experiment</h2>')
    parts.append(f"<pre>{e(experiment_yaml(experiment))}</pre>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_readme(agg: Aggregate, experiment: Mapping | None, figures: Sequence[FigureFile], root,
                  search: str = "") -> str:
    """``README.md``: the experiment, the metric tables, the hyperparameter search (``search``, Markdown),
    the failed runs and the figures (relative image links)."""
    root = Path(root)
    ydoc = experiment_yaml(experiment)
    fence = _fence(ydoc)
    lines = [f"# {_title(experiment)}", "", _counts(agg), "",
             "Tables: [Markdown](tables/metrics.md), [CSV](tables/metrics.csv), [LaTeX](tables/metrics.tex);"
             " the main table, for a paper column: [Markdown](tables/main.md), [LaTeX](tables/main.tex);"
             " the same page as [HTML](index.html).", "",
             render_markdown(agg, heading_level=2).rstrip("\n"), ""] + ([search.rstrip("\n"), ""] if search else [])
    failures = _failures(agg)
    if failures:
        lines += ["## Failed runs", ""]
        for scen, strat, seed, err in failures:
            f = _fence(str(err))
            head = f"{markdown_escape(strat)} on {markdown_escape(scen)}, seed {markdown_escape(str(seed))}:"
            lines += [head, "", f, str(err).rstrip("\n"), f, ""]
    lines += ["## Figures", ""]
    for scen, figs in _by_scenario(agg, figures):
        lines += [f"### {markdown_escape(scen)}", ""]
        for fig in figs:
            cap = markdown_escape(fig.caption)
            lines += [f"![{cap}]({_rel(fig.png, root)})", "", f"*{cap}* ([PDF]({_rel(fig.pdf, root)}))", ""]
    lines += ["## Experiment", "", f"{fence}yaml", ydoc.rstrip("\n"), fence, ""]
    return "\n".join(lines)
