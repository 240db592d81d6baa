"""``ll.results(folder)``: every run of an experiment as rows, for a notebook.

    rows = ll.results("reports/my-experiment")
    rows[0]["acc"], rows[0]["status"]
    df = rows.to_pandas()          # with pandas installed

A row holds the run's scenario, strategy label and seed, its status (``finished`` or ``failed``) and
error, its training and evaluation seconds, and every metric that is a number (a nested one named
``outer/inner``, e.g. ``fewshot_at_arrival/5``); a metric a run does not have is None.
"""
from __future__ import annotations

from pathlib import Path

from lifelong.config import ConfigError

COLUMNS = ("scenario", "strategy", "seed", "status", "error", "train_s", "eval_s")


class Results(list):
    """Rows (dicts) of an experiment's runs, every row with the same keys."""

    def to_pandas(self):
        """The rows as a pandas DataFrame."""
        try:
            import pandas
        except ImportError:
            raise ConfigError("needs pandas: pip install pandas", field="to_pandas") from None
        return pandas.DataFrame(list(self))


def results(folder: str | Path) -> Results:
    """Every recorded run of the experiment in ``folder`` (holding its ``runs.sqlite``), as rows."""
    from lifelong.experiment.store import Store

    store = Store(Path(folder) / "runs.sqlite")
    if store.definition() is None:
        raise ConfigError("holds no lifelong result store (runs.sqlite)", field="results", value=str(folder))
    runs = store.results()
    flat = [r.flat_metrics() for r in runs]
    metrics = list(dict.fromkeys(k for f in flat for k in f))
    rows = Results()
    for r, values in zip(runs, flat):
        row = {"scenario": r.scenario, "strategy": r.strategy, "seed": r.seed, "status": r.status, "error": r.error,
               "train_s": sum(r.timings.get("train_s", [])), "eval_s": sum(r.timings.get("eval_s", []))}
        rows.append({**row, **{k: values.get(k) for k in metrics}})
    return rows
