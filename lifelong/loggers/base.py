"""The logger protocol: an observer of a run's events that forwards them to a tool.

A ``Logger`` turns the events into five calls that each tool implements (``open``, ``scalars``,
``metrics``, ``artifacts``, ``close``):

* when the run starts (or resumes): ``open(name, params, resume_step)``. ``name`` is the run's grid
  cell, ``<scenario>/<strategy label>/seed<seed>``, so that a tool's interface groups the runs of a
  scenario and of a strategy; ``params`` the hyperparameters; ``resume_step`` the optimisation step
  of the checkpoint a resumed run starts from (what was logged after it is superseded), else None;
* every ``every`` optimisation steps: ``scalars({"train/loss": ...}, step)``;
* whatever the evaluators publish (``RunContext.publish``): each row of the score matrix as it is
  measured (``score/task<j>``), continual-evaluation points (``continual/task<j>``), as
  ``scalars(values, step)`` at the optimisation step of the stream they were taken at;
* the end-of-run metrics, flattened (``fewshot_at_arrival/5``): ``metrics(values)``;
* the run's figures (the score-matrix heatmap, its forgetting curves, the stability-gap plot when
  continual evaluation is on), drawn as the report draws them: ``artifacts(folder)``.

Loggers come after the evaluators in the run, so at each event they see what was measured during
it. Their state in a checkpoint is their step count only.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from lifelong.events import Observer

DEFAULT_EVERY = 10  # optimisation steps between two training-loss points


def run_cell(ctx) -> tuple[str, str, int]:
    """(scenario, strategy label, seed): the grid cell of the run."""
    return ctx.stream.name, getattr(ctx.strategy, "name", type(ctx.strategy).__name__.lower()), ctx.seed


def hyperparameters(ctx) -> dict:
    """The run's cell and its strategy's parameters, as plain values (a list or mapping as its text)."""
    scenario, label, seed = run_cell(ctx)
    params = {"scenario": scenario, "strategy": label, "seed": seed,
              "class": f"{type(ctx.strategy).__module__}.{type(ctx.strategy).__qualname__}"}
    for key, value in ctx.strategy.get_params().items():
        params[key] = value if value is None or isinstance(value, (bool, int, float, str)) else str(value)
    return params


class Logger(Observer):
    """Forwards a run's events to a tool; a subclass implements ``open``, ``scalars``, ``metrics``,
    ``artifacts`` and ``close``. ``folder`` is where the tool's files go (each tool's own layout
    under it); ``experiment`` names the experiment in tools that group runs by one."""

    tool = ""  # the name a user chooses it by

    def __init__(self, folder: str | Path, *, every: int = DEFAULT_EVERY, experiment: str = "lifelong"):
        self.folder, self.every, self.experiment = Path(folder), every, experiment
        self.step = 0  # optimisation steps of the stream so far
        self.cell: tuple[str, str, int] | None = None  # (scenario, label, seed), once open
        self.finished = False  # whether the run's result came (else ``close`` ends a failed run)
        self._resumed = False
        self._pending: dict[str, float] = {}  # published during the current event

    # --- what a tool implements -------------------------------------------------------

    def open(self, name: str, params: dict, resume_step: int | None) -> None:
        """Starts (or, ``resume_step`` given, resumes) the tool's run ``name``, ``self.cell`` joined by
        slashes, with hyperparameters ``params``."""
        raise NotImplementedError

    def scalars(self, values: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def metrics(self, values: dict[str, float]) -> None:
        raise NotImplementedError

    def artifacts(self, folder: Path) -> None:
        """The files of ``folder`` (the run's figures, PNG and PDF), kept by the tool."""
        raise NotImplementedError

    def close(self) -> None:
        """Ends the tool's run; safe to call more than once, and before ``open``."""
        raise NotImplementedError

    # --- the run's events -------------------------------------------------------------

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step, self._resumed = int(state["step"]), True

    def _ensure_open(self, ctx) -> None:
        if self.cell is None:
            self.cell = run_cell(ctx)
            scenario, label, seed = self.cell
            self.open(f"{scenario}/{label}/seed{seed}", hyperparameters(ctx), self.step if self._resumed else None)

    def _flush(self, ctx) -> None:
        self._ensure_open(ctx)
        if self._pending:
            self.scalars(self._pending, self.step)
            self._pending = {}

    def on_measurement(self, ctx, values):
        self._pending.update(values)

    def on_stream_start(self, ctx):
        self._flush(ctx)

    def on_task_start(self, ctx, task):
        self._flush(ctx)

    def on_step(self, ctx, task, step, loss):
        self.step += 1
        if self.step % self.every == 0:
            self._pending["train/loss"] = loss.item()
        self._flush(ctx)

    def on_task_end(self, ctx, task):
        self._flush(ctx)

    def on_result(self, ctx, result):
        self._flush(ctx)
        self.metrics(result.flat_metrics())
        self.finished = True
        self.artifacts(run_figures(result))


_drawn: list = []  # [(result, its TemporaryDirectory)]: the latest run's figures, shared by its loggers


def run_figures(result) -> Path:
    """The folder of ``result``'s figures, as the report draws them for one run; drawn once for all the
    loggers of the run (the folder lasts until the next run's figures are drawn, or the process ends)."""
    if not _drawn or _drawn[0][0] is not result:
        from lifelong.reporting.aggregation import aggregate
        from lifelong.reporting.figures import write_figures

        folder = tempfile.TemporaryDirectory(prefix="lifelong-figures-")
        write_figures(aggregate([result]), folder.name)
        _drawn[:] = [(result, folder)]
    return Path(_drawn[0][1].name) / "figures"
