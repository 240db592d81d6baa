"""Each strategy learns, and each one's defining mechanism acts."""
import copy

import pytest
import torch

import lifelong as ll
from lifelong.config import ConfigError, list_presets
from lifelong.evaluation import accuracy
from lifelong.scenarios import TaskInfo

from conftest import fast

# native presets; the avalanche-* ones are covered by test_avalanche_interop.py
PRESETS = [name for name, _ in list_presets("strategies") if not name.startswith("avalanche-")]


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_learns_the_first_task(name, digits_stream):
    strategy = fast(name, epochs=3)
    strategy.setup(digits_stream.info, seed=0)
    task = digits_stream[0]
    strategy.fit_task(task)
    assert accuracy(strategy, task.x_test, task.y_test, digits_stream.task_info(0)) > 0.9


def test_class_incremental_predicts_only_seen_classes(digits_stream):
    strategy = fast("naive")
    strategy.setup(digits_stream.info, seed=0)
    strategy.fit_task(digits_stream[0])
    strategy.fit_task(digits_stream[1])
    seen = set(digits_stream[0].classes) | set(digits_stream[1].classes)
    everything = torch.cat([t.x_test for t in digits_stream])
    assert set(strategy.predict(everything, TaskInfo()).tolist()) <= seen


def test_task_incremental_predicts_within_the_task(digits_ti_stream):
    strategy = fast("naive")
    strategy.setup(digits_ti_stream.info, seed=0)
    strategy.fit_task(digits_ti_stream[0])
    for i, task in enumerate(digits_ti_stream):
        assert set(strategy.predict(task.x_test, digits_ti_stream.task_info(i)).tolist()) <= set(task.classes)


def test_task_incremental_naive_forgets_far_less_than_class_incremental(digits_stream, digits_ti_stream):
    ci = ll.run(fast("naive", epochs=3), digits_stream, seed=0)
    ti = ll.run(fast("naive", epochs=3), digits_ti_stream, seed=0)
    assert ti.metrics["acc"] > ci.metrics["acc"] + 0.3


def test_ewc_penalty_is_zero_before_the_second_task_and_acts_after(digits_stream):
    strategy = fast("ewc", ewc_lambda=1000.0)
    strategy.setup(digits_stream.info, seed=0)
    task = digits_stream[0]
    x, y = task.x_train[:32], task.y_train[:32]
    plain = torch.nn.functional.cross_entropy(strategy.net(x), y)
    assert strategy.training_step(x, y, None).item() == pytest.approx(plain.item())
    strategy.fit_task(task)
    assert strategy.importance and all((f >= 0).all() for f in strategy.importance.values())
    assert sum(f.sum() for f in strategy.importance.values()) > 0
    with torch.no_grad():  # move the weights: the penalty must now add to the loss
        for p in strategy.net.parameters():
            p.add_(0.05)
    plain = torch.nn.functional.cross_entropy(strategy.net(x), y)
    assert strategy.training_step(x, y, None).item() > plain.item() + 1e-3


def test_ewc_merged_penalty_has_the_gradient_of_the_per_task_sum(digits_stream):
    """Separate EWC keeps one (A, θ̄) pair; its gradient must equal that of Σ_k F_k (θ − θ*_k)²."""
    strategy = fast("ewc", ewc_lambda=1.0)
    strategy.setup(digits_stream.info, seed=0)
    pairs = []  # (F_k, θ*_k) as consolidated after each task
    for task in list(digits_stream)[:3]:
        strategy.fit_task(task)
        fisher = strategy.fisher(task)
        pairs.append((fisher, {n: p.detach().clone() for n, p in strategy.net.named_parameters()}))
    strategy.importance, strategy.anchor = {}, {}  # consolidate exactly these pairs again
    for task, (fisher, _) in zip(digits_stream, pairs):
        strategy.fisher = lambda t, f=fisher: f  # noqa: E731
        with torch.no_grad():
            for n, p in strategy.net.named_parameters():
                p.copy_(pairs[task.index][1][n])
        strategy.after_task(task)
    with torch.no_grad():
        for p in strategy.net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x, y = digits_stream[3].x_train[:16], digits_stream[3].y_train[:16]
    params = dict(strategy.net.named_parameters())
    ce = torch.nn.functional.cross_entropy(strategy.net(x), y)
    merged = torch.autograd.grad(strategy.training_step(x, y, None) - ce, list(params.values()))
    reference = 0.5 * sum((f[n] * (params[n] - s[n]) ** 2).sum() for f, s in pairs for n in params)
    expected = torch.autograd.grad(reference, list(params.values()))
    for a, b in zip(merged, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_online_ewc_keeps_one_decayed_anchor_at_the_latest_weights(digits_stream):
    strategy = fast("online-ewc")
    strategy.setup(digits_stream.info, seed=0)
    strategy.fit_task(digits_stream[0])
    first = {n: a.clone() for n, a in strategy.importance.items()}
    strategy.fit_task(digits_stream[1])
    for n, p in strategy.net.named_parameters():
        torch.testing.assert_close(strategy.anchor[n], p.detach())
        assert (strategy.importance[n] >= strategy.decay * first[n] - 1e-7).all()


def test_replay_buffer_respects_its_budget_and_holds_every_task(digits_stream):
    strategy = fast("replay", buffer_size=100)
    strategy.setup(digits_stream.info, seed=0)
    for task in digits_stream:
        strategy.fit_task(task)
        assert len(strategy.memory) <= 100
    assert len(strategy.memory) == 100
    assert strategy.memory.n_seen == sum(t.n_train for t in digits_stream)
    labels = strategy.memory.stored()["y"]
    per_task = [int(torch.isin(labels, torch.tensor(t.classes)).sum()) for t in digits_stream]
    assert all(n >= 8 for n in per_task), per_task  # reservoir: about 20 each, none wiped out
    stored = {tuple(x.flatten().tolist()) for x in strategy.memory.stored()["x"]}
    train = {tuple(x.flatten().tolist()) for t in digits_stream for x in t.x_train}
    assert stored <= train


def test_replay_with_an_empty_buffer_is_naive(digits_stream):
    a = ll.run(fast("replay", buffer_size=0), digits_stream, seed=0)
    b = ll.run(fast("naive"), digits_stream, seed=0)
    assert a.accuracy_matrix == b.accuracy_matrix


def test_replay_reduces_forgetting(digits_stream):
    naive = ll.run(fast("naive", epochs=3), digits_stream, seed=0)
    replay = ll.run(fast("replay", epochs=3), digits_stream, seed=0)
    assert replay.metrics["forgetting"] < naive.metrics["forgetting"] - 0.2


def test_joint_restarts_from_scratch_and_trains_on_everything_seen(digits_stream):
    strategy = fast("joint")
    strategy.setup(digits_stream.info, seed=0)
    strategy.fit_task(digits_stream[0])
    x, y, _ = strategy.training_data(digits_stream[1])
    assert len(y) == digits_stream[0].n_train + digits_stream[1].n_train
    before = [p.detach().clone() for p in strategy.net.parameters()]
    strategy.before_task(digits_stream[2])
    fresh = strategy.new_net(strategy.seed + 7919 * 3)
    for p, q, b in zip(strategy.net.parameters(), fresh.parameters(), before):
        torch.testing.assert_close(p, q)
        assert not torch.equal(p, b)


def test_cumulative_and_joint_remember(digits_stream):
    for name in ("cumulative", "joint"):
        result = ll.run(fast(name, epochs=10), digits_stream, seed=0)
        assert result.metrics["acc"] > 0.85, name


def test_state_dict_round_trip_restores_predictions(digits_stream):
    strategy = fast("replay")
    strategy.setup(digits_stream.info, seed=0)
    strategy.fit_task(digits_stream[0])
    state = strategy.state_dict()
    x = torch.cat([t.x_test for t in digits_stream])
    expected = strategy.predict(x, TaskInfo())
    other = fast("replay")
    other.setup(digits_stream.info, seed=1)
    other.load_state_dict(state)
    assert torch.equal(other.predict(x, TaskInfo()), expected)
    # and training continues identically from the restored state
    strategy.fit_task(digits_stream[1])
    other.fit_task(digits_stream[1])
    assert torch.equal(other.predict(x, TaskInfo()), strategy.predict(x, TaskInfo()))


def test_adapt_fine_tunes_a_copy_and_leaves_the_learner_alone(digits_stream):
    strategy = fast("naive")
    strategy.setup(digits_stream.info, seed=0)
    strategy.fit_task(digits_stream[0])
    weights = copy.deepcopy(strategy.net.state_dict())
    new = digits_stream[1]
    support = torch.cat([torch.nonzero(new.y_train == c)[:5, 0] for c in new.classes])
    before = accuracy(strategy, new.x_test, new.y_test, TaskInfo())
    adapted = strategy.adapt(new.x_train[support], new.y_train[support], TaskInfo())
    after = accuracy(adapted, new.x_test, new.y_test, TaskInfo())
    assert before == 0.0 and after > 0.6
    for k, v in strategy.net.state_dict().items():
        assert torch.equal(v, weights[k])


def test_reservoir_keeps_every_offered_sample_with_equal_chance():
    from lifelong.strategies.memory import ReservoirMemory

    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(1000)
    for _ in range(200):
        memory = ReservoirMemory(50, "cpu")
        for start in range(0, 1000, 32):  # offered in batches, as during training
            ids = torch.arange(start, min(start + 32, 1000))
            memory.add(g, x=ids.float()[:, None], y=ids)
        kept = memory.stored()["y"]
        assert len(kept) == 50 and len(set(kept.tolist())) == 50  # no sample stored twice
        counts[kept] += 1
    # each sample is kept with probability 50/1000: 10 times in 200 trials; early and late alike
    early, late = counts[:500].mean().item(), counts[500:].mean().item()
    assert early == pytest.approx(10, rel=0.1) and late == pytest.approx(10, rel=0.1)


@pytest.mark.parametrize("name, field", [
    ("maml", "batch_size"), ("reptile", "batch_size"),  # the episodic learners take meta_steps, not mini-batches
    ("protonet", "inner_lr"), ("protonet", "adapt_steps"),  # no inner loop, no fine-tuning
    ("mer", "lr"), ("lamaml", "optimizer"), ("lamaml", "momentum"),  # trained by their own rule; adapt_lr is theirs
    ("agent", "meta_steps"),  # the agent counts its steps in mini-batches
])
def test_a_field_the_method_does_not_use_is_refused(name, field):
    with pytest.raises(ConfigError) as error:
        ll.load_strategy(name, **{field: 8})
    message = str(error.value)
    assert "unknown field" in message and field in message and "\n" not in message
    assert field not in ll.load_strategy(name).get_params()


def test_a_preset_naming_a_field_the_method_ignores_is_refused(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("strategy: maml\nbatch_size: 8\n")
    with pytest.raises(ConfigError, match="batch_size: unknown field"):
        ll.load_strategy(str(path))
