"""The result store: one SQLite database per experiment folder (``runs.sqlite``).

Every write is one transaction, so a killed experiment leaves each run either
recorded whole or not at all. A run in progress keeps its latest checkpoint
(after its last finished task) so that a rerun continues from there.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from lifelong.experiment.result import RunResult

if TYPE_CHECKING:
    from lifelong.experiment.checkpoint import Checkpoint

log = logging.getLogger("lifelong")

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiment (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    definition TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    strategy TEXT NOT NULL,
    seed INTEGER NOT NULL,
    params TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('finished', 'failed')),
    error TEXT,
    result TEXT,
    train_s REAL,
    recorded_at REAL NOT NULL,
    role TEXT NOT NULL DEFAULT 'run'  -- run: a cell of the grid; search: a candidate of a hyperparameter search
);
CREATE TABLE IF NOT EXISTS checkpoints (
    key TEXT PRIMARY KEY,
    next_task INTEGER NOT NULL,
    state BLOB NOT NULL
);
"""


class Store:
    """Runs and checkpoints of one experiment. Safe to use from several processes at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.upgraded = False

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=120, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if not self.upgraded:  # a store of lifelong 0.x has no roles: every run is a cell of the grid
            columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
            if columns and "role" not in columns:
                conn.execute("ALTER TABLE runs ADD COLUMN role TEXT NOT NULL DEFAULT 'run'")
            self.upgraded = bool(columns)
        return conn

    def create(self, definition: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.executescript(SCHEMA)
            conn.execute("INSERT OR IGNORE INTO experiment (id, definition) VALUES (1, ?)",
                         (json.dumps(definition, sort_keys=True),))

    def exists(self) -> bool:
        return self.path.is_file()

    def definition(self) -> dict | None:
        """The experiment's definition; None when there is no store, or the file is not one."""
        if not self.exists():
            return None
        try:
            with closing(self._connect()) as conn:
                row = conn.execute("SELECT definition FROM experiment WHERE id = 1").fetchone()
        except sqlite3.DatabaseError:  # not an SQLite database, or one without our tables
            return None
        return json.loads(row[0]) if row else None

    # --- runs -----------------------------------------------------------------------

    def record(self, key: str, *, scenario: str, strategy: str, seed: int, params: dict, fingerprint: str,
               version: str, result: RunResult | None = None, error: str | None = None, role: str = "run") -> None:
        """Record a finished run (``result``) or a failed one (``error``) and drop its checkpoint, atomically."""
        status = "failed" if error is not None else "finished"
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, scenario, strategy, seed, json.dumps(params, sort_keys=True), fingerprint, version, status,
                 error, None if result is None else result.to_json(),
                 None if result is None else sum(result.timings["train_s"]), time.time(), role))
            conn.execute("DELETE FROM checkpoints WHERE key = ?", (key,))
            conn.execute("COMMIT")

    def statuses(self) -> dict[str, str]:
        """``key -> 'finished' | 'failed'`` for every recorded run."""
        with closing(self._connect()) as conn:
            return dict(conn.execute("SELECT key, status FROM runs"))

    def results(self, role: str | None = "run") -> list[RunResult]:
        """Every recorded run of ``role`` (None: all) as a RunResult (failed runs carry their error, with the
        numbers they reached)."""
        where, args = ("", ()) if role is None else (" WHERE role = ?", (role,))
        with closing(self._connect()) as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM runs{where} ORDER BY scenario, strategy, seed", args).fetchall()
        return [_result(*row) for row in rows]

    def result(self, key: str) -> RunResult | None:
        """The recorded run ``key``; None when it is not recorded."""
        with closing(self._connect()) as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None else _result(*row)

    # --- checkpoints ----------------------------------------------------------------

    def checkpointer(self, key: str) -> "RunCheckpoints":
        """The checkpointer of run ``key``, for ``lifelong.run(checkpointer=...)``."""
        return RunCheckpoints(self, key)

    def save_checkpoint(self, key: str, checkpoint: Checkpoint) -> None:
        self.checkpointer(key).save(checkpoint)

    def load_checkpoint(self, key: str) -> Checkpoint | None:
        """The state after the run's last finished task (tensors on the device they were saved from).
        A checkpoint that does not load safely is refused with one warning, and the run starts over."""
        return self.checkpointer(key).load()

    def put_checkpoint(self, key: str, next_task: int, data: bytes) -> None:
        """Keep ``data`` (``Checkpoint.to_bytes()``) as run ``key``'s checkpoint, in place of the one before."""
        with closing(self._connect()) as conn:
            conn.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)", (key, next_task, data))

    def checkpoint_bytes(self, key: str) -> bytes | None:
        """Run ``key``'s checkpoint as it was put; None when it has none."""
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT state FROM checkpoints WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]


COLUMNS = "scenario, strategy, seed, fingerprint, status, error, result"


def _result(scenario, strategy, seed, fingerprint, status, error, result) -> RunResult:
    if result is not None:
        r = RunResult.from_dict(json.loads(result))
        r.strategy, r.status, r.error = strategy, status, error
        return r
    return RunResult(scenario=scenario, strategy=strategy, seed=seed, setting="", stream_fingerprint=fingerprint,
                     config={}, versions={}, accuracy_matrix=[], random_init_accuracy=[], metrics={},
                     timings={"train_s": [], "eval_s": [], "total_s": 0.0}, status=status, error=error)


class RunCheckpoints:
    """One run's checkpoints in a store: the ``Checkpointer`` a run in ``lifelong compare`` saves to.
    ``store`` is a ``Store``, or anything with its ``path``, ``put_checkpoint`` and ``checkpoint_bytes``
    (the Ray executor's store owner): the store keeps bytes, and only the run's process turns them into
    tensors."""

    def __init__(self, store, key: str):
        self.store, self.key = store, key

    def save(self, checkpoint: Checkpoint) -> None:
        self.store.put_checkpoint(self.key, checkpoint.next_task, checkpoint.to_bytes())

    def load(self) -> Checkpoint | None:
        from lifelong.experiment.checkpoint import Checkpoint, CheckpointRefused  # torch: not for the store alone

        data = self.store.checkpoint_bytes(self.key)
        if data is None:
            return None
        try:
            return Checkpoint.from_bytes(data)
        except CheckpointRefused as e:
            log.warning("%s: the checkpoint of run %s was refused (%s); the run starts from scratch",
                        self.store.path, self.key, e)
            return None
