"""The tables of a report: one table model (:mod:`.model`), drawn as Markdown, LaTeX, CSV and HTML.

``write_tables`` writes, under ``<out_dir>/tables/``:

* ``metrics.md``, ``metrics.csv``, ``metrics.tex``: every metric of every
  scenario, with the seeds, the failed runs and the paired tests;
* ``main.md`` and ``main.tex``: the main table, the few metrics the
  experiment names (``main_table``; default ACC, forgetting, BWT and the
  5-shot score), sized for one paper column.

Nothing depends on the time or the machine, so the same results give the
same bytes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from lifelong.atomic import atomic_write_text
from lifelong.reporting.aggregation import Aggregate
from lifelong.reporting.tables.model import (MAIN_COLUMNS, Cell, Row, Table, format_p, main_tables, make_tables,
                                             one_line)
from lifelong.reporting.tables.render_csv import render_csv
from lifelong.reporting.tables.render_html import render_html
from lifelong.reporting.tables.render_md import markdown_escape, render_main_markdown, render_markdown
from lifelong.reporting.tables.render_tex import latex_escape, render_latex, render_main_latex

__all__ = ["Cell", "Row", "Table", "make_tables", "main_tables", "render_markdown", "render_latex", "render_csv",
           "render_html", "render_main_markdown", "render_main_latex", "write_tables", "format_p", "latex_escape",
           "markdown_escape", "one_line", "MAIN_COLUMNS"]


def write_tables(agg: Aggregate, out_dir, main_columns: Optional[Sequence[str]] = None) -> list[Path]:
    """Write the full tables and the main table (columns ``main_columns``) under ``<out_dir>/tables/``,
    each file atomically; return their paths."""
    folder = Path(out_dir) / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    main = main_tables(agg, main_columns)
    files = {"metrics.md": render_markdown(agg), "metrics.csv": render_csv(agg), "metrics.tex": render_latex(agg),
             "main.md": render_main_markdown(agg, main), "main.tex": render_main_latex(agg, main)}
    paths = []
    for name, text in files.items():
        path = folder / name
        atomic_write_text(path, text)
        paths.append(path)
    return paths
