"""Report figures, each written as PDF (for the paper) and PNG (for the pages), per scenario.

Every figure is drawn on a ``matplotlib.figure.Figure`` (no pyplot) inside
:func:`lifelong.reporting.style.paper_style`, and written atomically: to a
temporary file in the same folder, then renamed. PDFs carry no creation date
and PNGs no software tag, so rebuilding a report from the same results gives
the same bytes.

The figures of a scenario, by family (``<scenario>`` is the scenario name made file-safe):

* :mod:`.curves`: ``forgetting_<scenario>`` (the score on each task as
  training moves on) and ``avg_acc_<scenario>`` (the mean over the tasks seen);
* :mod:`.summary`: ``summary_<scenario>`` (final headline metric, BWT and forgetting);
* :mod:`.fewshot`: ``fewshot_k_<scenario>`` and ``fewshot_arrival_<scenario>``,
  only when the runs carry few-shot results;
* :mod:`.continual`: ``stability_<scenario>`` and ``stability_task1_<scenario>``,
  only when the runs carry continual-evaluation curves;
* :mod:`.matrix`: ``heatmap_<scenario>_<strategy>``, the mean score matrix.

Scores are shown as the scenario's measure says (accuracy in percent on
0-100; a test MSE as it is, on axes scaled to the data, logarithmic when the
values span more than two orders of magnitude). A strategy with no finished
run is left out of the figures (the tables list it); with a single seed
there is no band; T = 1 gives one-point curves.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Optional, Sequence

from lifelong.reporting.aggregation import Aggregate
from lifelong.reporting.figures import continual, curves, fewshot, matrix, summary
from lifelong.reporting.figures.common import FigureFile, Slugs, plotted, save_figure, slug
from lifelong.reporting.style import paper_style, strategy_styles

__all__ = ["FigureFile", "write_figures", "slug", "save_figure"]


def write_figures(agg: Aggregate, out_dir, *, colour_order: Optional[Sequence[str]] = None) -> list[FigureFile]:
    """Draw and write every figure of ``agg`` into ``<out_dir>/figures/``; return what was written.

    Colours follow ``colour_order`` (default: ``agg.strategies``, i.e. the
    experiment's order), so a strategy has the same colour in every figure.
    ``[p for f in write_figures(...) for p in f.paths]`` lists the files.
    """
    folder = Path(out_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    order = list(colour_order) if colour_order is not None else list(agg.strategies)
    order += [s for s in agg.strategies if s not in order]
    styles = strategy_styles(order)
    scen_slug, strat_slug = Slugs(), Slugs()
    written: list[FigureFile] = []
    with paper_style():
        for scen in agg.scenarios:
            groups = plotted(agg, scen)
            if not groups:
                continue
            s, m = scen_slug(scen), agg.measure(scen)
            families = (curves.draw(scen, s, groups, styles, m), summary.draw(scen, s, groups, styles, m),
                        fewshot.draw(scen, s, groups, styles, m), continual.draw(scen, s, groups, styles, m),
                        matrix.draw(scen, s, groups, m, strat_slug))
            for d in itertools.chain(*families):  # drawn and written one at a time
                pdf, png = save_figure(d.figure, folder, d.name)
                written.append(FigureFile(d.name, d.kind, scen, d.strategy, d.caption, pdf, png))
    return written
