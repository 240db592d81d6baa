"""Reports of an experiment: figures, tables and the pages that show them.

    from lifelong.reporting import build_report
    written = build_report(results, experiment, "reports/my-experiment", reference="naive")

The package is split by job: :mod:`.statistics` (summaries over seeds, paired
tests), :mod:`.runs` (what a report reads from one result),
:mod:`.aggregation` (the groups of a grid), :mod:`.figures` (one module per
figure family), :mod:`.tables` (the table model and its Markdown, LaTeX, CSV
and HTML renderers) and :mod:`.pages`. How a score reads (scale, unit,
direction, labels) comes from the catalogue of measures,
:mod:`lifelong.evaluation.measures`.

``build_report`` writes, under ``out_dir``:

* ``figures/<kind>_<scenario>[_<strategy>].pdf`` and ``.png`` (see
  :mod:`lifelong.reporting.figures`);
* ``tables/metrics.md``, ``metrics.csv``, ``metrics.tex`` (every metric) and
  ``tables/main.md``, ``main.tex`` (the main table) (see :mod:`lifelong.reporting.tables`);
* with a hyperparameter search, ``tables/search.md``, ``search.csv`` and ``figures/search_<scenario>``;
* ``index.html`` and ``README.md`` (see :mod:`lifelong.reporting.pages`).

Every file is written atomically; the same results give the same tables and
pages byte for byte (and, with the same matplotlib, the same figures).
Nothing is printed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence

from lifelong.atomic import atomic_write_text
from lifelong.reporting.aggregation import Aggregate, Group, aggregate, experiment_names
from lifelong.reporting.figures import FigureFile, write_figures
from lifelong.reporting.pages import render_index, render_readme
from lifelong.reporting.search import write_search
from lifelong.reporting.statistics import PairedTest, Summary, paired_test, summarize
from lifelong.reporting.tables import write_tables

__all__ = ["build_report", "aggregate", "summarize", "paired_test", "Aggregate", "Group", "Summary", "PairedTest",
           "FigureFile"]


def build_report(results: Sequence, experiment: Optional[Mapping], out_dir, reference: Optional[str] = None, *,
                 test: str = "t", search: Sequence = ()) -> dict:
    """Aggregate ``results`` (``RunResult`` objects of a scenarios × strategies × seeds grid) and write the report.

    ``experiment`` is the resolved experiment definition, shown in the pages;
    its ``scenarios`` and ``strategies`` fix the display order and the
    strategy colours, its ``main_table`` names the main table's columns and
    its ``upper_bounds`` the strategies never marked best. ``reference`` names
    the strategy the others are compared with (paired over seeds, ``test``
    ``"t"`` or ``"wilcoxon"``); when None, the experiment's ``reference``
    entry is used if it has one. ``search`` holds the runs of the experiment's hyperparameter search,
    shown in their own section (:mod:`lifelong.reporting.search`).

    Returns ``{"figures": [paths], "tables": [paths], "index": path,
    "readme": path, "aggregate": Aggregate}``.
    """
    experiment = dict(experiment or {})
    if reference is None:
        ref = experiment.get("reference")
        reference = str(ref) if isinstance(ref, str) and ref else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    agg = aggregate(results, reference=reference, test=test,
                    scenarios=experiment_names(experiment.get("scenarios")),
                    strategies=experiment_names(experiment.get("strategies")),
                    upper_bounds=experiment_names(experiment.get("upper_bounds")))
    figures: list[FigureFile] = write_figures(agg, out)
    tables = write_tables(agg, out, experiment.get("main_table"))
    search_figures, search_tables, search_md, search_html = write_search(search, experiment, out)
    figures, tables = figures + search_figures, tables + search_tables
    index, readme = out / "index.html", out / "README.md"
    atomic_write_text(index, render_index(agg, experiment, figures, out, search_html))
    atomic_write_text(readme, render_readme(agg, experiment, figures, out, search_md))
    return {"figures": [p for f in figures for p in f.paths], "tables": tables, "index": index, "readme": readme,
            "aggregate": agg}
