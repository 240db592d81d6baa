"""The tables as HTML fragments, for the report's ``index.html``."""
from __future__ import annotations

import html
from typing import Optional

from lifelong.reporting.aggregation import Aggregate
from lifelong.reporting.tables.model import DAGGER, Cell, glossary, intro, make_tables, one_line

__all__ = ["render_html"]


def _html_cell(c: Cell) -> str:
    return c.draw(html.escape, "&nbsp;±&nbsp;", "<strong>{}</strong>", DAGGER)


def render_html(agg: Aggregate, tables: Optional[list] = None, *, heading: str = "h3") -> str:
    """The tables as HTML fragments (one ``<table>`` per scenario), with the explanation and notes."""
    tables = make_tables(agg) if tables is None else tables
    out = [f"<p class=\"note\">{html.escape(par)}</p>" for par in intro(agg)]
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
    gloss = glossary(agg)
    if gloss:
        out.append("<details><summary>Metric definitions</summary><ul class=\"note\">")
        out += [f"<li><b>{html.escape(label)}</b>: {html.escape(desc)}</li>" for label, desc in gloss]
        out.append("</ul></details>")
    return "\n".join(out)
