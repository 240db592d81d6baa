"""OSAKA-style streams (Caccia et al. 2020): the stream's definition, prediction before learning, the
pre-training phase, C-MAML's shift detection, and the learners that run on it."""
import numpy as np
import pytest
import torch

import lifelong as ll
from lifelong.experiment.checkpoint import MemoryCheckpointer
from lifelong.meta.episodes import classification_episodes
from lifelong.scenarios import Online, StreamInfo, TaskInfo, build_stream, from_arrays
from lifelong.scenarios.osaka import MODES, osaka
from lifelong.strategies.base import Strategy
from lifelong.strategies.cmaml import CMAML
from lifelong.strategies.protonet import ProtoNet


def pool(classes: int = 30, per_class: int = 40, test_per_class: int = 10, seed: int = 0):
    """A synthetic pool of 1-D inputs, every sample unique; a class is a noisy copy of its template."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.randn(classes, 1, 8, generator=g)

    def draw(n):
        y = torch.arange(classes).repeat_interleave(n)
        return templates[y] + 0.3 * torch.randn(len(y), 1, 8, generator=g), y

    return from_arrays(*draw(per_class - test_per_class), *draw(test_per_class), name="synthetic")


SMALL = {"pretrain_classes": 10, "new_classes": 10, "ood_classes": 10, "n_way": 3, "k_shot": 2}


def small_stream(seed=0, **fields):
    spec = {"builder": "osaka", "setting": "domain-incremental", "online": {"batch_size": 6}, **SMALL,
            "n_steps": 60, "p_statio": 0.8, **fields}
    return build_stream(spec, seed=seed, name="osaka-small", data=pool())


def rows(x):
    return {tuple(v) for v in x.flatten(1).tolist()}


def test_the_stream_switches_and_draws_its_modes_as_defined():
    data = pool()
    built = osaka(data, 0, n_steps=20000, p_statio=0.9, **{**SMALL, "n_way": 2, "k_shot": 1})
    steps = [t.metadata["steps"] for t in built.tasks]
    assert sum(steps) == 20000 and len(steps) > 1500
    assert np.mean(steps[:-1]) == pytest.approx(1 / (1 - 0.9), rel=0.07)  # geometric: switch w.p. 1 - p_statio
    modes = [t.metadata["mode"] for t in built.tasks]
    for mode, p in (("pretrain", 0.5), ("new", 0.25), ("ood", 0.25)):
        assert modes.count(mode) / len(modes) == pytest.approx(p, abs=0.035)
    pre = set(built.pretraining.metadata["pool_classes"])
    assert len(built.pretraining.y_test) == 0  # nothing of the stream's pre-training mode is in the pool
    trained_on, unseen = rows(built.pretraining.x_train), rows(data.x_test)
    sorted_rows = {tuple(sorted(r)) for r in rows(torch.cat([data.x_train, data.x_test]))}
    for task in built.tasks[:200]:
        classes = task.metadata["pool_classes"]
        assert task.classes == (0, 1) and sorted(task.y_train.tolist()) == [0] * (task.n_train // 2) + [1] * (task.n_train // 2)
        if task.metadata["mode"] == "pretrain":  # the pre-training pool's classes, samples it did not hold
            assert set(classes) <= pre and rows(task.x_train) <= unseen and not rows(task.x_train) & trained_on
        else:
            assert not set(classes) & pre
        if task.metadata["mode"] == "ood":  # the same samples' values, their positions permuted
            assert all(tuple(sorted(r)) in sorted_rows for r in rows(task.x_train))
            assert not rows(task.x_train) & rows(torch.cat([data.x_train, data.x_test]))


def test_relabelled_episodes_name_each_drawn_class_0_to_n_minus_1():
    y = torch.arange(10).repeat_interleave(6)
    x = y.float()[:, None]  # an input is its class
    xs, ys, xq, yq = classification_episodes(x, y, 8, 3, 2, 4, torch.Generator().manual_seed(0), relabel=True)
    assert ys.tolist() == [[0, 0, 1, 1, 2, 2]] * 8 and yq.tolist() == [[0] * 4 + [1] * 4 + [2] * 4] * 8
    for e in range(8):
        classes = [set(xs[e][ys[e] == j].flatten().tolist()) | set(xq[e][yq[e] == j].flatten().tolist())
                   for j in range(3)]
        assert all(len(c) == 1 for c in classes) and len(set.union(*classes)) == 3  # 3 distinct pool classes


class Lookup(Strategy):
    """Predicts the label a learned batch gave an input it has seen, else 0: a learner that peeks at the
    labels of the batch it is scored on would score 100%."""

    learns_online, needs_boundaries = True, False

    def setup(self, info, *, seed=0, device="cpu"):
        self.seen = {}

    def learn_batch(self, x, y, t=None):
        self.seen.update(zip(map(tuple, x.flatten(1).tolist()), y.tolist()))
        return torch.tensor(0.0)

    def predict(self, x, info):
        return torch.tensor([self.seen.get(tuple(r), 0) for r in x.flatten(1).tolist()])

    def state_dict(self):
        return {}

    def n_parameters(self):
        return len(self.seen) + 1


def test_each_batch_is_predicted_before_it_is_learned_and_scored_per_mode():
    stream = small_stream(k_shot=4, n_steps=40)  # pre-training mode: 10 unseen samples a class, so repeats
    result = ll.run(Lookup(), stream, seed=0)
    by_mode, seen = {}, {}
    for task in stream:
        order = task.x_train.flatten(1).tolist()  # the batches in the order the run hands them over
        for b in range(0, task.n_train, 6):
            xb, yb = order[b:b + 6], task.y_train[b:b + 6].tolist()
            right = [seen.get(tuple(r), 0) == label for r, label in zip(xb, yb)]
            by_mode.setdefault(task.metadata["mode"], []).extend(right)
            seen.update(zip(map(tuple, xb), yb))
    every = [r for v in by_mode.values() for r in v]
    assert result.metrics["online_acc"] == pytest.approx(np.mean(every)) and np.mean(every) < 0.9
    for mode, right in by_mode.items():
        assert result.metrics[f"online_acc_{mode}"] == pytest.approx(np.mean(right))
    assert {f"online_acc_{mode}" for mode in MODES} <= set(stream.measure.metrics)  # each mode in the catalogue


class CountingProtoNet(ProtoNet):
    pretrained = 0

    def pretrain(self, pool):
        CountingProtoNet.pretrained += 1
        super().pretrain(pool)


def test_the_pretraining_pool_is_learned_once_before_the_stream_and_not_again_after_a_resume():
    stream = small_stream()
    saved = MemoryCheckpointer()
    make = lambda: CountingProtoNet(model="mlp", pretrain_steps=20, meta_batch=4, k_support=2, k_query=2, buffer_size=0)
    full = ll.run(make(), stream, seed=0, checkpointer=saved, checkpoint_every=4)
    assert CountingProtoNet.pretrained == 1 and full.timings["pretrain_s"] > 0 and (0, 0) in saved.saved
    saved.resume_at = (0, 0)  # killed before the stream's first batch
    resumed = ll.run(make(), stream, seed=0, checkpointer=saved, checkpoint_every=4)
    assert CountingProtoNet.pretrained == 1 and resumed.metrics == full.metrics
    chance = 1 / 3
    assert full.metrics["online_acc"] > chance + 0.2  # prototypes of the last batch classify the next


def info(batch_size=12):
    return StreamInfo("domain-incremental", (8,), 3, 1, Online(batch_size=batch_size))


def test_cmaml_detects_a_jump_of_the_loss_meta_updates_the_slow_weights_and_resets_the_fast_ones():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(12, 8, generator=g), torch.arange(3).repeat(4)
    learner = CMAML(model="mlp", inner_lr=0.5, inner_steps=3, shift_threshold=0.5, buffer_batches=100)
    learner.setup(info(), seed=0)
    for _ in range(5):  # one task: the fast weights learn it, the loss falls
        learner.learn_batch(x, y)
    assert learner.shifts == 0 and len(learner.buffer) == 5
    slow = {n: p.detach().clone() for n, p in learner.net.named_parameters()}
    learner.learn_batch(x, (y + 1) % 3)  # relabelled: the loss jumps
    assert learner.shifts == 1 and len(learner.buffer) == 1  # the meta-update used the buffer, then emptied it
    assert any(not torch.equal(slow[n], p) for n, p in learner.net.named_parameters())
    quiet = CMAML(model="mlp", inner_lr=0.5, inner_steps=3, shift_threshold=100.0, buffer_batches=100)
    quiet.setup(info(), seed=0)
    for labels in (y, y, y, (y + 1) % 3):
        quiet.learn_batch(x, labels)
    assert quiet.shifts == 0 and len(quiet.buffer) == 4


@pytest.mark.parametrize("name, fields", [("osaka-cmaml", {}), ("osaka-maml", {}), ("osaka-anil", {}),
                                          ("osaka-fine-tuning", {}), ("osaka-agent", {}),
                                          ("osaka-agent", {"predict_steps": 0})])
def test_osaka_learners_pretrain_learn_the_stream_and_resume_inside_it(name, fields):
    stream = small_stream()

    def run(checkpointer):
        return ll.run(ll.load_strategy(name, pretrain_steps=10, meta_batch=2, model="mlp", **fields), stream, seed=1,
                      checkpointer=checkpointer, checkpoint_every=3)

    saved = MemoryCheckpointer()
    full = run(saved)
    inside = sorted(at for at in saved.saved if at[1])
    saved.resume_at = inside[len(inside) // 2]
    resumed = run(saved)
    assert resumed.metrics == full.metrics and resumed.extra == full.extra
    assert {"online_acc", "online_acc_pretrain"} <= set(full.metrics)


def test_the_cli_runs_an_osaka_preset_from_yaml(tmp_path, capsys):
    from lifelong.cli import main

    scenario = tmp_path / "osaka-tiny.yaml"
    scenario.write_text("source: mnist1d-classes\nbuilder: osaka\nn_steps: 30\npretrain_classes: 20\n"
                        "new_classes: 20\nood_classes: 20\nsetting: domain-incremental\n"
                        "online: {batch_size: 25, task_free: true}\n")
    code = main(["run", "--scenario", str(scenario), "--strategy", "osaka-cmaml", "--set", "pretrain_steps=5",
                 "--set", "model=mlp", "--shots", "none", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "online accuracy" in out and "by mode" in out and "pretrained in" in out
    result = ll.RunResult.load(tmp_path / "out" / "result.json")
    assert {"online_acc", "online_acc_pretrain"} <= set(result.metrics) and result.timings["pretrain_s"] > 0


def test_the_agent_empties_its_memory_when_the_loss_jumps_and_keeps_it_otherwise():
    from lifelong.agent import Agent

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(12, 8, generator=g) * 3, torch.arange(3).repeat(4)
    for threshold, shifts in ((0.5, 1), (None, 0)):
        agent = Agent(model="mlp", shift_threshold=threshold, n_way=3, k_support=2, k_query=2)
        agent.setup(info(), seed=0)
        for labels in (y, y, y, (y + 1) % 3):  # the last batch relabels the classes: its loss jumps
            agent.predict(x, TaskInfo())  # the run scores each batch first
            agent.learn_batch(x, labels)
        assert agent.shifts == shifts
        assert len(agent.memory) == (12 if shifts else 48)  # emptied, then given the relabelled batch


def test_held_out_tasks_can_come_from_a_permuted_domain():
    spec = {"builder": "episodes", "n_tasks": 3, "n_way": 3, "train_per_class": 5, "test_per_class": 5,
            "meta_train_classes": 5, "held_out_classes": 6, "n_held_out": 4, "setting": "task-incremental"}
    plain = build_stream(spec, seed=2, data=pool())
    shifted = build_stream({**spec, "held_out_shift": "permute"}, seed=2, data=pool())
    assert all(torch.equal(a.x_train, b.x_train) for a, b in zip(plain, shifted))  # the stream is the same
    order = None
    for a, b in zip(plain.held_out, shifted.held_out):
        assert torch.equal(a.y_test, b.y_test) and not torch.equal(a.x_test, b.x_test)
        if order is None:  # the one permutation: where each position of the first input went
            order = [a.x_test[0, 0].tolist().index(v) for v in b.x_test[0, 0].tolist()]
        assert torch.equal(a.x_train[..., order], b.x_train) and torch.equal(a.x_test[..., order], b.x_test)
    assert "held_out_shift" not in plain.definition and plain.fingerprint != shifted.fingerprint


@pytest.mark.parametrize("fields, field", [({"p_ood": 0.5}, "p_ood"), ({"new_classes": 2}, "new_classes"),
                                           ({"pretrain_classes": 25}, "pretrain_classes")])
def test_a_bad_osaka_definition_is_refused_in_one_line_naming_its_field(fields, field):
    with pytest.raises(ll.ConfigError) as e:
        small_stream(**fields)
    assert e.value.field == field and "\n" not in str(e.value)
