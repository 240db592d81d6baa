"""Continual evaluation: scores against optimisation steps, only when the runs carry these curves.

* ``stability_<scenario>``: one panel per strategy, every task's score against the optimisation
  steps of the stream, task boundaries marked, mean and 95% CI band over seeds. A dip right after
  a boundary, recovered later, is the stability gap (De Lange et al. 2023).
* ``stability_task1_<scenario>``: the first task's curve, one line per strategy (boundaries marked
  when all the strategies' tasks end at the same steps).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterator

from matplotlib.figure import Figure

from lifelong.evaluation.measures import Measure
from lifelong.reporting.figures.common import Drawn, legend, n_label, panels, plot_line, value_axis
from lifelong.reporting.style import COLUMN_WIDTH, strategy_styles

__all__ = ["draw"]

_MAX_TASK_LINES = 20  # beyond this many tasks a panel draws every other task's line


def _boundaries(ax, task_ends: list) -> None:
    for end in task_ends[:-1]:
        ax.axvline(end, color="0.55", linewidth=0.6, linestyle=":", zorder=0)


def _per_strategy_figure(groups: list, m: Measure) -> Figure:
    n = len(groups)
    fig, axes, rows, cols = panels(n, 0.45)
    T = max(len(g.continual["tasks"]) for g in groups)
    step = 1 if T <= _MAX_TASK_LINES else 2
    # lines without markers: a curve has a point every few steps
    task_styles = {k: replace(v, marker="", linestyle="-") for k, v in
                   strategy_styles([f"Task {t + 1}" for t in range(T)]).items()}
    for p, ax in enumerate(axes):
        g = groups[p]
        for task, (x, mean, ci) in g.continual["tasks"].items():
            if task % step == 0:
                plot_line(ax, x, mean, ci, task_styles[f"Task {task + 1}"], f"Task {task + 1}", m.scale)
        _boundaries(ax, g.continual["task_ends"])
        ax.set_title(g.strategy, pad=2)
        value_axis(ax, m, m.axis_label if p % cols == 0 else None)
        if p // cols == rows - 1 or p + cols >= n:
            ax.set_xlabel("Optimisation steps")
            ax.tick_params(labelbottom=True)
    shown = [f"Task {t + 1}" for t in range(0, T, step)]
    legend(fig, shown, task_styles)
    fig.tight_layout(pad=0.3, h_pad=0.6, w_pad=0.4)
    return fig


def _first_task_figure(groups: list, styles: dict, m: Measure) -> Figure:
    fig = Figure(figsize=(COLUMN_WIDTH, 2.2))
    ax = fig.subplots()
    for g in groups:
        if 0 in g.continual["tasks"]:
            x, mean, ci = g.continual["tasks"][0]
            plot_line(ax, x, mean, ci, replace(styles[g.strategy], marker=""), g.strategy, m.scale)
    ends = {tuple(g.continual["task_ends"]) for g in groups}
    if len(ends) == 1:  # strategies whose tasks last different numbers of steps share no boundaries
        _boundaries(ax, groups[0].continual["task_ends"])
    value_axis(ax, m, f"Task 1 {m.label}" + (f" ({m.unit})" if m.unit else ""))
    ax.set_xlabel("Optimisation steps")
    legend(fig, [g.strategy for g in groups], {g.strategy: replace(styles[g.strategy], marker="") for g in groups})
    fig.tight_layout(pad=0.3)
    return fig


def draw(scen: str, s: str, groups: list, styles: dict, m: Measure) -> Iterator[Drawn]:
    """The two continual-evaluation figures of scenario ``scen`` (file-safe name ``s``), when some of its
    groups have the curves."""
    groups = [g for g in groups if g.continual is not None]
    if not groups:
        return
    every = sorted({g.continual["every"] for g in groups})
    how = f"evaluated every {', '.join(str(e) for e in every)} optimisation steps; {n_label(groups)}"
    yield Drawn(_per_strategy_figure(groups, m), f"stability_{s}", "stability",
                f"{scen}: {m.label} on each task seen, against the optimisation steps of the stream ({how}); "
                "dotted lines mark the task boundaries. A drop right after a boundary that later recovers is the "
                "stability gap (De Lange et al. 2023).")
    yield Drawn(_first_task_figure(groups, styles, m), f"stability_task1_{s}", "stability_task1",
                f"{scen}: {m.label} on the first task against the optimisation steps, one line per strategy ({how}).")
