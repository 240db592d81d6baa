"""The one paper style of every report figure.

* Okabe–Ito colour-blind-safe palette (Okabe & Ito 2008, "Color Universal
  Design"), ordered so that the first colours stay apart in greyscale too;
  each strategy also gets its own marker, so lines stay distinguishable
  printed in black and white.
* One colour per strategy, fixed by the strategy's position in the
  experiment definition, identical in every figure of a report.
* One-column size (3.4 in wide), 8 pt text, TrueType fonts embedded in PDF and
  PS (``pdf.fonttype = 42``), which publishers ask for instead of Type 3.

The settings are applied with :func:`paper_style`, a ``matplotlib.rc_context``,
so nothing leaks into the caller's matplotlib state. Figures are built with
``matplotlib.figure.Figure`` (no pyplot, no global figure manager), which
renders with the Agg backend whatever backend the caller selected.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import matplotlib

__all__ = ["PALETTE", "MARKERS", "COLUMN_WIDTH", "PAGE_WIDTH", "DPI", "RC", "StrategyStyle", "strategy_styles",
           "paper_style"]

#: Okabe–Ito colours: blue, vermillion, bluish green, reddish purple, orange, sky blue, black, yellow.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Line styles used after the palette has gone round once (9th strategy onward).
_LINESTYLES = ("-", "--", ":", "-.")

COLUMN_WIDTH = 3.4  # inches: one column of a two-column paper
PAGE_WIDTH = 7.0  # inches: both columns
DPI = 200

RC = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.0,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.35,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "image.cmap": "viridis",
    "axes.unicode_minus": True,
    "text.usetex": False,
}


@dataclass(frozen=True)
class StrategyStyle:
    color: str
    marker: str
    linestyle: str

    def line_kwargs(self) -> dict:
        return {"color": self.color, "marker": self.marker, "linestyle": self.linestyle}


def strategy_styles(strategies: Sequence[str]) -> dict[str, StrategyStyle]:
    """Colour, marker and line style of each strategy, by its position in ``strategies``.

    Deterministic: the same list gives the same styles; pass every strategy of
    the experiment (failed ones too) so that colours do not shift between
    reports of the same experiment.
    """
    out = {}
    for i, name in enumerate(strategies):
        out[name] = StrategyStyle(PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)],
                                  _LINESTYLES[(i // len(PALETTE)) % len(_LINESTYLES)])
    return out


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Apply the report's rcParams for the duration of the ``with`` block only."""
    with matplotlib.rc_context(RC):
        yield
