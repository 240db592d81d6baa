"""A run's checkpoint: a typed record, saved as tensors and plain values that load without running code.

After each task the run hands a ``Checkpoint`` to its checkpointer (anything with ``save`` and
``load``; the result store is one, ``Store.checkpointer(key)``). Passing the same checkpointer to a
new run with the same strategy, stream, seed and evaluators continues after the last saved task and
ends with the same numbers as an uninterrupted run.

The bytes are a ``torch.save`` archive read back with ``torch.load(weights_only=True)``: tensors,
numbers, strings, lists, tuples and dicts, never an arbitrary object, so a checkpoint from someone
else's store cannot run code when it is opened. One that holds anything else is refused
(``CheckpointRefused``), and the store's run restarts from scratch.
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

FORMAT = 1


class CheckpointRefused(ValueError):
    """The bytes are not a checkpoint that loads safely (crafted, corrupt, or of another format)."""


@dataclass
class Checkpoint:
    next_task: int  # the position in the stream: the first task not finished
    strategy: dict  # Strategy.state_dict()
    observers: list[dict]  # each observer's state_dict(), in the run's order
    rng: dict = field(default_factory=dict)  # the global random generators' states
    timings: dict = field(default_factory=dict)
    next_batch: int = 0  # in an online stream, the first batch of ``next_task`` not yet learned

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save({"format": FORMAT, "next_task": self.next_task, "strategy": self.strategy,
                    "observers": self.observers, "rng": self.rng, "timings": self.timings,
                    "next_batch": self.next_batch}, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Checkpoint":
        try:
            state = torch.load(io.BytesIO(data), weights_only=True)
        except Exception as e:  # an object that is not plain data, or not a torch archive at all
            raise CheckpointRefused(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CheckpointRefused(f"not a lifelong checkpoint of format {FORMAT}")
        return cls(state["next_task"], state["strategy"], state["observers"], state["rng"], state["timings"],
                   state.get("next_batch", 0))


class Checkpointer(Protocol):
    """Where a run keeps its latest checkpoint."""

    def save(self, checkpoint: Checkpoint) -> None: ...

    def load(self) -> Checkpoint | None: ...


class MemoryCheckpointer:
    """Keeps every checkpoint, as bytes, in memory, by position (next task, next batch): ``load()``
    returns the one at ``resume_at``, else the one after task ``resume_after``, else the latest."""

    def __init__(self):
        self.saved: dict[tuple[int, int], bytes] = {}
        self.resume_after: int | None = None
        self.resume_at: tuple[int, int] | None = None

    def save(self, checkpoint: Checkpoint) -> None:
        self.saved[checkpoint.next_task, checkpoint.next_batch] = checkpoint.to_bytes()

    def load(self) -> Checkpoint | None:
        if not self.saved:
            return None
        at = self.resume_at or ((self.resume_after + 1, 0) if self.resume_after is not None else max(self.saved))
        return Checkpoint.from_bytes(self.saved[at])


def rng_state() -> dict:
    """The states of torch's, numpy's and Python's global generators, as plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos,
                                                       has_gauss, gauss], "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
