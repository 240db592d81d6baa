"""Run an experiment grid in parallel worker processes, into a result store that survives crashes.

Each run uses one thread, seeds itself and draws every random number from its
own generators, so its numbers do not depend on which worker ran it, in what
order, or how many workers there were. A run checkpoints after each task; a
rerun of the same experiment skips recorded runs and continues unfinished ones
from their last finished task.
"""
from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from lifelong.config import ConfigError
from lifelong.atomic import atomic_write_text
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
    eta_s: float | None = None


def compare(experiment: Experiment | str | Path | None = None, *, out: str | Path | None = None,
            jobs: int | None = None, retry_failed: bool = False,
            on_progress: Callable[[Progress], None] | None = None) -> Path:
    """Run an experiment (a file, an Experiment, or None for the embedded default) and write its report.
    Returns the output folder."""
    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    store = run_experiment(experiment, out=Path(out) if out is not None else None, jobs=jobs,
                           retry_failed=retry_failed, on_progress=on_progress)
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
    return build_report(store.results(), definition, folder, reference=definition.get("reference"))


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def prepare(experiment: Experiment, out: Path | None = None) -> tuple[Store, list[RunSpec]]:
    """Check the experiment against its output folder and expand the grid; writes nothing.

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
        for seed in experiment.seeds:
            stream = load_scenario(sc, seed=seed)
            fingerprints[sc, seed] = stream.fingerprint
        task_free = task_free or stream.info.task_free
        for entry in experiment.strategies:  # an incompatible pair is refused before anything runs
            try:
                build_strategy(entry.spec).check_setting(stream.info)
            except ConfigError as e:
                raise ConfigError(f"{e.message} ({sc} is {stream.setting})", field="strategies",
                                  value=entry.label) from None
    if experiment.checkpoint_every is not None and not task_free:
        raise ConfigError("checkpoints inside a task need a task-free stream, and no scenario is one (the others "
                          "are checkpointed after each task)", field="checkpoint_every",
                          value=experiment.checkpoint_every)
    return store, experiment.runs(fingerprints)


def _comparable(definition: dict) -> dict:
    """The definition as it reads back from JSON (tuples become lists), for comparison with the stored one."""
    return json.loads(json.dumps(definition, sort_keys=True))


def run_experiment(experiment: Experiment, *, out: Path | None = None, jobs: int | None = None,
                   retry_failed: bool = False, on_progress: Callable[[Progress], None] | None = None) -> Store:
    """Run every run of the grid not yet recorded; return the store."""
    store, runs = prepare(experiment, out)
    store.create(_comparable(experiment.definition()))
    atomic_write_text(store.path.parent / "experiment.yaml",
                      yaml.safe_dump(experiment.definition(), sort_keys=False, allow_unicode=True))
    recorded = store.statuses()
    todo = [r for r in runs if r.key not in recorded or (retry_failed and recorded[r.key] == "failed")]
    progress = Progress(total=len(runs), skipped=len(runs) - len(todo))
    if on_progress:
        on_progress(progress)
    if not todo:
        return store
    jobs = max(1, min(jobs or default_jobs(), len(todo)))
    seconds = {cell(r): r.timings["total_s"] for r in store.results() if r.status == "finished"}
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=watch_parent,
                             initargs=(os.getpid(),)) as pool:
        queue, pending = list(todo), {}  # pending: future -> (run, when it started)
        while queue or pending:
            while queue and len(pending) < jobs:  # a worker is free: the run expected to take longest
                run = queue.pop(longest_first(queue, seconds))
                pending[pool.submit(execute, str(store.path), run)] = (run, time.perf_counter())
            progress.running = len(pending)
            if on_progress:
                on_progress(progress)
            finished, _ = wait(set(pending), timeout=1.0, return_when=FIRST_COMPLETED)
            for f in finished:
                run, t0 = pending.pop(f)
                seconds[cell(run)] = time.perf_counter() - t0
                progress.done += 1
                progress.failed += f.result() == "failed"
            if progress.done:
                per_run = (time.perf_counter() - started) / progress.done
                progress.eta_s = per_run * (len(queue) + len(pending)) / jobs
    progress.running, progress.eta_s = 0, 0.0
    if on_progress:
        on_progress(progress)
    return store


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


def watch_parent(parent: int) -> None:
    """Make this worker end when the driver ``parent`` does, even when it is killed with SIGKILL and
    cannot tell its workers: the kernel's parent-death signal on Linux, and a watch on the parent
    (checked every second) everywhere."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def execute(store_path: str, run: RunSpec) -> str:
    """Run one cell of the grid in this process and record it; returns 'finished' or 'failed'."""
    import torch

    import lifelong as ll
    from lifelong.evaluation import standard_evaluators
    from lifelong.strategies import build_strategy

    torch.set_num_threads(1)
    store = Store(store_path)
    ident = dict(scenario=run.scenario, strategy=run.strategy.label, seed=run.seed, params=run.strategy.spec,
                 fingerprint=run.fingerprint, version=__version__)
    try:
        stream = ll.load_scenario(run.scenario, seed=run.seed)
        if stream.fingerprint != run.fingerprint:
            raise RuntimeError("the stream's data changed while the experiment ran")
        strategy = build_strategy(run.strategy.spec)
        strategy.name = run.strategy.label
        result = ll.run(strategy, stream, seed=run.seed, checkpointer=store.checkpointer(run.key),
                        evaluators=standard_evaluators(*run.evaluators),
                        checkpoint_every=run.checkpoint_every if stream.info.task_free else None,
                        loggers=_loggers(run.logging, Path(store_path).parent / "logs"))
    except Exception as e:  # recorded, and the grid goes on
        store.record(run.key, **ident, error=f"{type(e).__name__}: {e}")
        return "failed"
    store.record(run.key, **ident, result=result)
    return "finished"


def _loggers(logging: dict | None, folder: Path) -> list:
    """The run's loggers, writing under ``folder`` (none without ``logging``)."""
    from lifelong.loggers import build_loggers

    if not logging:
        return []
    return build_loggers(logging["loggers"], folder, every=logging["every"], experiment=logging["experiment"])
