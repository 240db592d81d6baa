"""Run an experiment grid on an executor (local worker processes, or Ray), into a result store that
survives crashes.

Each run seeds itself and draws every random number from its own generators, so
its numbers do not depend on the executor, on which worker ran it, in what order,
or how many workers there were. A run checkpoints after each task; a rerun of the
same experiment skips recorded runs and continues unfinished ones from their last
finished task. The driver alone records finished runs.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from lifelong.config import ConfigError
from lifelong.atomic import atomic_write_text
from lifelong.experiment.executors import ExecutorSetting, Outcome, build_executor
from lifelong.experiment.search import run_search
from lifelong.experiment.spec import Experiment, RunSpec, load_experiment
from lifelong.experiment.store import Store
from lifelong.version import __version__


@dataclass
class Progress:
    total: int  # runs in the grid
    skipped: int  # recorded before this invocation
    done: int = 0  # finished or failed in this invocation
    failed: int = 0
    running: int = 0
    resumed: int = 0  # runs that continued from a checkpoint (of an earlier invocation, or a lost worker)
    eta_s: float | None = None


def compare(experiment: Experiment | str | Path | None = None, *, out: str | Path | None = None,
            jobs: int | None = None, retry_failed: bool = False,
            on_progress: Callable[[Progress], None] | None = None, executor: ExecutorSetting | None = None) -> Path:
    """Run an experiment (a file, an Experiment, or None for the embedded default) and write its report,
    on ``executor`` (default: the experiment's ``executor``, else local processes). Returns the output folder."""
    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    store = run_experiment(experiment, out=Path(out) if out is not None else None, jobs=jobs,
                           retry_failed=retry_failed, on_progress=on_progress, executor=executor)
    report(store.path.parent)
    return store.path.parent


def report(folder: str | Path) -> dict:
    """Rebuild every figure and table of an experiment folder from its result store alone."""
    from lifelong.reporting import build_report

    folder = Path(folder)
    store = Store(folder / "runs.sqlite")
    definition = store.definition()
    if definition is None:
        what = "holds a runs.sqlite that is not a lifelong result store" if store.exists() else \
            "holds no lifelong result store (runs.sqlite)"
        raise ConfigError(what, field="report", value=str(folder))
    return build_report(store.results(), definition, folder, reference=definition.get("reference"),
                        search=store.results(role="search"))


def prepare(experiment: Experiment, out: Path | None = None) -> tuple[Store, dict[tuple[str, int], str]]:
    """Check the experiment against its output folder and load its streams; writes nothing. Returns the
    store and the fingerprint of each (scenario, seed) stream, for ``Experiment.runs``.

    Raises ConfigError when the folder holds a different experiment.
    """
    from lifelong.scenarios import load_scenario
    from lifelong.strategies import build_strategy

    out_dir = Path(out) if out is not None else experiment.output_dir()
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError("exists and is not a folder", field="out", value=str(out_dir))
    store = Store(out_dir / "runs.sqlite")
    stored = store.definition()
    if store.exists() and stored is None:
        raise ConfigError("holds a runs.sqlite that is not a lifelong result store", field="out", value=str(out_dir))
    if stored is not None and stored != _comparable(experiment.definition()):
        raise ConfigError(f"holds a different experiment ({stored.get('name')!r}); choose another output folder "
                          "or delete this one", field="out", value=str(out_dir))
    if stored is None and out_dir.is_dir() and any(out_dir.iterdir()):
        raise ConfigError("is not empty and holds no lifelong experiment", field="out", value=str(out_dir))
    fingerprints, task_free = {}, False
    for sc in experiment.scenarios:
        for seed in experiment.seeds_to_load():
            stream = load_scenario(sc, seed=seed)
            fingerprints[sc, seed] = stream.fingerprint
        task_free = task_free or stream.info.task_free
        for entry in experiment.strategies:  # an incompatible pair is refused before anything runs
            try:
                build_strategy(entry.spec).check_setting(stream.info)
            except ConfigError as e:
                raise ConfigError(f"{e.message} ({sc} is {stream.setting})", field="strategies",
                                  value=entry.label) from None
        for search in experiment.search:
            if search.protocol == "first-tasks" and search.validation_tasks >= len(stream):
                raise ConfigError(f"{sc} has {len(stream)} tasks: the first-tasks protocol needs fewer",
                                  field=f"search.{search.label}.validation_tasks", value=search.validation_tasks)
    if experiment.checkpoint_every is not None and not task_free:
        raise ConfigError("checkpoints inside a task need a task-free stream, and no scenario is one (the others "
                          "are checkpointed after each task)", field="checkpoint_every",
                          value=experiment.checkpoint_every)
    return store, fingerprints


def _comparable(definition: dict) -> dict:
    """The definition as it reads back from JSON (tuples become lists), for comparison with the stored one."""
    return json.loads(json.dumps(definition, sort_keys=True))


def run_experiment(experiment: Experiment, *, out: Path | None = None, jobs: int | None = None,
                   retry_failed: bool = False, on_progress: Callable[[Progress], None] | None = None,
                   executor: ExecutorSetting | None = None) -> Store:
    """Run every run of the grid not yet recorded, its searches first, on ``executor`` (default: the
    experiment's); return the store."""
    store, fingerprints = prepare(experiment, out)
    if not experiment.search and store.exists():  # all recorded: nothing to start (no cluster to join)
        recorded = store.statuses()
        if all(recorded.get(r.key) == "finished" or (r.key in recorded and not retry_failed)
               for r in experiment.runs(fingerprints)):
            if on_progress:
                on_progress(Progress(total=experiment.size(), skipped=experiment.size()))
            return store
    with build_executor(executor or experiment.executor, store, jobs, experiment.size()) as pool:
        store.create(_comparable(experiment.definition()))
        atomic_write_text(store.path.parent / "experiment.yaml",
                          yaml.safe_dump(experiment.definition(), sort_keys=False, allow_unicode=True))
        cells = _Cells(pool, store, Progress(total=experiment.size(), skipped=0), on_progress, retry_failed)
        chosen = run_search(experiment, fingerprints, cells.run, store) if experiment.search else {}
        cells.run(experiment.runs(fingerprints, chosen))
        cells.progress.running, cells.progress.eta_s = 0, 0.0
        if on_progress:
            on_progress(cells.progress)
    return store


class _Cells:
    """Runs lists of grid cells on an executor, the ones expected to take longest first, skipping those
    recorded; the driver records each outcome."""

    def __init__(self, pool, store: Store, progress: Progress, on_progress, retry_failed: bool):
        self.pool, self.store, self.progress, self.on_progress = pool, store, progress, on_progress
        self.retry_failed, self.started = retry_failed, time.perf_counter()
        self.seconds = {cell(r): r.timings["total_s"] for r in store.results(role=None) if r.status == "finished"}

    def run(self, runs: list[RunSpec]) -> None:
        recorded, progress = self.store.statuses(), self.progress
        queue = [r for r in runs if r.key not in recorded or (self.retry_failed and recorded[r.key] == "failed")]
        progress.skipped += len(runs) - len(queue)
        if self.on_progress:
            self.on_progress(progress)
        pending = {}  # handle -> (run, when it started)
        while queue or pending:
            while queue and len(pending) < self.pool.slots:  # a slot is free: the run expected to take longest
                run = queue.pop(longest_first(queue, self.seconds))
                pending[self.pool.submit(run)] = (run, time.perf_counter())
            progress.running = len(pending)
            if self.on_progress:
                self.on_progress(progress)
            for handle in self.pool.wait(set(pending), timeout=1.0):
                run, t0 = pending.pop(handle)
                outcome = self.pool.outcome(handle)
                record(self.store, run, outcome)
                self.seconds[cell(run)] = time.perf_counter() - t0
                progress.done += 1
                progress.failed += outcome.error is not None
                progress.resumed += outcome.resumed_from is not None
            if progress.done:
                per_run = (time.perf_counter() - self.started) / progress.done
                left = progress.total - progress.skipped - progress.done
                progress.eta_s = per_run * left / self.pool.slots


def record(store: Store, run: RunSpec, outcome: Outcome) -> None:
    """Record a run's outcome in the store (done by the driver only)."""
    store.record(run.key, scenario=run.scenario, strategy=run.strategy.label, seed=run.seed, params=run.strategy.spec,
                 fingerprint=run.fingerprint, version=__version__, result=outcome.result, error=outcome.error,
                 role=run.role)


def cell(run) -> tuple[str, str]:
    """(scenario, strategy label) of a RunSpec or a RunResult: the runs that differ only in their seed."""
    return (run.scenario, run.strategy.label if isinstance(run, RunSpec) else run.strategy)


def longest_first(queue: list[RunSpec], seconds: dict[tuple[str, str], float]) -> int:
    """The position in ``queue`` of the run expected to take longest, by what a run of its scenario and
    strategy took with another seed (in this invocation or an earlier one). Runs of a cell not yet
    measured come first, in the grid's order (seed-major: the first seed measures every cell), so
    that the longest runs never start last and leave the other workers idle at the end."""
    unknown = [i for i, r in enumerate(queue) if cell(r) not in seconds]
    if unknown:
        return unknown[0]
    return max(range(len(queue)), key=lambda i: (seconds[cell(queue[i])], -i))
