"""The Ray executor's store owner: an actor on the driver's node that holds the result store's checkpoints.

Runs on any node of the cluster save and load their checkpoints through it, as bytes, so no SQLite file
is ever shared between machines; only the run's own process turns the bytes into tensors. This module
imports the store and Ray, and neither torch nor the rest of lifelong: the process Ray starts for the
actor would otherwise spend about 3 s of CPU importing torch beside the grid's runs.
"""
from __future__ import annotations

import ray

from lifelong.experiment.store import Store


@ray.remote(num_cpus=0)
class StoreOwner:
    """``Store.put_checkpoint`` and ``Store.checkpoint_bytes`` of the store at ``path``, for the runs."""

    def __init__(self, path: str):
        self.store = Store(path)

    def put_checkpoint(self, key: str, next_task: int, data: bytes) -> None:
        self.store.put_checkpoint(key, next_task, data)

    def checkpoint_bytes(self, key: str) -> bytes | None:
        return self.store.checkpoint_bytes(key)


class OwnedStore:
    """The store as a run sees it through its owner (for ``RunCheckpoints``): a save returns once the
    store holds the checkpoint."""

    def __init__(self, owner, path: str):
        self.owner, self.path = owner, path

    def put_checkpoint(self, key: str, next_task: int, data: bytes) -> None:
        ray.get(self.owner.put_checkpoint.remote(key, next_task, data))

    def checkpoint_bytes(self, key: str) -> bytes | None:
        return ray.get(self.owner.checkpoint_bytes.remote(key))
