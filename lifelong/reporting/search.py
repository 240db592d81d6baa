"""The hyperparameter-search part of a report (``search:`` in the experiment).

Written under the report folder: ``tables/search.md`` and ``tables/search.csv`` (every candidate:
its values, its validation score over the search seeds, whether it was chosen) and
``figures/search_<scenario>.pdf`` / ``.png`` (one panel per searched strategy: the validation score
of each candidate, the chosen one marked). The pages get the same table under the protocol of each
search, stated in words. The choice is recomputed from the stored search runs with the rule the
experiment used (:func:`lifelong.experiment.search.best_of`), so the report shows what was run.
"""
from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from matplotlib.figure import Figure

from lifelong.atomic import atomic_write_text
from lifelong.evaluation.measures import measure
from lifelong.experiment.search import best_of, utility
from lifelong.reporting.figures.common import FigureFile, Slugs, save_figure
from lifelong.reporting.style import COLUMN_WIDTH, paper_style

SEARCH_SUFFIX = "-search"


@dataclass
class Candidate:
    scenario: str
    strategy: str
    number: int  # 1, 2, ... in the order proposed
    values: dict
    mean: float | None  # the validation metric over the search seeds (None: a run failed)
    std: float | None
    seeds: int  # finished search runs
    chosen: bool = False


def candidates(results: Sequence, searches: Mapping[str, Mapping]) -> dict[tuple[str, str], list[Candidate]]:
    """(scenario, strategy label) -> its candidates, from the search runs ``results`` and the experiment's
    ``search`` definitions."""
    grouped: dict = {}
    for r in results:
        label, _, number = r.strategy.rpartition(SEARCH_SUFFIX)
        if label in searches and number.isdigit():
            grouped.setdefault((r.scenario, label), {}).setdefault(int(number), []).append(r)
    out = {}
    for (scen, label), by_number in grouped.items():
        space, metric = searches[label]["space"], searches[label]["metric"]
        rows, utilities = [], []
        for number in sorted(by_number):
            runs = by_number[number]
            params = next((r.config.get("strategy", {}).get("params", {}) for r in runs if r.config), {})
            u, mean, std = utility(runs, metric)
            utilities.append(u)
            rows.append(Candidate(scen, label, number, {f: params.get(f) for f in space}, mean, std,
                                  sum(r.status == "finished" for r in runs)))
        best = best_of(utilities)
        if best is not None:
            rows[best].chosen = True
        out[scen, label] = rows
    return out


def protocol_text(label: str, s: Mapping) -> str:
    """One search's protocol, in words."""
    held = f"{s['validation_split']:.0%} of each task's training samples held out (per class) to score it"
    where = (f"the first {s['validation_tasks']} tasks, as a separate validation stream (Chaudhry et al. 2019, "
             f"A-GEM), {held}; the final runs learn the full stream" if s["protocol"] == "first-tasks"
             else f"every task, {held}; the final runs learn the whole training sets")
    return (f"{label}: {s['budget']} candidates ({s['sampler']}) over {', '.join(s['space'])}, each run on "
            f"{where}. Score: {s['metric']} on that held-out data, mean over {s['seeds']} search seed(s) that "
            "no final run uses; no test set is read.")


def chosen_lines(found: dict) -> list[str]:
    """What each search chose, one line per scenario and strategy."""
    out = []
    for (scen, label), rows in found.items():
        best = next((c for c in rows if c.chosen), None)
        out.append(f"{label} on {scen}: " + (f"{_values(best.values)} (candidate {best.number})" if best else
                                             "every candidate failed; the final runs keep the preset's values"))
    return out


def _score(c: Candidate, results_metric: str, metric: str) -> str:
    if c.mean is None:
        return "failed"
    m = measure(results_metric)
    info = m.metric(m.counterpart(metric))
    text = f"{c.mean * info.scale:.{m.decimals}f}"
    return text + (f" ± {c.std * info.scale:.{m.decimals}f}" if c.seeds > 1 else "")


def _values(values: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def render_markdown(found: dict, searches: Mapping, metric_of: dict) -> str:
    lines = ["## Hyperparameter search", ""]
    for label, s in searches.items():
        lines += [protocol_text(label, s), ""]
    lines += [f"- {line}" for line in chosen_lines(found)] + [""]
    lines += ["| scenario | strategy | candidate | values | validation score | chosen |", "|---|---|---:|---|---:|:-:|"]
    for (scen, label), rows in found.items():
        for c in rows:
            lines.append(f"| {scen} | {label} | {c.number} | {_values(c.values)} | "
                         f"{_score(c, metric_of[scen, label], searches[label]['metric'])} | {'✓' if c.chosen else ''} |")
    return "\n".join(lines) + "\n"


def render_html(found: dict, searches: Mapping, metric_of: dict) -> str:
    e = html.escape
    parts = ['<h2 id="search">Hyperparameter search</h2>']
    parts += [f'<p class="note">{e(protocol_text(label, s))}</p>' for label, s in searches.items()]
    parts.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in chosen_lines(found)) + "</ul>")
    parts.append('<div class="scroll"><table><thead><tr><th class="name">scenario</th><th class="name">strategy</th>'
                 '<th>candidate</th><th class="name">values</th><th>validation score</th><th>chosen</th></tr></thead>'
                 '<tbody>')
    for (scen, label), rows in found.items():
        for c in rows:
            parts.append(f'<tr><td class="name">{e(scen)}</td><td class="name">{e(label)}</td><td>{c.number}</td>'
                         f'<td class="name">{e(_values(c.values))}</td>'
                         f'<td>{e(_score(c, metric_of[scen, label], searches[label]["metric"]))}</td>'
                         f'<td>{"✓" if c.chosen else ""}</td></tr>')
    parts.append("</tbody></table></div>")
    return "\n".join(parts)


def render_csv(found: dict) -> str:
    buffer = io.StringIO()
    w = csv.writer(buffer, lineterminator="\n")
    w.writerow(["scenario", "strategy", "candidate", "values", "mean", "std", "seeds", "chosen"])
    for rows in found.values():
        for c in rows:
            w.writerow([c.scenario, c.strategy, c.number, _values(c.values), "" if c.mean is None else repr(c.mean),
                        "" if c.std is None else repr(c.std), c.seeds, int(c.chosen)])
    return buffer.getvalue()


def _figure(per_strategy: list[tuple[str, list[Candidate]]], m, metric: str) -> Figure:
    info = m.metric(m.counterpart(metric))
    fig = Figure(figsize=(COLUMN_WIDTH, 1.9))
    axes = fig.subplots(1, len(per_strategy), squeeze=False)[0]
    for ax, (label, rows) in zip(axes, per_strategy):
        ax.set_title(label, pad=3)
        ok = [c for c in rows if c.mean is not None]
        ax.errorbar([c.number for c in ok], [c.mean * info.scale for c in ok],
                    yerr=[(c.std or 0.0) * info.scale for c in ok], fmt="o", color="0.35", markersize=3,
                    elinewidth=0.8, capsize=2)
        for c in ok:
            if c.chosen:
                ax.plot([c.number], [c.mean * info.scale], marker="*", color="#d62728", markersize=9,
                        linestyle="none", label="chosen")
        ax.set_xlabel("Candidate")
        ax.set_xticks([c.number for c in rows])
    axes[0].set_ylabel(f"Validation {info.label}" + (f" ({m.unit})" if m.unit else ""))
    fig.tight_layout(pad=0.3, w_pad=0.8)
    return fig


def write_search(results: Sequence, experiment: Mapping, out: Path) -> tuple[list[FigureFile], list[Path], str, str]:
    """Write the search's tables and figures; return the figures, the tables and the pages' sections
    (Markdown, HTML); nothing without search runs."""
    searches = experiment.get("search") or {}
    found = candidates(results, searches)
    if not found:
        return [], [], "", ""
    metric_of = {key: next(r.metric for r in results if r.scenario == key[0]
                           and r.strategy.rpartition(SEARCH_SUFFIX)[0] == key[1]) for key in found}
    markdown = render_markdown(found, searches, metric_of)
    tables = [out / "tables" / "search.md", out / "tables" / "search.csv"]
    (out / "tables").mkdir(parents=True, exist_ok=True)
    atomic_write_text(tables[0], markdown)
    atomic_write_text(tables[1], render_csv(found))
    figures, slugs = [], Slugs()
    with paper_style():
        for scen in dict.fromkeys(s for s, _ in found):
            per_strategy = [(label, rows) for (s, label), rows in found.items() if s == scen]
            m = measure(metric_of[scen, per_strategy[0][0]])
            metric = searches[per_strategy[0][0]]["metric"]
            name = f"search_{slugs(scen)}"
            pdf, png = save_figure(_figure(per_strategy, m, metric), out / "figures", name)
            figures.append(FigureFile(name, "search", scen, None,
                                      f"{scen}: the validation score of each search candidate (mean ± std over the "
                                      "search seeds; star: chosen). No test set is used.", pdf, png))
    return figures, tables, markdown, render_html(found, searches, metric_of)
