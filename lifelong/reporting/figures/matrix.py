"""``heatmap_<scenario>_<strategy>``: the mean score matrix of one strategy, values in the cells up to 15 tasks.

A bounded measure (accuracy) is coloured over its whole range (0-100%); an
unbounded one (test MSE) from the data's range, logarithmic when it spans
more than 100x. Bright is always good: high accuracy, low error.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from lifelong.evaluation.measures import Measure
from lifelong.reporting.aggregation import Group
from lifelong.reporting.figures.common import Drawn, log_scale
from lifelong.reporting.style import COLUMN_WIDTH

__all__ = ["draw"]


def _norm(m: Measure, M: np.ndarray) -> tuple[Normalize, bool]:
    """The colour scale of matrix ``M`` (already scaled) and whether it is logarithmic."""
    if m.bounds is not None:
        return Normalize(vmin=m.bounds[0] * m.scale, vmax=m.bounds[1] * m.scale), False
    finite = M[np.isfinite(M)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if log_scale([finite]):
        return LogNorm(vmin=lo, vmax=hi), True
    return Normalize(vmin=lo, vmax=hi if hi > lo else lo + (abs(lo) or 1.0) * 1e-6), False


def _matrix_axes(ax, T: int) -> None:
    """Task numbers (at most about 10 shown) and labels of a T x T matrix's axes, without a frame."""
    ticks = np.arange(T)
    step = max(1, math.ceil(T / 10))
    ax.set_xticks(ticks[::step], [str(t + 1) for t in ticks[::step]])
    ax.set_yticks(ticks[::step], [str(t + 1) for t in ticks[::step]])
    ax.set_xlabel("Evaluated on task")
    ax.set_ylabel("After training on task")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)


def heatmap(g: Group, m: Measure) -> tuple[Figure, bool]:
    """The heatmap of ``g``'s mean score matrix and whether its colour scale is logarithmic."""
    T = g.n_tasks
    M = m.scale * np.asarray(g.matrix_mean, dtype=float)
    side = min(COLUMN_WIDTH, 1.3 + 0.32 * T)
    fig = Figure(figsize=(side + 0.55, side))
    ax = fig.subplots()
    ax.grid(False)
    norm, log = _norm(m, M)
    im = ax.imshow(M, norm=norm, cmap="viridis" if m.higher_is_better else "viridis_r", origin="upper",
                   interpolation="nearest")
    _matrix_axes(ax, T)
    if T <= 15:  # beyond that the cells are too small to hold a number
        size = 7 if T <= 5 else 6 if T <= 8 else 5 if T <= 12 else 4
        if m.bounds is not None:
            fmt = "{:.1f}" if T <= 6 else "{:.0f}"
        else:
            fmt = "{:.3g}" if T <= 6 else "{:.2g}"
        for i in range(T):
            for j in range(T):
                v = M[i, j]
                if not np.isfinite(v):
                    continue
                bright = float(norm(v)) if m.higher_is_better else 1.0 - float(norm(v))  # viridis is dark at 0
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=size,
                        color="white" if bright < 0.6 else "black")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    cbar.set_label(m.axis_label + (" (log scale)" if log else ""))
    cbar.outline.set_linewidth(0.4)
    n = g.n_finished
    ax.set_title(f"{g.strategy} ({n} seed{'s' if n != 1 else ''})", pad=3)
    fig.tight_layout(pad=0.3)
    return fig, log


def draw(scen: str, s: str, groups: list, m: Measure, strategy_slug) -> Iterator[Drawn]:
    """One heatmap per strategy of scenario ``scen`` (file-safe name ``s``)."""
    for g in groups:
        fig, log = heatmap(g, m)
        seeds = f"mean over {g.n_finished} seed{'s' if g.n_finished != 1 else ''}"
        scale = "" if m.bounds is not None else (f"; colour scale from the data's range{' (log)' if log else ''}, "
                                                 f"bright = {'high score' if m.higher_is_better else 'low error'}")
        caption = (f"{scen}, {g.strategy}: {m.label}{f' ({m.unit})' if m.unit else ''} on each task (columns) after "
                   f"training on each task (rows), {seeds}{scale}.")
        yield Drawn(fig, f"heatmap_{s}_{strategy_slug(g.strategy)}", "heatmap", caption, g.strategy)
