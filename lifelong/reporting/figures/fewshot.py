"""Few-shot figures, drawn only when the runs carry few-shot results.

* ``fewshot_k_<scenario>``: the score after K-shot adaptation at each task's
  arrival against K; dashed, on the held-out tasks when the runs have them;
* ``fewshot_arrival_<scenario>``: the score at each task's arrival, a panel per K (at most three).
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from lifelong.evaluation.measures import Measure
from lifelong.reporting.figures.common import Drawn, legend, n_label, plot_line, task_axis, value_axis
from lifelong.reporting.style import COLUMN_WIDTH

__all__ = ["draw"]


def _ci(summaries) -> list:
    return [np.nan if s.ci95 is None else s.ci95 for s in summaries]


def _k_figure(groups: list, styles: dict, m: Measure) -> Figure:
    fig = Figure(figsize=(COLUMN_WIDTH, 2.2))
    ax = fig.subplots()
    all_k = sorted({float(k) for g in groups for k in g.fewshot["shots"]}
                   | {float(k) for g in groups for k in (g.fewshot.get("held_out") or {})})
    for g in groups:
        ks = [k for k in g.fewshot["shots"] if g.fewshot["vs_k"][k].mean is not None]
        if not ks:
            continue
        sums = [g.fewshot["vs_k"][k] for k in ks]
        plot_line(ax, [float(k) for k in ks], [s.mean for s in sums], _ci(sums), styles[g.strategy], g.strategy,
                  m.scale)
    held_groups = [g for g in groups if g.fewshot.get("held_out")]
    for g in held_groups:  # the same strategies on the held-out tasks: dashed, hollow markers
        held = g.fewshot["held_out"]
        ks = [k for k in held if held[k].mean is not None]
        plot_line(ax, [float(k) for k in ks], [held[k].mean for k in ks], _ci(held[k] for k in ks),
                  styles[g.strategy], f"{g.strategy} (held-out)", m.scale, linestyle="--", markerfacecolor="white")
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
    ax.set_xlabel(m.shots_axis)
    value_axis(ax, m, m.axis_label)
    legend(fig, [g.strategy for g in groups], styles)
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


def _arrival_figure(groups: list, styles: dict, m: Measure, shown: list[str]) -> Figure:
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
            plot_line(ax, np.asarray(tasks) + 1, mean, ci, styles[g.strategy], g.strategy, m.scale)
        ax.set_title(f"K = {k}", pad=2)
        task_axis(ax, T)
        ax.set_xlabel("Task (at arrival)")
        value_axis(ax, m, m.axis_label if c == 0 else None)
    legend(fig, [g.strategy for g in groups], styles)
    fig.tight_layout(pad=0.3, w_pad=0.4)
    return fig


def draw(scen: str, s: str, groups: list, styles: dict, m: Measure) -> Iterator[Drawn]:
    """The few-shot figures of scenario ``scen`` (file-safe name ``s``), if its runs have few-shot data."""
    groups = [g for g in groups if g.fewshot is not None]
    if not groups:
        return
    band = n_label(groups)
    held_note = ""
    if any(g.fewshot.get("held_out") for g in groups):
        held = sorted({n for g in groups if g.fewshot.get("held_out") for n in g.fewshot.get("held_out_tasks") or []})
        on = f"the {held[0]} held-out tasks" if len(held) == 1 else "the held-out tasks"
        held_note = f"; dashed, hollow markers: on {on} after the stream (mean over them)"
    yield Drawn(_k_figure(groups, styles, m), f"fewshot_k_{s}", "fewshot_k",
                f"{scen}: few-shot {m.symbol} after adaptation with K shots at each task's arrival, before "
                f"training on it, mean over the tasks after the first{held_note} ({band}).")
    shown = _arrival_ks(sorted({k for g in groups for k in g.fewshot["shots"]}, key=float))
    yield Drawn(_arrival_figure(groups, styles, m, shown), f"fewshot_arrival_{s}", "fewshot_arrival",
                f"{scen}: few-shot {m.symbol} at the arrival of each task, before training on it, "
                f"K = {', '.join(shown)} ({band}).")
