"""The tables as Markdown: ``metrics.md`` (every metric) and ``main.md`` (the main table)."""
from __future__ import annotations

import re
from typing import Optional

from lifelong.reporting.aggregation import Aggregate
from lifelong.reporting.tables.model import DAGGER, Cell, Table, glossary, intro, main_tables, make_tables, one_line

__all__ = ["markdown_escape", "render_markdown", "render_main_markdown"]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def markdown_escape(text: str) -> str:
    """Escape the characters Markdown (and its tables) would interpret."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def _md_cell(c: Cell) -> str:
    # plain text is a fixed vocabulary (n/a, ref., p-values, seed counts): nothing to escape
    return c.draw(str, " ± ", "**{}**", DAGGER)


def _md_table(t: Table) -> list[str]:
    head = ["Strategy"] + [h for _, h in t.columns]
    lines = ["| " + " | ".join(markdown_escape(h) for h in head) + " |",
             "|" + "|".join([":---"] + ["---:"] * len(t.columns)) + "|"]
    mark = not any(k == "seeds" for k, _ in t.columns)  # no seeds column to carry the dagger: the name does
    for row in t.rows:
        name = markdown_escape(row.strategy) + (DAGGER if mark and row.failed else "")
        lines.append("| " + " | ".join([name] + [_md_cell(c) for c in row.cells]) + " |")
    if t.failures:
        lines.append("")
        lines.append(f"{DAGGER} Failed runs, left out of the numbers:")
        lines.append("")
        for strategy, seed, err in t.failures:
            lines.append(f"- {markdown_escape(strategy)}, seed {seed}: {markdown_escape(one_line(err))}")
    return lines


def _sections(tables: list, h: str) -> list[str]:
    lines = []
    for t in tables:
        lines += [f"{h}# {markdown_escape(t.scenario)}", ""]
        lines += _md_table(t)
        lines.append("")
    return lines


def render_markdown(agg: Aggregate, tables: Optional[list] = None, *, heading_level: int = 1) -> str:
    """The tables as Markdown: an explanation, one section per scenario, the metric glossary."""
    tables = make_tables(agg) if tables is None else tables
    h = "#" * heading_level
    lines = [f"{h} Metrics", ""]
    for par in intro(agg):
        lines += [par, ""]
    lines += _sections(tables, h)
    gloss = glossary(agg)
    if gloss:
        lines += [f"{h}# Metric definitions", ""]
        lines += [f"- {markdown_escape(label)}: {markdown_escape(desc)}" for label, desc in gloss]
        lines.append("")
    return "\n".join(lines)


def render_main_markdown(agg: Aggregate, tables: Optional[list] = None) -> str:
    """The main table as Markdown: the experiment's chosen columns, one section per scenario."""
    tables = main_tables(agg) if tables is None else tables
    lines = ["# Main results", ""]
    for par in intro(agg, tests=False):
        lines += [par, ""]
    lines += ["Every metric, the seeds and the paired tests: [metrics.md](metrics.md).", ""]
    return "\n".join(lines + _sections(tables, "#"))
