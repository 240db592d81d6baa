"""Where the runs of a grid execute: worker processes on this machine (the default), or Ray tasks.

    executor: local                                    # the default
    executor: ray                                      # a local Ray instance, or the cluster RAY_ADDRESS names
    executor: {ray: {address: auto, cpus_per_run: 1, gpus_per_run: 0}}

An executor runs one RunSpec at a time per slot and hands back its ``Outcome``; the driver alone
records outcomes in the result store. Each run seeds itself and draws every random number from its
own generators, so a run's numbers depend neither on the executor nor on the worker that ran it.
The Ray executor lives in :mod:`lifelong.experiment.ray_executor`, imported only when chosen.
"""
from __future__ import annotations

import ctypes
import importlib.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from lifelong.config import ConfigError, check_value
from lifelong.experiment.checkpoint import Checkpoint
from lifelong.experiment.result import RunResult
from lifelong.experiment.store import Store

if TYPE_CHECKING:
    from lifelong.experiment.spec import RunSpec

RAY_DEFAULTS = {"address": None, "cpus_per_run": 1, "gpus_per_run": 0}


@dataclass(frozen=True)
class ExecutorSetting:
    kind: str = "local"  # local | ray
    address: str | None = None  # ray: "auto", "HOST:PORT", or None (RAY_ADDRESS, else a new local instance)
    cpus_per_run: float = 1
    gpus_per_run: float = 0


def executor_setting(value, field: str = "executor") -> ExecutorSetting:
    """``executor``: ``local``, ``ray``, or ``{ray: {address, cpus_per_run, gpus_per_run}}``."""
    if value in ("local", {"local": {}}, {"local": None}):
        return ExecutorSetting()
    if value == "ray":
        value = {"ray": {}}
    if not isinstance(value, dict) or list(value) != ["ray"]:
        raise ConfigError("expected local, ray, or {ray: {address, cpus_per_run, gpus_per_run}}", field=field,
                          value=value)
    ray = check_value(f"{field}.ray", value["ray"] or {}, dict)
    unknown = sorted(set(ray) - set(RAY_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown field (known: {', '.join(RAY_DEFAULTS)})", field=f"{field}.ray.{unknown[0]}")
    ray = {**RAY_DEFAULTS, **ray}
    if ray["address"] is not None:
        check_value(f"{field}.ray.address", ray["address"], str)
    for key in ("cpus_per_run", "gpus_per_run"):
        v = ray[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (key == "cpus_per_run" and v == 0):
            raise ConfigError("expected a positive number" if key == "cpus_per_run" else "expected a number >= 0",
                              field=f"{field}.ray.{key}", value=v)
    require_ray(field)
    return ExecutorSetting("ray", ray["address"], ray["cpus_per_run"], ray["gpus_per_run"])


def with_flags(setting: ExecutorSetting, kind: str | None, address: str | None) -> ExecutorSetting:
    """``setting`` (an experiment's) as ``lifelong compare --executor KIND --address ADDR`` change it."""
    kind = kind or ("ray" if address else setting.kind)
    if kind == "local":
        if address:
            raise ConfigError("is a Ray cluster's address: it needs --executor ray", field="--address", value=address)
        return ExecutorSetting()
    require_ray("--executor")
    setting = setting if setting.kind == "ray" else ExecutorSetting("ray")
    return replace(setting, address=address) if address else setting


def require_ray(field: str = "executor") -> None:
    """One line, before anything runs, when Ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise ConfigError("needs the ray package: pip install 'lifelong[ray]'", field=field, value="ray")


@dataclass
class Outcome:
    """What a run hands back to the driver: its result, or the error that ended it."""

    result: RunResult | None = None
    error: str | None = None
    resumed_from: int | None = None  # the task it continued from, when it resumed a checkpoint


class WatchedCheckpoints:
    """A checkpointer that remembers where the run resumed (for the progress line and the tests)."""

    def __init__(self, inner):
        self.inner, self.resumed_from = inner, None

    def save(self, checkpoint: Checkpoint) -> None:
        self.inner.save(checkpoint)

    def load(self) -> Checkpoint | None:
        checkpoint = self.inner.load()
        self.resumed_from = None if checkpoint is None else checkpoint.next_task
        return checkpoint


def execute(run: RunSpec, checkpointer, logs: Path, threads: int = 1) -> Outcome:
    """Run one cell of the grid in this process, continuing from ``checkpointer``'s latest checkpoint."""
    import torch

    import lifelong as ll
    from lifelong.evaluation import standard_evaluators
    from lifelong.strategies import build_strategy

    torch.set_num_threads(threads)
    watched = WatchedCheckpoints(checkpointer)
    try:
        stream = ll.load_scenario(run.scenario, seed=run.seed)
        if stream.fingerprint != run.fingerprint:
            raise RuntimeError("the stream's data changed while the experiment ran")
        if run.search:  # a search candidate learns a stream made from the training data alone
            from lifelong.experiment.search import validation_stream
            stream = validation_stream(stream, **run.search, seed=run.seed)
        strategy = build_strategy(run.strategy.spec)
        strategy.name = run.strategy.label
        result = ll.run(strategy, stream, seed=run.seed, checkpointer=watched,
                        evaluators=standard_evaluators(*run.evaluators),
                        checkpoint_every=run.checkpoint_every if stream.info.task_free else None,
                        loggers=_loggers(run.logging, logs), matrix_every=run.matrix_every)
    except Exception as e:  # recorded, and the grid goes on
        return Outcome(error=f"{type(e).__name__}: {e}", resumed_from=watched.resumed_from)
    return Outcome(result=result, resumed_from=watched.resumed_from)


def _loggers(logging: dict | None, folder: Path) -> list:
    """The run's loggers, writing under ``folder`` (none without ``logging``)."""
    from lifelong.loggers import build_loggers

    if not logging:
        return []
    return build_loggers(logging["loggers"], folder, every=logging["every"], experiment=logging["experiment"])


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LocalExecutor:
    """``slots`` worker processes on this machine, one torch thread each; a worker ends with its driver."""

    def __init__(self, store: Store, jobs: int | None, runs: int):
        self.store, self.slots = store, max(1, min(jobs or default_jobs(), runs))

    def __enter__(self) -> "LocalExecutor":
        self.pool = ProcessPoolExecutor(max_workers=self.slots, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=watch_parent, initargs=(os.getpid(),))
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(cancel_futures=True)

    def submit(self, run: RunSpec):
        return self.pool.submit(_execute_locally, str(self.store.path), run)

    def wait(self, handles: set, timeout: float) -> set:
        return wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)[0]

    def outcome(self, handle) -> Outcome:
        return handle.result()


def logs_beside(store_path: str | Path) -> Path:
    """The folder where a grid's runs write their loggers' files: beside its result store."""
    return Path(store_path).parent / "logs"


def _execute_locally(store_path: str, run: RunSpec) -> Outcome:
    store = Store(store_path)  # checkpoints go straight into the store: it is on this machine
    return execute(run, store.checkpointer(run.key), logs_beside(store_path))


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


def build_executor(setting: ExecutorSetting, store: Store, jobs: int | None, runs: int):
    """The executor ``setting`` names, for ``runs`` runs, with at most ``jobs`` at once."""
    if setting.kind == "local":
        return LocalExecutor(store, jobs, runs)
    from lifelong.experiment.ray_executor import RayExecutor

    return RayExecutor(store, jobs, runs, setting)
