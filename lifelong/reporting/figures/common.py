"""What every figure family shares: files, strategy lines, axes, panel grids and the figure record."""
from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, MaxNLocator

from lifelong.evaluation.measures import Measure
from lifelong.reporting.aggregation import Aggregate, Group
from lifelong.reporting.style import COLUMN_WIDTH, DPI, PAGE_WIDTH, StrategyStyle

__all__ = ["FigureFile", "Drawn", "slug", "Slugs", "save_figure", "plot_line", "legend", "value_axis", "log_scale",
           "task_axis", "grid", "panels", "plotted", "n_label", "MAX_PANELS"]

_BAND_ALPHA = 0.18
#: Beyond this many tasks the per-task figure shows a subset of the tasks and long lines thin their markers.
MAX_PANELS = 20
#: An axis of an unbounded measure is logarithmic when its positive values span more than this ratio.
_LOG_RATIO = 100.0


@dataclass(frozen=True)
class FigureFile:
    """One written figure: its name (without extension), what it shows and its two files."""

    name: str
    kind: str
    scenario: str
    strategy: Optional[str]
    caption: str
    pdf: Path
    png: Path

    @property
    def paths(self) -> list[Path]:
        return [self.pdf, self.png]


@dataclass(frozen=True)
class Drawn:
    """A figure a family drew, not yet written: ``name`` is ``<kind>_<scenario slug>[_<strategy slug>]``."""

    figure: Figure
    name: str
    kind: str
    caption: str
    strategy: Optional[str] = None


def slug(name: str) -> str:
    """``name`` made safe for a file name: letters, digits, ``.``, ``_`` and ``-`` kept, the rest ``-``."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.")
    return s or "unnamed"


class Slugs:
    """Distinct file-safe names for distinct names (a clash gets ``-2``, ``-3``, ... in order of first use)."""

    def __init__(self):
        self._by_name: dict = {}
        self._used: set = set()

    def __call__(self, name: str) -> str:
        if name not in self._by_name:
            base = s = slug(name)
            i = 2
            while s in self._used:
                s = f"{base}-{i}"
                i += 1
            self._used.add(s)
            self._by_name[name] = s
        return self._by_name[name]


def _atomic_savefig(fig: Figure, path: Path, fmt: str) -> None:
    metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format=fmt, dpi=DPI, metadata=metadata)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_figure(fig: Figure, folder: Path, name: str) -> tuple[Path, Path]:
    """Write ``fig`` as ``<folder>/<name>.pdf`` and ``.png``, each atomically; return both paths.

    Call it inside :func:`lifelong.reporting.style.paper_style` (the font type is read when saving).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pdf, png = folder / f"{name}.pdf", folder / f"{name}.png"
    _atomic_savefig(fig, pdf, "pdf")
    _atomic_savefig(fig, png, "png")
    return pdf, png


def plot_line(ax, x, mean, ci, style: StrategyStyle, label: str, scale: float = 1.0, **extra) -> None:
    """One strategy's line, with its 95% CI as a band (or an error bar for a single point), through its
    measured points (a score matrix measured every k tasks has NaN between them)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(mean, dtype=float) * scale
    measured = ~np.isnan(y)
    x, y, ci = x[measured], y[measured], None if ci is None else np.asarray(ci, dtype=float)[measured]
    kwargs = style.line_kwargs()
    if len(x) > MAX_PANELS:  # a marker on every point of a long line is a smear
        kwargs["markevery"] = max(1, round(len(x) / 10))
    kwargs.update(extra)
    ax.plot(x, y, label=label, **kwargs)
    if ci is None:
        return
    c = np.asarray(ci, dtype=float) * scale
    ok = np.isfinite(c) & np.isfinite(y)
    if ok.sum() >= 1 and len(x) > 1:
        lo, hi = np.where(ok, y - c, np.nan), np.where(ok, y + c, np.nan)
        ax.fill_between(x, lo, hi, color=style.color, alpha=_BAND_ALPHA, linewidth=0)
    elif ok.sum() == 1:  # a single point: show its interval as an error bar
        ax.errorbar(x[ok], y[ok], yerr=c[ok], color=style.color, linestyle="none", capsize=2, linewidth=0.8)


def legend(fig: Figure, names: Sequence[str], styles: dict) -> None:
    handles = [Line2D([], [], label=n, **styles[n].line_kwargs()) for n in names]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(names), 4),
               borderaxespad=0.1, columnspacing=1.2)


def log_scale(values) -> bool:
    """Whether values are best read on a log axis: all positive, spanning more than ``_LOG_RATIO``."""
    v = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in values]) if values else np.zeros(0)
    v = v[np.isfinite(v)]
    return bool(v.size and v.min() > 0 and v.max() / v.min() > _LOG_RATIO)


def value_axis(ax, measure: Measure, label: Optional[str] = None, log: bool = False) -> None:
    """The y axis of scores of ``measure``: its whole range when it is bounded (accuracy: 0-100%), else
    scaled to the data, logarithmic when ``log`` (and labelled so)."""
    if measure.bounds is not None:
        lo, hi = (b * measure.scale for b in measure.bounds)
        pad = 0.03 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)
        ax.yaxis.set_major_locator(FixedLocator(np.linspace(lo, hi, 5)))
    elif log:
        ax.set_yscale("log")
        label = None if label is None else f"{label} (log scale)"
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    if label is not None:
        ax.set_ylabel(label)


def task_axis(ax, T: int) -> None:
    ax.set_xlim(0.6, T + 0.4)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(T, 6), integer=True))


def grid(n: int) -> tuple[int, int, float, float]:
    """(rows, cols, width, panel height) of a small-multiples grid of ``n`` panels."""
    if n <= 3:
        cols, width = n, COLUMN_WIDTH
    elif n == 4:
        cols, width = 2, COLUMN_WIDTH
    elif n <= 9:
        cols, width = 3, COLUMN_WIDTH
    else:
        cols, width = 5, PAGE_WIDTH
    rows = math.ceil(n / cols)
    return rows, cols, width, 1.15 if cols > 1 else 2.0


def panels(n: int, extra_height: float) -> tuple[Figure, list, int, int]:
    """A figure of ``n`` small-multiple panels (shared axes) on :func:`grid`'s layout, the unused cells
    hidden: ``(figure, the n axes in reading order, rows, cols)``."""
    rows, cols, width, ph = grid(n)
    fig = Figure(figsize=(width, ph * rows + extra_height))
    axes = [ax for row in fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False) for ax in row]
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n], rows, cols


def plotted(agg: Aggregate, scenario: str) -> list[Group]:
    """The groups of ``scenario`` that have a score matrix to draw, in strategy order."""
    groups = [agg.group(scenario, s) for s in agg.strategies]
    return [g for g in groups if g is not None and g.matrix_mean is not None]


def n_label(groups: Sequence[Group]) -> str:
    ns = sorted({g.n_finished for g in groups})
    if ns == [1]:
        return "one seed"
    if len(ns) == 1:
        return f"mean and 95% CI over {ns[0]} seeds"
    return f"mean and 95% CI over {ns[0]}-{ns[-1]} seeds"


def lower_note(measure: Measure, text: str) -> str:
    """``text`` (e.g. `` (lower is better)``) for a measure where lower is better, else nothing."""
    return "" if measure.higher_is_better else text
