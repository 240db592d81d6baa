"""The Ray executor: each run of a grid is a Ray task, and the result store stays on the driver's machine.

    lifelong compare exp.yaml --executor ray [--address auto | --address HOST:PORT]

Runs' results come back to the driver as task results, and the driver records them. Checkpoints
travel through Ray too: an actor on the driver's node owns the store's checkpoints
(``store_owner.StoreOwner``), so no SQLite file is ever shared between machines. A worker that dies
mid-run (its process killed, its node lost) is retried by Ray and continues from the run's last
checkpoint; a killed driver takes its tasks with it, and rerunning the command continues from the
store, as with local processes.

Every node needs lifelong (with the same version), its data under the same path or
``$LIFELONG_DATA``, and the scenario files an experiment names by path.
"""
from __future__ import annotations

import logging
import os
import socket

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from lifelong.config import ConfigError
from lifelong.experiment.executors import ExecutorSetting, Outcome, execute, logs_beside
from lifelong.experiment.store import RunCheckpoints, Store
from lifelong.experiment.store_owner import OwnedStore, StoreOwner

RETRIES = 3  # a run whose worker dies is started again this many times, from its last checkpoint
# A local instance runs the runs at the priority of the local executor's workers. Ray's default starts
# its workers at niceness 15, so they yield the CPU to every other process of the machine.
LOCAL_INSTANCE = {"worker_niceness": 0}


@ray.remote(max_retries=RETRIES)
def run_on_ray(run, owner, store: str, threads: int) -> Outcome:
    return execute(run, RunCheckpoints(OwnedStore(owner, store), run.key), logs_beside(store), threads)


class RayExecutor:
    """As many runs at once as the cluster has room for (each with its resource request), at most ``jobs``."""

    def __init__(self, store: Store, jobs: int | None, runs: int, setting: ExecutorSetting):
        self.store, self.jobs, self.runs, self.setting = store, jobs, runs, setting
        self.started, self.owner = False, None

    def __enter__(self) -> "RayExecutor":
        self.started = connect(self.setting.address)
        try:
            resources = ray.cluster_resources()
            capacity = int(resources.get("CPU", 0) // self.setting.cpus_per_run)
            if self.setting.gpus_per_run:
                capacity = min(capacity, int(resources.get("GPU", 0) // self.setting.gpus_per_run))
            if capacity < 1:
                raise ConfigError(f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and "
                                  f"{resources.get('GPU', 0):g} GPUs: not enough for one run", field="executor.ray",
                                  value={"cpus_per_run": self.setting.cpus_per_run,
                                         "gpus_per_run": self.setting.gpus_per_run})
            self.slots = max(1, min(capacity, self.jobs or capacity, self.runs))
            here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
            self.owner = StoreOwner.options(scheduling_strategy=here).remote(str(self.store.path))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.owner is not None:  # in a session that outlives the grid (a notebook's), its actor ends with it
            ray.kill(self.owner)
        if self.started:
            ray.shutdown()

    def submit(self, run):
        task = run_on_ray.options(num_cpus=self.setting.cpus_per_run, num_gpus=self.setting.gpus_per_run)
        return task.remote(run, self.owner, str(self.store.path), max(1, int(self.setting.cpus_per_run)))

    def wait(self, handles: set, timeout: float) -> set:
        first, _ = ray.wait(list(handles), num_returns=1, timeout=timeout)
        if not first:
            return set()
        ready, _ = ray.wait(list(handles), num_returns=len(handles), timeout=0)
        return set(ready) | set(first)

    def outcome(self, handle) -> Outcome:
        try:
            return ray.get(handle)
        except ray.exceptions.RayError as e:  # the run's worker died more often than it is retried
            return Outcome(error=f"{type(e).__name__}: {str(e).strip().splitlines()[0]}")


def connect(address: str | None) -> bool:
    """Join the Ray cluster at ``address`` (None: the one RAY_ADDRESS names, else a new local instance);
    True when this call connected, so the executor disconnects at the end. One line when it cannot."""
    if address is not None and address != "auto":
        _check_reachable(address)
    if ray.is_initialized():  # a session the caller opened (a notebook, a test): used as it is
        return False
    starts = address is None and not os.environ.get("RAY_ADDRESS")
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                 **({"include_dashboard": False, "_system_config": LOCAL_INSTANCE} if starts else {}))
    except ConnectionError as e:
        raise ConfigError(f"no Ray cluster to join ({str(e).splitlines()[0]})", field="address",
                          value=address) from None
    return True


def _check_reachable(address: str) -> None:
    """A wrong address fails here in seconds, instead of after Ray's own minute of retries."""
    if address.startswith("ray://"):
        raise ConfigError("Ray Client addresses are not supported: run lifelong compare on a node of the cluster, "
                          "with its HOST:PORT or auto", field="address", value=address)
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError("expected auto or HOST:PORT (the head node's GCS address)", field="address", value=address)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise ConfigError(f"cannot reach a Ray cluster there ({e.strerror or type(e).__name__})", field="address",
                          value=address) from None
