"""Curves over the stream: the score on each task as training moves on, and the mean over the tasks seen.

* ``forgetting_<scenario>``: one panel per task, one line per strategy, mean
  and 95% CI band over seeds. Beyond 20 tasks, 10 evenly spaced tasks (the
  first and the last among them) get a panel, and the caption names them.
* ``avg_acc_<scenario>``: the mean score over the tasks seen so far.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
from matplotlib.figure import Figure

from lifelong.evaluation.measures import Measure
from lifelong.reporting.figures.common import (MAX_PANELS, Drawn, legend, log_scale, lower_note, n_label, panels,
                                               plot_line, task_axis, value_axis)
from lifelong.reporting.style import COLUMN_WIDTH

__all__ = ["draw"]

_SUBSET_PANELS = 10


def _shown_tasks(T: int) -> list[int]:
    """The tasks (0-based) that get a panel: all up to ``MAX_PANELS``, else ``_SUBSET_PANELS`` evenly spaced."""
    if T <= MAX_PANELS:
        return list(range(T))
    return sorted({int(round(v)) for v in np.linspace(0, T - 1, _SUBSET_PANELS)})


def _per_task_figure(groups: list, styles: dict, m: Measure, shown: list[int]) -> Figure:
    T = max(g.n_tasks for g in groups)
    n = len(shown)
    log = m.bounds is None and log_scale([g.matrix_mean[j:, j] for g in groups for j in shown if j < g.n_tasks])
    fig, axes, rows, cols = panels(n, 0.35)
    for p, ax in enumerate(axes):
        j = shown[p]
        for g in groups:
            if j >= g.n_tasks:
                continue
            x = np.arange(j, g.n_tasks) + 1
            plot_line(ax, x, g.matrix_mean[j:, j], g.matrix_ci95[j:, j], styles[g.strategy], g.strategy, m.scale)
        ax.set_title(f"Task {j + 1}", pad=2)
        value_axis(ax, m, m.axis_label if p % cols == 0 else None, log)
        task_axis(ax, T)
        if p // cols == rows - 1 or p + cols >= n:
            ax.set_xlabel("Tasks trained")
            ax.tick_params(labelbottom=True)
    legend(fig, [g.strategy for g in groups], styles)
    fig.tight_layout(pad=0.3, h_pad=0.6, w_pad=0.4)
    return fig


def _seen_figure(groups: list, styles: dict, m: Measure) -> Figure:
    T = max(g.n_tasks for g in groups)
    fig = Figure(figsize=(COLUMN_WIDTH, 2.2))
    ax = fig.subplots()
    for g in groups:
        x = np.arange(1, g.n_tasks + 1)
        plot_line(ax, x, g.avg_seen_mean, g.avg_seen_ci95, styles[g.strategy], g.strategy, m.scale)
    label = f"Mean {m.label} on seen tasks" + (f" ({m.unit})" if m.unit else "")
    value_axis(ax, m, label, m.bounds is None and log_scale([g.avg_seen_mean for g in groups]))
    task_axis(ax, T)
    ax.set_xlabel("Tasks trained")
    legend(fig, [g.strategy for g in groups], styles)
    fig.tight_layout(pad=0.3)
    return fig


def draw(scen: str, s: str, groups: list, styles: dict, m: Measure) -> Iterator[Drawn]:
    """The two curve figures of scenario ``scen`` (file-safe name ``s``)."""
    band = n_label(groups)
    T = max(g.n_tasks for g in groups)
    shown = _shown_tasks(T)
    which = "each task" if len(shown) == T else f"tasks {', '.join(str(t + 1) for t in shown)} of {T} (evenly spaced)"
    yield Drawn(_per_task_figure(groups, styles, m, shown), f"forgetting_{s}", "forgetting",
                f"{scen}: {m.label}{lower_note(m, ' (lower is better)')} on {which} as training moves through the "
                f"stream ({band}).")
    yield Drawn(_seen_figure(groups, styles, m), f"avg_acc_{s}", "avg_acc",
                f"{scen}: mean {m.label} over the tasks seen so far after each task"
                f"{lower_note(m, ', lower is better')} ({band}).")
