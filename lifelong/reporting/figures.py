"""Report figures, each written as PDF (for the paper) and PNG (for the pages), per scenario.

Every figure is drawn on a ``matplotlib.figure.Figure`` (no pyplot) inside
:func:`lifelong.reporting.style.paper_style`, and written atomically: to a
temporary file in the same folder, then renamed. PDFs carry no creation date
and PNGs no software tag, so rebuilding a report from the same results gives
the same bytes.

Figures of a scenario (``<scenario>`` is the scenario name made file-safe):

* ``forgetting_<scenario>``: accuracy on each task as training moves on, one
  panel per task, one line per strategy, mean and 95% CI band over seeds.
  Beyond 20 tasks, 10 evenly spaced tasks (the first and the last among
  them) get a panel, and the caption names them.
* ``avg_acc_<scenario>``: mean accuracy over the tasks seen so far.
* ``heatmap_<scenario>_<strategy>``: the mean accuracy matrix of a strategy
  (values written in the cells up to 15 tasks).
* ``summary_<scenario>``: final ACC, BWT and forgetting with 95% CIs.
* ``fewshot_k_<scenario>`` and ``fewshot_arrival_<scenario>``: only when the
  runs carry few-shot results; the first also shows the few-shot score on
  the held-out tasks (dashed) when the runs have one.

In a regression scenario (the matrix holds test MSEs, lower is better) the
same figures show the test MSE in its own units: axes scaled to the data
(logarithmic when the values span more than two orders of magnitude), the
heatmap's colour scale from the data's range (bright = low error, as bright
= high accuracy in a classification heatmap), the summary bars MSE, BWT and
forgetting in MSE units. The file names stay the same.

A strategy with no finished run is left out of the figures (the tables list
it); with a single seed there is no band; T = 1 gives one-point curves.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, MaxNLocator, NullFormatter, NullLocator, ScalarFormatter

from lifelong.reporting.stats import Aggregate, Group
from lifelong.reporting.style import COLUMN_WIDTH, DPI, PAGE_WIDTH, StrategyStyle, paper_style, strategy_styles

__all__ = ["FigureFile", "write_figures", "slug", "save_figure"]

_BAND_ALPHA = 0.18
#: Beyond this many tasks the per-task figure shows a subset of the tasks and long lines thin their markers.
_MAX_PANELS = 20
_SUBSET_PANELS = 10
#: An MSE axis is logarithmic when its positive values span more than this ratio.
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


def slug(name: str) -> str:
    """``name`` made safe for a file name: letters, digits, ``.``, ``_`` and ``-`` kept, the rest ``-``."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.")
    return s or "unnamed"


class _Slugs:
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

    Call it inside :func:`paper_style` (the font type is read when saving).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pdf, png = folder / f"{name}.pdf", folder / f"{name}.png"
    _atomic_savefig(fig, pdf, "pdf")
    _atomic_savefig(fig, png, "png")
    return pdf, png


# ---------------------------------------------------------------------------
# Drawing helpers
# ---------------------------------------------------------------------------


def _plot_line(ax, x, mean, ci, style: StrategyStyle, label: str, scale: float = 1.0, **extra) -> None:
    x = np.asarray(x, dtype=float)
    y = np.asarray(mean, dtype=float) * scale
    kwargs = style.line_kwargs()
    if len(x) > _MAX_PANELS:  # a marker on every point of a long line is a smear
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


def _legend(fig: Figure, names: Sequence[str], styles: dict) -> None:
    handles = [Line2D([], [], label=n, **styles[n].line_kwargs()) for n in names]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(names), 4),
               borderaxespad=0.1, columnspacing=1.2)


def _accuracy_axis(ax) -> None:
    ax.set_ylim(-3, 103)
    ax.yaxis.set_major_locator(FixedLocator([0, 25, 50, 75, 100]))


def _log_scale(values) -> bool:
    """Whether MSE values are best read on a log axis: all positive, spanning more than ``_LOG_RATIO``."""
    v = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in values]) if values else np.zeros(0)
    v = v[np.isfinite(v)]
    return bool(v.size and v.min() > 0 and v.max() / v.min() > _LOG_RATIO)


def _mse_axis(ax, label: str, log: bool) -> None:
    """An MSE axis: scaled to the data (no 0-100 frame), logarithmic when ``log``, labelled so."""
    if log:
        ax.set_yscale("log")
        label += " (log scale)"
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_ylabel(label)


def _value_axis(ax, metric: str, label: Optional[str], log: bool = False) -> None:
    """The y axis of a matrix value: accuracy in percent on 0-100, or the test MSE as it is."""
    if metric == "mse":
        if label is not None:
            _mse_axis(ax, label, log)
        elif log:
            ax.set_yscale("log")
    else:
        _accuracy_axis(ax)
        if label is not None:
            ax.set_ylabel(label)


def _shown_tasks(T: int) -> list[int]:
    """The tasks (0-based) that get a panel: all up to ``_MAX_PANELS``, else ``_SUBSET_PANELS`` evenly spaced."""
    if T <= _MAX_PANELS:
        return list(range(T))
    return sorted({int(round(v)) for v in np.linspace(0, T - 1, _SUBSET_PANELS)})


def _task_list(tasks: Sequence[int]) -> str:
    return ", ".join(str(t + 1) for t in tasks)


def _task_axis(ax, T: int) -> None:
    ax.set_xlim(0.6, T + 0.4)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(T, 6), integer=True))


def _grid(n: int) -> tuple[int, int, float, float]:
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


def _plotted(agg: Aggregate, scenario: str) -> list[Group]:
    groups = [agg.group(scenario, s) for s in agg.strategies]
    return [g for g in groups if g is not None and g.matrix_mean is not None]


def _n_label(groups: Sequence[Group]) -> str:
    ns = sorted({g.n_finished for g in groups})
    if ns == [1]:
        return "one seed"
    if len(ns) == 1:
        return f"mean and 95% CI over {ns[0]} seeds"
    return f"mean and 95% CI over {ns[0]}-{ns[-1]} seeds"


# ---------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------


def _forgetting_figure(groups: list[Group], styles: dict, metric: str = "accuracy") -> tuple[Figure, list[int]]:
    """The per-task curves and the tasks (0-based) that got a panel."""
    T = max(g.n_tasks for g in groups)
    shown = _shown_tasks(T)
    n = len(shown)
    scale = 1.0 if metric == "mse" else 100.0
    log = metric == "mse" and _log_scale([g.matrix_mean[j:, j] for g in groups for j in shown if j < g.n_tasks])
    rows, cols, width, ph = _grid(n)
    fig = Figure(figsize=(width, ph * rows + 0.35))
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for p in range(rows * cols):
        ax = axes[p // cols][p % cols]
        if p >= n:
            ax.set_visible(False)
            continue
        j = shown[p]
        for g in groups:
            if j >= g.n_tasks:
                continue
            x = np.arange(j, g.n_tasks) + 1
            _plot_line(ax, x, g.matrix_mean[j:, j], g.matrix_ci95[j:, j], styles[g.strategy], g.strategy, scale)
        ax.set_title(f"Task {j + 1}", pad=2)
        _value_axis(ax, metric, None, log)
        _task_axis(ax, T)
        if p % cols == 0:
            if metric == "mse":
                _mse_axis(ax, "Test MSE", log)
            else:
                ax.set_ylabel("Accuracy (%)")
        if p // cols == rows - 1 or p + cols >= n:
            ax.set_xlabel("Tasks trained")
            ax.tick_params(labelbottom=True)
    _legend(fig, [g.strategy for g in groups], styles)
    fig.tight_layout(pad=0.3, h_pad=0.6, w_pad=0.4)
    return fig, shown


def _avg_acc_figure(groups: list[Group], styles: dict, metric: str = "accuracy") -> Figure:
    T = max(g.n_tasks for g in groups)
    fig = Figure(figsize=(COLUMN_WIDTH, 2.2))
    ax = fig.subplots()
    scale = 1.0 if metric == "mse" else 100.0
    for g in groups:
        x = np.arange(1, g.n_tasks + 1)
        _plot_line(ax, x, g.avg_seen_mean, g.avg_seen_ci95, styles[g.strategy], g.strategy, scale)
    if metric == "mse":
        _mse_axis(ax, "Mean test MSE on seen tasks", _log_scale([g.avg_seen_mean for g in groups]))
    else:
        _accuracy_axis(ax)
    _task_axis(ax, T)
    ax.set_xlabel("Tasks trained")
    if metric != "mse":
        ax.set_ylabel("Mean accuracy on seen tasks (%)")
    _legend(fig, [g.strategy for g in groups], styles)
    fig.tight_layout(pad=0.3)
    return fig


def _heatmap_figure(g: Group, metric: str = "accuracy") -> Figure:
    if metric == "mse":
        return _mse_heatmap_figure(g)
    T = g.n_tasks
    M = 100.0 * g.matrix_mean
    side = min(COLUMN_WIDTH, 1.3 + 0.32 * T)
    fig = Figure(figsize=(side + 0.55, side))
    ax = fig.subplots()
    ax.grid(False)
    im = ax.imshow(M, vmin=0, vmax=100, cmap="viridis", origin="upper", interpolation="nearest")
    _matrix_axes(ax, T)
    if T <= 15:
        size = 7 if T <= 5 else 6 if T <= 8 else 5 if T <= 12 else 4
        fmt = "{:.1f}" if T <= 6 else "{:.0f}"
        for i in range(T):
            for j in range(T):
                v = M[i, j]
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=size,
                        color="white" if v < 60 else "black")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    cbar.set_label("Accuracy (%)")
    cbar.outline.set_linewidth(0.4)
    n = g.n_finished
    ax.set_title(f"{g.strategy} ({n} seed{'s' if n != 1 else ''})", pad=3)
    fig.tight_layout(pad=0.3)
    return fig


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


def _mse_heatmap_figure(g: Group) -> Figure:
    """The mean test-MSE matrix: colour scale from the data (log when it spans > 100x), bright = low error."""
    T = g.n_tasks
    M = np.asarray(g.matrix_mean, dtype=float)
    side = min(COLUMN_WIDTH, 1.3 + 0.32 * T)
    fig = Figure(figsize=(side + 0.55, side))
    ax = fig.subplots()
    ax.grid(False)
    finite = M[np.isfinite(M)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    log = _log_scale([finite])
    if log:
        norm = LogNorm(vmin=lo, vmax=hi)
    else:
        norm = Normalize(vmin=lo, vmax=hi if hi > lo else lo + (abs(lo) or 1.0) * 1e-6)
    im = ax.imshow(M, norm=norm, cmap="viridis_r", origin="upper", interpolation="nearest")
    _matrix_axes(ax, T)
    if T <= 15:  # beyond that the cells are too small to hold a number
        size = 7 if T <= 5 else 6 if T <= 8 else 5 if T <= 12 else 4
        fmt = "{:.3g}" if T <= 6 else "{:.2g}"
        for i in range(T):
            for j in range(T):
                v = M[i, j]
                if not np.isfinite(v):
                    continue
                dark = float(norm(v)) > 0.45  # viridis_r is dark at the high end
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=size,
                        color="white" if dark else "black")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    cbar.set_label("Test MSE (log scale)" if log else "Test MSE")
    cbar.outline.set_linewidth(0.4)
    n = g.n_finished
    ax.set_title(f"{g.strategy} ({n} seed{'s' if n != 1 else ''})", pad=3)
    fig.tight_layout(pad=0.3)
    return fig


_SUMMARY = (("acc", "ACC (%)"), ("bwt", "BWT (%)"), ("forgetting", "Forgetting (%)"))
_SUMMARY_MSE = (("mse", "MSE"), ("bwt", "BWT (MSE)"), ("forgetting", "Forgetting (MSE)"))


def _summary_figure(groups: list[Group], styles: dict, metric: str = "accuracy") -> Figure:
    panels = _SUMMARY_MSE if metric == "mse" else _SUMMARY
    scale = 1.0 if metric == "mse" else 100.0
    fig = Figure(figsize=(COLUMN_WIDTH, 1.8))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, label) in zip(axes, panels):
        ax.set_title(label, pad=3)
        ax.grid(axis="x", visible=False)
        ax.xaxis.set_major_locator(NullLocator())
        ax.axhline(0, color="0.3", linewidth=0.5)
        drawn = 0
        for i, g in enumerate(groups):
            s = g.summary(key)
            if s.mean is None:
                continue
            yerr = None if s.ci95 is None else [[scale * s.ci95], [scale * s.ci95]]
            ax.bar([i], [scale * s.mean], width=0.75, color=styles[g.strategy].color, yerr=yerr,
                   error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "0.15"})
            drawn += 1
        ax.set_xlim(-0.6, len(groups) - 0.4)
        if drawn == 0:
            ax.text(0.5, 0.5, "n/a", transform=ax.transAxes, ha="center", va="center")
            ax.yaxis.set_major_formatter(NullFormatter())
            ax.yaxis.set_major_locator(NullLocator())
            ax.spines["left"].set_visible(False)
    handles = [Line2D([], [], color=styles[g.strategy].color, marker="s", linestyle="none", markersize=5,
                      label=g.strategy) for g in groups]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(groups), 4),
               borderaxespad=0.1, columnspacing=1.2, handletextpad=0.3)
    fig.tight_layout(pad=0.3, w_pad=0.8)
    return fig


def _fewshot_axis(ax, metric: str) -> None:
    if metric == "mse":
        ax.set_ylabel("MSE")
    else:
        ax.set_ylabel("Accuracy (%)")
        _accuracy_axis(ax)


def _fewshot_k_figure(groups: list[Group], styles: dict, metric: str) -> Figure:
    scale = 1.0 if metric == "mse" else 100.0
    fig = Figure(figsize=(COLUMN_WIDTH, 2.2))
    ax = fig.subplots()
    all_k = sorted({float(k) for g in groups for k in g.fewshot["shots"]}
                   | {float(k) for g in groups for k in (g.fewshot.get("held_out") or {})})
    for g in groups:
        ks = [k for k in g.fewshot["shots"] if g.fewshot["vs_k"][k].mean is not None]
        if not ks:
            continue
        sums = [g.fewshot["vs_k"][k] for k in ks]
        _plot_line(ax, [float(k) for k in ks], [s.mean for s in sums],
                   [np.nan if s.ci95 is None else s.ci95 for s in sums], styles[g.strategy], g.strategy, scale)
    held_groups = [g for g in groups if g.fewshot.get("held_out")]
    for g in held_groups:  # the same strategies on the held-out tasks: dashed, hollow markers
        held = g.fewshot["held_out"]
        ks = [k for k in held if held[k].mean is not None]
        _plot_line(ax, [float(k) for k in ks], [held[k].mean for k in ks],
                   [np.nan if held[k].ci95 is None else held[k].ci95 for k in ks], styles[g.strategy],
                   f"{g.strategy} (held-out)", scale, linestyle="--", markerfacecolor="white")
    if held_groups:
        ax.legend(handles=[Line2D([], [], color="0.3", linestyle="-", marker="o", label="at arrival"),
                           Line2D([], [], color="0.3", linestyle="--", marker="o", markerfacecolor="white",
                                  label="held-out tasks")], loc="best", fontsize=6)
    if all_k and all_k[0] > 0 and len(all_k) > 1:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(all_k))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
    else:
        ax.xaxis.set_major_locator(FixedLocator(all_k))
    ax.set_xlabel("Shots per class (K)" if metric != "mse" else "Shots (K)")
    _fewshot_axis(ax, metric)
    _legend(fig, [g.strategy for g in groups], styles)
    fig.tight_layout(pad=0.3)
    return fig


def _arrival_ks(ks: Sequence[str]) -> list[str]:
    """The K values drawn at arrival: all of them up to three, else the smallest, the one nearest 5, the largest."""
    if len(ks) <= 3:
        return list(ks)
    num = [float(k) for k in ks]
    mid = ks[int(np.argmin([abs(v - 5.0) for v in num]))]
    out = []
    for k in (ks[0], mid, ks[-1]):
        if k not in out:
            out.append(k)
    return out


def _fewshot_arrival_figure(groups: list[Group], styles: dict, metric: str) -> tuple[Figure, list[str]]:
    scale = 1.0 if metric == "mse" else 100.0
    ks = sorted({k for g in groups for k in g.fewshot["shots"]}, key=float)
    shown = _arrival_ks(ks)
    T = max(max((max(g.fewshot["arrival"][k][0], default=-1) for k in g.fewshot["arrival"]), default=-1)
            for g in groups) + 1
    T = max(T, 1)
    fig = Figure(figsize=(COLUMN_WIDTH, 1.9 if len(shown) > 1 else 2.2))
    axes = fig.subplots(1, len(shown), sharey=True, squeeze=False)[0]
    for c, (ax, k) in enumerate(zip(axes, shown)):
        for g in groups:
            if k not in g.fewshot["arrival"]:
                continue
            tasks, mean, ci = g.fewshot["arrival"][k]
            if not tasks:
                continue
            _plot_line(ax, np.asarray(tasks) + 1, mean, ci, styles[g.strategy], g.strategy, scale)
        ax.set_title(f"K = {k}", pad=2)
        _task_axis(ax, T)
        ax.set_xlabel("Task (at arrival)")
        if c == 0:
            _fewshot_axis(ax, metric)
        elif metric != "mse":
            _accuracy_axis(ax)
    _legend(fig, [g.strategy for g in groups], styles)
    fig.tight_layout(pad=0.3, w_pad=0.4)
    return fig, shown


# ---------------------------------------------------------------------------
# All figures of a report
# ---------------------------------------------------------------------------


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
    scen_slug, strat_slug = _Slugs(), _Slugs()
    written: list[FigureFile] = []

    def emit(fig: Figure, name: str, kind: str, scenario: str, caption: str, strategy: Optional[str] = None):
        pdf, png = save_figure(fig, folder, name)
        written.append(FigureFile(name, kind, scenario, strategy, caption, pdf, png))

    with paper_style():
        for scen in agg.scenarios:
            groups = _plotted(agg, scen)
            if not groups:
                continue
            s = scen_slug(scen)
            band = _n_label(groups)
            mm = agg.matrix_metric(scen)
            regression = mm == "mse"
            fig, shown = _forgetting_figure(groups, styles, mm)
            T = max(g.n_tasks for g in groups)
            which = "each task" if len(shown) == T else f"tasks {_task_list(shown)} of {T} (evenly spaced)"
            if regression:
                emit(fig, f"forgetting_{s}", "forgetting", scen,
                     f"{scen}: test MSE (lower is better) on {which} as training moves through the stream ({band}).")
                emit(_avg_acc_figure(groups, styles, mm), f"avg_acc_{s}", "avg_acc", scen,
                     f"{scen}: mean test MSE over the tasks seen so far after each task, lower is better ({band}).")
                emit(_summary_figure(groups, styles, mm), f"summary_{s}", "summary", scen,
                     f"{scen}: final MSE, BWT and forgetting per strategy, in test-MSE units (lower MSE and "
                     f"forgetting are better; BWT < 0: the error on earlier tasks grew) (bars: mean; error bars: "
                     f"95% CI over seeds).")
            else:
                emit(fig, f"forgetting_{s}", "forgetting", scen,
                     f"{scen}: accuracy on {which} as training moves through the stream ({band}).")
                emit(_avg_acc_figure(groups, styles), f"avg_acc_{s}", "avg_acc", scen,
                     f"{scen}: mean accuracy over the tasks seen so far after each task ({band}).")
                emit(_summary_figure(groups, styles), f"summary_{s}", "summary", scen,
                     f"{scen}: final ACC, BWT and forgetting per strategy (bars: mean; error bars: 95% CI over "
                     f"seeds).")
            fs_groups = [g for g in groups if g.fewshot is not None]
            if fs_groups:
                metric = agg.fewshot_metric.get(scen, mm)
                what = "MSE" if metric == "mse" else "accuracy"
                held = sorted({n for g in fs_groups if g.fewshot.get("held_out")
                               for n in g.fewshot.get("held_out_tasks") or []})
                held_note = ""
                if any(g.fewshot.get("held_out") for g in fs_groups):
                    on = (f"the {held[0]} held-out tasks" if len(held) == 1 else "the held-out tasks")
                    held_note = f"; dashed, hollow markers: on {on} after the stream (mean over them)"
                emit(_fewshot_k_figure(fs_groups, styles, metric), f"fewshot_k_{s}", "fewshot_k", scen,
                     f"{scen}: few-shot {what} after adaptation with K shots at each task's arrival, before "
                     f"training on it, mean over the tasks after the first{held_note} ({_n_label(fs_groups)}).")
                fig, shown = _fewshot_arrival_figure(fs_groups, styles, metric)
                emit(fig, f"fewshot_arrival_{s}", "fewshot_arrival", scen,
                     f"{scen}: few-shot {what} at the arrival of each task, before training on it, "
                     f"K = {', '.join(shown)} ({_n_label(fs_groups)}).")
            for g in groups:
                seeds = f"mean over {g.n_finished} seed{'s' if g.n_finished != 1 else ''}"
                if regression:
                    caption = (f"{scen}, {g.strategy}: test MSE on each task (columns) after training on each task "
                               f"(rows), {seeds}; colour scale from the data's range"
                               f"{' (log)' if _log_scale([g.matrix_mean]) else ''}, bright = low error.")
                else:
                    caption = (f"{scen}, {g.strategy}: accuracy (%) on each task (columns) after training on each "
                               f"task (rows), {seeds}.")
                emit(_heatmap_figure(g, mm), f"heatmap_{s}_{strat_slug(g.strategy)}", "heatmap", scen, caption,
                     strategy=g.strategy)
    return written
