"""Online, task-free streams: the boundary kinds and their mixing proportions, the online protocol of a
run (one pass, batches announced before they are learned, no boundary told in a task-free stream), the
online metrics, the refusals, and the resume of a run killed inside a task."""
from collections import Counter

import numpy as np
import pytest
import torch

import lifelong as ll
from lifelong.cli import main
from lifelong.config import ConfigError
from lifelong.evaluation import ContinualEvaluation
from lifelong.evaluation import continual_metrics as cm
from lifelong.events import Observer
from lifelong.experiment.checkpoint import MemoryCheckpointer
from lifelong.experiment.store import Store
from lifelong.scenarios import Task, build_stream, from_arrays
from lifelong.scenarios.online import gradual
from lifelong.strategies import Strategy
from lifelong.strategies.naive import Naive

from conftest import fast, row_hashes

ONLINE_LEARNERS = ["naive", "online-er", "er-ace", "der", "mir", "gss", "scr", "cope", "agent"]


def pool(per_class: int = 100, classes: int = 6, seed: int = 0):
    """A synthetic pool whose every sample is unique, ``per_class`` training samples a class."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(per_class)
    return from_arrays(torch.rand(len(y), 1, 4, 4, generator=g), y, torch.rand(classes * 5, 1, 4, 4, generator=g),
                       torch.arange(classes).repeat_interleave(5), name="synthetic")


@pytest.fixture(scope="module")
def digits_online():
    return ll.load_scenario("split-digits", online=True, n_tasks=3)


# --- boundary kinds ----------------------------------------------------------------------------


def test_blurry_moves_the_share_of_every_blurry_class_evenly_and_keeps_disjoint_classes_home():
    data = pool()
    spec = {"builder": "split", "n_tasks": 3, "setting": "class-incremental", "online": True,
            "boundaries": {"kind": "blurry", "share": 0.2, "disjoint": 1 / 3}}
    stream = build_stream(spec, data=data, seed=4)
    home = {c: t.index for t in stream for c in t.classes}
    where = {c: Counter() for c in home}
    for t in stream:
        for c, n in Counter(t.y_train.tolist()).items():
            where[c][t.index] += n
    away = {c: sum(n for t, n in where[c].items() if t != home[c]) for c in home}
    assert sorted(away.values()) == [0, 0, 20, 20, 20, 20]  # 2 of 6 classes disjoint; 20% of 100 moved
    for c, n in away.items():
        if n:  # spread over both other tasks: 10 each
            assert sorted(v for t, v in where[c].items() if t != home[c]) == [10, 10]
    # every training sample is still in the stream, exactly once, and the test sets are untouched
    assert sum(t.n_train for t in stream) == 600
    assert set().union(*(row_hashes(t.x_train) for t in stream)) == row_hashes(data.x_train)
    assert [t.y_test.unique().tolist() for t in stream] == [list(t.classes) for t in stream]


def test_blurry_split_mnist_has_its_share_of_other_tasks_classes_in_every_task():
    stream = ll.load_scenario("blurry-split-mnist")
    for t in stream:
        foreign = (~torch.isin(t.y_train, torch.tensor(t.classes))).float().mean().item()
        assert foreign == pytest.approx(0.1)  # MNIST's 400 a class: 40 moved, 10 to each other task


def _two_tasks(n: int) -> list[Task]:
    """Two tasks of ``n`` samples whose inputs say which task they come from (0 or 1)."""
    return [Task(i, torch.full((n, 1), float(i)), torch.zeros(n, dtype=torch.long), torch.zeros(1, 1),
                 torch.zeros(1, dtype=torch.long), classes=(0,), task_label=i) for i in range(2)]


def test_gradual_boundaries_mix_linearly_across_the_window_and_w_over_8_per_segment():
    n, w = 4000, 0.5
    segments = gradual(_two_tasks(n), np.random.default_rng(0), width=w)
    order = torch.cat([s.x_train[:, 0] for s in segments])  # the source task of each sample, in stream order
    # a segment holds w/8 of the other task's samples (the triangle of the ramp beyond the boundary)
    assert (segments[0].x_train == 1).float().mean().item() == pytest.approx(w / 8, abs=0.015)
    assert (segments[1].x_train == 0).float().mean().item() == pytest.approx(w / 8, abs=0.015)
    # inside the window [n(1 - w/2), n(1 + w/2)] the next task's share rises linearly from 0 to 1
    for lo in range(3100, 4900, 200):
        share = order[lo:lo + 200].mean().item()
        assert share == pytest.approx((lo + 100 - 3000) / 2000, abs=0.13)
    # outside it the stream is one task only
    assert order[:2800].sum() == 0 and order[5200:].min() == 1
    # no width: sharp boundaries
    sharp = gradual(_two_tasks(n), np.random.default_rng(0), width=0.0)
    assert (sharp[0].x_train == 0).all() and (sharp[1].x_train == 1).all()


def test_gradual_permuted_mnist_is_online_and_task_free():
    stream = ll.load_scenario("gradual-permuted-mnist", n_tasks=2)
    assert stream.online == ll.scenarios.Online(batch_size=10, task_free=True)
    assert stream.definition["boundaries"] == {"kind": "gradual", "width": 0.5}
    assert sum(t.n_train for t in stream) == 8000  # nothing lost, nothing repeated


@pytest.mark.parametrize("overrides, field, words", [
    ({"boundaries": "blurry"}, "boundaries", "online"),  # boundaries without online
    ({"online": {"batch_size": 0}}, "online.batch_size", ">= 1"),
    ({"online": {"epochs": 2}}, "online.epochs", "unknown field"),
    ({"online": True, "boundaries": {"kind": "fuzzy"}}, "boundaries.kind", "fuzzy"),
    ({"online": True, "boundaries": {"kind": "gradual", "width": 2}}, "boundaries.width", "<= 1"),
    ({"online": True, "setting": "task-incremental"}, "online.task_free", "task labels"),
])
def test_bad_online_fields_are_refused_naming_the_field(overrides, field, words):
    with pytest.raises(ConfigError) as e:
        ll.load_scenario("split-digits", **overrides)
    assert e.value.field == field and words in str(e.value)


def test_blurry_needs_a_class_incremental_stream():
    with pytest.raises(ConfigError, match="class-incremental"):
        ll.load_scenario("permuted-mnist", n_tasks=2, online=True, boundaries="blurry")


# --- the online protocol -----------------------------------------------------------------------


class Spy(Naive):
    """Naive fine-tuning that records what the run tells it."""

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.calls, self.batches = [], []

    def begin_task(self, task):
        self.calls.append(("begin", task.index))
        super().begin_task(task)

    def end_task(self, task):
        self.calls.append(("end", task.index))
        super().end_task(task)

    def learn_batch(self, x, y, t=None):
        self.batches.append(x)
        return super().learn_batch(x, y, t)


class Arrivals(Observer):
    """Records the order of batch announcements and learning steps."""

    def __init__(self):
        self.events = []

    def on_batch(self, ctx, task, x, y):
        self.events.append("batch")

    def on_step(self, ctx, task, step, loss):
        self.events.append("step")


def test_a_task_free_learner_gets_every_sample_once_in_batches_and_no_boundary(digits_online):
    spy, arrivals = Spy(model="mlp"), Arrivals()
    ll.run(spy, digits_online, seed=0, evaluators=[arrivals])
    assert spy.calls == []  # nothing told where tasks begin or end
    assert {len(b) for b in spy.batches[:-1]} == {10}
    seen = torch.cat(spy.batches)
    assert len(seen) == sum(t.n_train for t in digits_online)  # one pass
    assert row_hashes(seen) == set().union(*(row_hashes(t.x_train) for t in digits_online))
    assert arrivals.events == ["batch", "step"] * len(spy.batches)  # each batch announced before it is learned


def test_an_online_stream_with_boundaries_announces_them(digits_online):
    stream = ll.load_scenario("split-digits", online={"task_free": False, "batch_size": 25}, n_tasks=3)
    spy = Spy(model="mlp")
    ll.run(spy, stream, seed=0)
    assert spy.calls == [("begin", 0), ("end", 0), ("begin", 1), ("end", 1), ("begin", 2), ("end", 2)]
    assert len(spy.batches[0]) == 25


class Zero(Strategy):
    """Predicts class 0 and learns nothing: its online accuracy is the share of zeros in the stream."""

    needs_boundaries = False

    def setup(self, info, *, seed=0, device="cpu"):
        pass

    def learn_batch(self, x, y, t=None):
        return torch.zeros(())

    def predict(self, x, info):
        return torch.zeros(len(x), dtype=torch.long)

    def n_parameters(self):
        return 1

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_online_accuracy_scores_each_incoming_batch(digits_online):
    result = ll.run(Zero(), digits_online, seed=0)
    labels = torch.cat([t.y_train for t in digits_online])
    assert result.metrics["online_acc"] == pytest.approx((labels == 0).float().mean().item())
    assert result.extra["online"]["samples"] == [t.n_train for t in digits_online]


def test_average_anytime_accuracy_by_hand():
    curve = [(0, 0, 0.1), (10, 0, 0.8), (20, 0, 0.6), (20, 1, 0.9)]
    # step 0 is left out (nothing seen); step 20 weighs task 0's 100 test samples against task 1's 300
    assert cm.average_anytime_accuracy(curve, [100, 300]) == pytest.approx((0.8 + (60 + 270) / 400) / 2)
    assert cm.average_anytime_accuracy([(0, 0, 0.5)], [10]) is None


@pytest.mark.parametrize("name", ["ewc", "lwf", "joint", "icarl", "gdumb"])
def test_a_method_that_needs_boundaries_or_whole_tasks_refuses_a_task_free_stream(name, digits_online):
    with pytest.raises(ConfigError, match="task-free|online") as e:
        ll.run(ll.load_strategy(name), digits_online)
    assert e.value.field == "strategy"


def test_the_cli_refuses_in_one_line(capsys):
    assert main(["run", "--scenario", "online-split-mnist", "--strategy", "ewc"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "task-free" in err and "ewc" in err


@pytest.mark.parametrize("name", ["online-er", "agent"])
def test_an_online_run_with_boundaries_resumes_after_a_task(name):
    stream = ll.load_scenario("split-digits", online={"task_free": False}, n_tasks=3)
    overrides = {"model": "mlp", **({"optimizer": "adam", "lr": 0.001} if name != "agent" else {})}
    saved = MemoryCheckpointer()
    full = ll.run(ll.load_strategy(name, **overrides), stream, seed=1, checkpointer=saved)
    saved.resume_after = 0  # each task gets a fresh optimizer, also after a resume
    resumed = ll.run(ll.load_strategy(name, **overrides), stream, seed=1, checkpointer=saved)
    assert resumed.accuracy_matrix == full.accuracy_matrix and resumed.metrics == full.metrics


def test_checkpoint_every_needs_a_task_free_stream(tmp_path, capsys):
    with pytest.raises(ValueError, match="task-free"):
        ll.run(fast("naive"), ll.load_scenario("split-digits", n_tasks=2), checkpoint_every=5)
    exp = tmp_path / "e.yaml"
    exp.write_text("name: e\nscenarios: [split-digits]\nstrategies: [naive]\nseeds: 1\ncheckpoint_every: 50\n")
    assert main(["compare", str(exp), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "checkpoint_every" in err[-1] and "task-free" in err[-1] and not (tmp_path / "out").exists()


class Killed(Exception):
    pass


class KillAt(Observer):
    """Stops the run at its ``at``-th step, as a kill would (it keeps no state in checkpoints)."""

    def __init__(self, at):
        self.at, self.steps = at, 0

    def on_step(self, ctx, task, step, loss):
        self.steps += 1
        if self.steps == self.at:
            raise Killed

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_a_run_killed_inside_a_task_resumes_from_the_store_losing_at_most_checkpoint_every(digits_online, tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    store.create({"name": "kill"})

    def run(kill_at):
        evaluators = [ContinualEvaluation(every=5, subset=30), KillAt(kill_at)]
        return ll.run(fast("online-er"), digits_online, seed=0, evaluators=evaluators,
                      checkpointer=store.checkpointer("k"), checkpoint_every=20)

    with pytest.raises(Killed):
        run(kill_at=75)  # inside the second task: the first has 57 batches
    saved = store.load_checkpoint("k")
    assert (saved.next_task, saved.next_batch) == (1, 3)  # step 60, the last multiple of 20 before the kill
    resumed = run(kill_at=0)
    plain = ll.run(fast("online-er"), digits_online, seed=0, evaluators=[ContinualEvaluation(every=5, subset=30)])
    assert resumed.accuracy_matrix == plain.accuracy_matrix and resumed.metrics == plain.metrics
    assert resumed.extra == plain.extra


# --- every online learner: it learns, and a run killed inside a task resumes to the same numbers ----


@pytest.mark.parametrize("name", ONLINE_LEARNERS)
def test_online_learners_learn_and_resume_inside_a_task(name, digits_online):
    def run(checkpointer=None):
        adam = {"optimizer": "adam", "lr": 0.001} if name != "agent" else {}  # Adam: its state must resume too
        strategy = ll.load_strategy(name, model="mlp", **adam)
        return ll.run(strategy, digits_online, seed=3, evaluators=[ContinualEvaluation(every=9, subset=40)],
                      checkpointer=checkpointer, checkpoint_every=None if checkpointer is None else 16)

    saved = MemoryCheckpointer()
    full = run(saved)  # uninterrupted; that saving checkpoints changes nothing, the kill test below shows
    inside = sorted(at for at in saved.saved if at[1])
    saved.resume_at = inside[len(inside) // 2]  # as if killed in the middle of a task
    resumed = run(saved)
    assert resumed.accuracy_matrix == full.accuracy_matrix
    assert resumed.metrics == full.metrics and resumed.extra == full.extra
    assert full.metrics["online_acc"] > 0.3 and full.metrics["aaa"] > 0.5  # 3 tasks of 2 digits: chance < 0.5
