"""The run's event protocol: observers, the step channel, typed checkpoints that cannot run code."""
import logging
import pickle

import pytest
import torch

import lifelong as ll
from lifelong.events import Observer, Output
from lifelong.experiment.checkpoint import Checkpoint, CheckpointRefused, MemoryCheckpointer
from lifelong.experiment.store import Store

from conftest import fast


class EveryN(Observer):
    """Every seen task's accuracy every ``n`` optimisation steps, through the public protocol alone."""

    def __init__(self, n=5):
        self.n, self.points = n, []

    def on_step(self, ctx, task, step, loss):
        if step % self.n == 0:
            self.points.extend((task, step, j, ctx.score(j)) for j in range(task + 1))

    def output(self):
        return Output({"every_n": self.points}, {"min_seen": min(p[3] for p in self.points)})


def test_a_short_observer_records_curves_and_resumes_with_the_same_curves(digits_stream):
    saved = MemoryCheckpointer()
    full = ll.run(fast("replay"), digits_stream, seed=3, evaluators=[EveryN()], checkpointer=saved)
    points = full.extra["every_n"]
    assert {p[0] for p in points} == set(range(len(digits_stream)))
    assert all(p[2] <= p[0] for p in points) and all(0 <= p[3] <= 1 for p in points)
    assert full.metrics["min_seen"] == min(p[3] for p in points)
    saved.resume_after = 2
    torch.manual_seed(12345)
    resumed = ll.run(fast("replay"), digits_stream, seed=3, evaluators=[EveryN()], checkpointer=saved)
    assert resumed.extra["every_n"] == points and resumed.accuracy_matrix == full.accuracy_matrix


class Recorder(Observer):
    def __init__(self):
        self.events = []

    def on_stream_start(self, ctx):
        self.events.append(("stream start", ctx.seed, ctx.device.type, ctx.stream.name))

    def on_task_start(self, ctx, task):
        self.events.append(("task start", task))

    def on_task_end(self, ctx, task):
        self.events.append(("task end", task))

    def on_stream_end(self, ctx):
        self.events.append(("stream end",))


def test_events_come_in_order_and_nothing_listens_to_steps_unless_asked(digits_stream, monkeypatch):
    channels = []
    fit = ll.strategies.SGDStrategy.fit_task
    monkeypatch.setattr(ll.strategies.SGDStrategy, "fit_task",
                        lambda self, task, on_step=None: (channels.append(on_step), fit(self, task, on_step))[1])
    rec = Recorder()
    ll.run(fast("naive"), digits_stream, seed=0, evaluators=[rec], device="cpu")
    T = len(digits_stream)
    assert rec.events == [("stream start", 0, "cpu", "split-digits"),
                          *[e for i in range(T) for e in (("task start", i), ("task end", i))], ("stream end",)]
    assert channels == [None] * T  # no observer listens to steps: the loop is given no channel
    channels.clear()
    ll.run(fast("naive"), digits_stream, seed=0, evaluators=[EveryN()], device="cpu")
    assert all(callable(c) for c in channels) and len(channels) == T


class Boom:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('pwned').write_text('x')",))


def test_a_checkpoint_crafted_to_run_code_is_refused_and_the_run_restarts(digits_stream, tmp_path, monkeypatch,
                                                                         caplog):
    monkeypatch.chdir(tmp_path)
    crafted = Checkpoint(1, {"net": Boom()}, [], {}, {}).to_bytes()
    with pytest.raises(CheckpointRefused):
        Checkpoint.from_bytes(crafted)
    with pytest.raises(CheckpointRefused):
        Checkpoint.from_bytes(pickle.dumps({"format": 1}, protocol=2))
    store = Store(tmp_path / "runs.sqlite")
    store.create({"name": "x"})
    store.save_checkpoint("k", Checkpoint(1, {"net": Boom()}, [], {}, {}))
    with caplog.at_level(logging.WARNING, logger="lifelong"):
        result = ll.run(fast("naive"), digits_stream, seed=0, checkpointer=store.checkpointer("k"))
    assert not (tmp_path / "pwned").exists()
    assert len(caplog.records) == 1 and "refused" in caplog.records[0].getMessage()
    assert "starts from scratch" in caplog.records[0].getMessage()
    assert result.accuracy_matrix == ll.run(fast("naive"), digits_stream, seed=0).accuracy_matrix
