"""``summary_<scenario>``: the headline metric, BWT and forgetting per strategy, bars with 95% CIs."""
from __future__ import annotations

from typing import Iterator

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, NullLocator

from lifelong.evaluation.measures import Measure
from lifelong.reporting.figures.common import Drawn
from lifelong.reporting.style import COLUMN_WIDTH

__all__ = ["draw"]


def _title(m: Measure, key: str) -> str:
    """A panel's title with the unit its bars are in: ``BWT (%)``; ``BWT (MSE)``; the headline ``MSE``."""
    label = m.metric(key).label
    if m.unit:
        return f"{label} ({m.unit})"
    return label if key == m.headline else f"{label} ({m.symbol})"


def _figure(groups: list, styles: dict, m: Measure) -> Figure:
    panels = (m.headline, "bwt", "forgetting")
    fig = Figure(figsize=(COLUMN_WIDTH, 1.8))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, key in zip(axes, panels):
        ax.set_title(_title(m, key), pad=3)
        ax.grid(axis="x", visible=False)
        ax.xaxis.set_major_locator(NullLocator())
        ax.axhline(0, color="0.3", linewidth=0.5)
        drawn = 0
        for i, g in enumerate(groups):
            s = g.summary(key)
            if s.mean is None:
                continue
            yerr = None if s.ci95 is None else [[m.scale * s.ci95], [m.scale * s.ci95]]
            ax.bar([i], [m.scale * s.mean], width=0.75, color=styles[g.strategy].color, yerr=yerr,
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


def draw(scen: str, s: str, groups: list, styles: dict, m: Measure) -> Iterator[Drawn]:
    """The summary figure of scenario ``scen`` (file-safe name ``s``)."""
    yield Drawn(_figure(groups, styles, m), f"summary_{s}", "summary",
                f"{scen}: final {m.metric(m.headline).label}, BWT and forgetting per strategy{m.reading} "
                f"(bars: mean; error bars: 95% CI over seeds).")
