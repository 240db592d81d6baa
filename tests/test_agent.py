"""The lifelong agent and its prototype memory: prototypes are class means of a bounded, class-balanced
exemplar memory; prediction is the nearest prototype within the setting's classes; few-shot adaptation
works on a copy; the agent beats fine-tuning on a class-incremental stream and resumes exactly."""
import copy

import pytest
import torch
from torch.func import functional_call

import lifelong as ll
from lifelong.experiment.checkpoint import MemoryCheckpointer
from lifelong.agent import Agent
from lifelong.config import ConfigError, list_presets
from lifelong.evaluation import accuracy
from lifelong.evaluation.fewshot import support_set
from lifelong.meta.episodes import classification_episodes
from lifelong.meta.prototypes import class_means, prototypical_loss
from lifelong.strategies.episodic import feature_params
from lifelong.strategies.memory import PrototypeMemory
from lifelong.scenarios import TaskInfo
from lifelong.scenarios.stream import StreamInfo
from lifelong.strategies import strategy_class, strategy_names

from conftest import fast


@pytest.fixture(scope="module")
def trained(digits_stream):
    """The agent after the first two tasks of split-digits (class-incremental)."""
    agent = fast("agent", epochs=2)
    agent.setup(digits_stream.info, seed=0)
    agent.fit_task(digits_stream[0])
    agent.fit_task(digits_stream[1])
    return agent


def test_agent_is_a_strategy_preset():
    assert "agent" in strategy_names() and strategy_class("agent") is Agent
    assert "agent" in dict(list_presets("strategies"))
    agent = ll.load_strategy("agent")
    assert isinstance(agent, Agent) and agent.get_params()["buffer_size"] == 200
    with pytest.raises(ConfigError, match="buffer_size"):
        ll.load_strategy("agent", buffer_size=-1)


# --- the prototype memory -------------------------------------------------------------------


def test_prototype_is_the_mean_of_the_stored_embeddings():
    memory = PrototypeMemory(12, n_classes=4, device="cpu")
    x = torch.arange(40, dtype=torch.float32).reshape(20, 2)
    y = torch.tensor([0, 1, 2] * 6 + [0, 0])
    memory.add(torch.Generator().manual_seed(0), x=x, y=y)
    embed = lambda v: 2 * v + 1  # noqa: E731
    memory.refresh(embed)
    for c in range(3):
        stored = memory.x[memory.y == c]
        assert memory.counts[c] == len(stored) == 4
        torch.testing.assert_close(memory.prototypes[c], embed(stored).mean(0))
    assert memory.counts[3] == 0  # no exemplar: no prototype


def test_class_means_match_a_hand_computed_example():
    emb = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
    means, counts = class_means(emb, torch.tensor([1, 1, 2]), n_classes=3)
    torch.testing.assert_close(means, torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 4.0]]))
    assert counts.tolist() == [0, 2, 1]


def test_memory_respects_its_budget_and_is_class_balanced(digits_stream):
    memory, g = PrototypeMemory(50, 10, "cpu"), torch.Generator().manual_seed(0)
    for i, task in enumerate(digits_stream):
        memory.add(g, x=task.x_train, y=task.y_train)
        per_class = torch.bincount(memory.y, minlength=10)[: 2 * (i + 1)]
        assert len(memory) <= 50 and int(per_class.max() - per_class.min()) <= 1
        # every exemplar is a training sample of its class
        for c in memory.y.unique().tolist():
            pool = torch.cat([t.x_train[t.y_train == c] for t in digits_stream]).flatten(1)
            assert all((pool == e).all(1).any() for e in memory.x[memory.y == c].flatten(1))
    assert len(memory) == 50 and per_class.tolist() == [5] * 10


def test_a_class_seen_again_keeps_a_uniform_draw_of_all_its_samples():
    """Domain-incremental: the same classes come back; each keeps its quota, drawn from every task."""
    memory, g = PrototypeMemory(40, 2, "cpu"), torch.Generator().manual_seed(0)
    for task in range(4):
        x = torch.full((100, 1), float(task))
        memory.add(g, x=x, y=torch.arange(100) % 2)
    assert len(memory) == 40 and torch.bincount(memory.y).tolist() == [20, 20]
    from_task = torch.bincount(memory.x.flatten().long(), minlength=4)
    assert from_task[3] == 10  # the last task holds a quarter of every class's share, in expectation all do
    assert all(5 <= n <= 15 for n in from_task.tolist())


def test_nearest_prototype_prediction_within_the_allowed_classes():
    memory = PrototypeMemory(3, 3, "cpu")
    memory.set_class_means(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]), torch.tensor([0, 1, 2]))
    emb = torch.tensor([[1.0, 1.0], [9.0, 2.0], [4.0, 6.0]])
    assert memory.nearest(emb).tolist() == [0, 1, 2]
    assert memory.nearest(emb, allowed=torch.tensor([False, True, True])).tolist() == [1, 1, 2]
    cosine = PrototypeMemory(3, 3, "cpu", metric="cosine")
    cosine.set_class_means(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
    assert cosine.nearest(torch.tensor([[100.0, 1.0], [0.1, 0.2]])).tolist() == [0, 1]  # direction, not length


def test_prototypical_loss_is_the_cross_entropy_of_negative_squared_distances():
    es, ys = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]]), torch.tensor([4, 4, 1])
    eq, yq = torch.tensor([[1.0, 1.0]]), torch.tensor([1])
    # prototypes: class 4 at (1, 0), class 1 at (0, 3); squared distances 1 and 5
    expected = -torch.log_softmax(torch.tensor([-5.0, -1.0]), 0)[0]
    torch.testing.assert_close(prototypical_loss(es, ys, eq, yq, n_classes=6), expected)


# --- the agent ------------------------------------------------------------------------------


def test_agent_predicts_the_nearest_exemplar_mean(trained, digits_stream):
    x = torch.cat([digits_stream[0].x_test, digits_stream[1].x_test])
    with torch.no_grad():
        emb = trained.net.features(x)
        means = torch.stack([trained.net.features(trained.memory.x[trained.memory.y == c]).mean(0) for c in range(4)])
    expected = torch.cdist(emb, means).argmin(1)
    assert torch.equal(trained.predict(x, TaskInfo()), expected)
    assert trained.memory.counts[:4].tolist() == [50] * 4 and len(trained.memory) == 200


def test_predictions_stay_within_the_seen_or_the_task_classes(trained, digits_stream, digits_ti_stream):
    everything = torch.cat([t.x_test for t in digits_stream])
    assert set(trained.predict(everything, TaskInfo()).tolist()) <= {0, 1, 2, 3}
    agent = fast("agent")
    agent.setup(digits_ti_stream.info, seed=0)
    for task in list(digits_ti_stream)[:3]:
        agent.fit_task(task)
    for i, task in enumerate(digits_ti_stream):
        if i < 3:
            assert set(agent.predict(everything, digits_ti_stream.task_info(i)).tolist()) <= set(task.classes)


def test_adapt_makes_new_classes_predictable_and_leaves_the_learner_unchanged(trained, digits_stream):
    new = digits_stream[2]  # classes never trained on
    x, y = support_set(new, 5, torch.Generator().manual_seed(0), regression=False)
    before = trained.state_dict()
    predictions = trained.predict(new.x_test, TaskInfo())
    adapted = trained.adapt(x, y, TaskInfo())
    assert adapted is not trained
    assert accuracy(trained, new.x_test, new.y_test, TaskInfo()) == 0.0
    assert accuracy(adapted, new.x_test, new.y_test, TaskInfo()) > 0.45  # among 6 classes: 4 seen, 2 new
    assert accuracy(adapted, new.x_test, new.y_test, TaskInfo(2, new.classes)) > 0.7  # between the 2 new ones
    assert set(trained.predict(new.x_test, TaskInfo()).tolist()) <= {0, 1, 2, 3}
    assert torch.equal(trained.predict(new.x_test, TaskInfo()), predictions)
    after = trained.state_dict()
    assert all(torch.equal(before["net"][k], after["net"][k]) for k in before["net"])
    assert all(torch.equal(before["memory"][k], after["memory"][k]) for k in ("x", "y", "prototypes"))


def test_adapt_takes_inner_steps_from_the_meta_learned_initialisation(trained, digits_stream):
    """One step (the preset's adapt_steps) of SGD at inner_lr on the support's prototypical loss, from θ."""
    x, y = support_set(digits_stream[2], 5, torch.Generator().manual_seed(0), regression=False)
    adapted = trained.adapt(x, y, TaskInfo())
    theta = dict(trained.net.features.named_parameters())
    emb = trained.net.features(x)
    grads = torch.autograd.grad(prototypical_loss(emb, y, emb, y, 10), list(theta.values()))
    assert trained.adapt_steps == 1 and trained.adapt_lr is None
    for (name, p), g in zip(theta.items(), grads):
        torch.testing.assert_close(dict(adapted.net.features.named_parameters())[name], p - trained.inner_lr * g)


def one_step_on_the_exemplars(agent, rate):
    """θ' = θ − rate ⊙ ∇ L_proto(exemplars; exemplars), computed here by hand, and a function that gives
    an input's predictions by the nearest exemplar prototype under f_θ'."""
    mx, my = agent.memory.x, agent.memory.y
    theta = dict(agent.net.features.named_parameters())
    emb = agent.net.features(mx)
    grads = torch.autograd.grad(prototypical_loss(emb, my, emb, my, 10), list(theta.values()))
    rates = rate if isinstance(rate, dict) else dict.fromkeys(theta, rate)
    fast = {n: (p - rates[n] * g).detach() for (n, p), g in zip(theta.items(), grads)}

    @torch.no_grad()
    def predictions(x):
        means, counts = class_means(functional_call(agent.net.features, fast, (mx,)), my, 10)
        known = torch.nonzero(counts > 0).flatten()
        return known[torch.cdist(functional_call(agent.net.features, fast, (x,)), means[known]).argmin(1)]
    return fast, predictions


def test_with_predict_steps_predictions_use_theta_adapted_to_the_exemplars_and_leave_theta_alone(trained, digits_stream):
    """predict_steps: 1: θ' = θ − α ∇ L_proto(exemplars; exemplars), then the nearest prototype under f_θ'."""
    agent = copy.deepcopy(trained)
    agent.predict_steps, agent.stale = 1, True
    x = torch.cat([digits_stream[0].x_test, digits_stream[1].x_test])
    before = {n: p.detach().clone() for n, p in agent.net.features.named_parameters()}
    fast, expected = one_step_on_the_exemplars(agent, agent.inner_lr)
    assert torch.equal(agent.predict(x, TaskInfo()), expected(x))
    assert all(torch.equal(before[n], p) for n, p in agent.net.features.named_parameters())  # θ is not trained
    assert any(not torch.allclose(fast[n], before[n]) for n in fast)


def test_learned_inner_rates_are_meta_learned_used_before_predicting_and_resumed():
    """learn_inner_lr (Meta-SGD's rates): α, one per entry of the embedding's parameters, moves from
    inner_lr in the outer loop; θ' = θ − α ⊙ ∇ L_proto(exemplars) before predicting; a resumed run
    restores α and gives the uninterrupted numbers."""
    stream = ll.load_scenario("split-digits", seed=0, n_tasks=2)
    full = ll.run(fast("agent", learn_inner_lr=True, predict_steps=1), stream, seed=2)
    checkpoints = MemoryCheckpointer()
    ll.run(fast("agent", learn_inner_lr=True, predict_steps=1), stream, seed=2, checkpointer=checkpoints)
    checkpoints.resume_after = 0
    resumed = ll.run(agent := fast("agent", learn_inner_lr=True, predict_steps=1), stream, seed=2,
                     checkpointer=checkpoints)
    assert resumed.accuracy_matrix == full.accuracy_matrix and resumed.metrics == full.metrics

    alpha = torch.cat([a.detach().flatten() for a in agent.alpha.values()])
    assert (alpha - agent.inner_lr).abs().max() > 1e-4 and alpha.std() > 1e-6
    _, expected = one_step_on_the_exemplars(agent, agent.alpha)
    x, agent.stale = stream[1].x_test, True
    assert torch.equal(agent.predict(x, TaskInfo()), expected(x))


def test_the_meta_loss_over_vmapped_episodes_equals_a_loop_over_episodes(trained, digits_stream):
    """The inner loop is vmapped over the episode batch: same loss as one episode at a time, each
    adapted by the one-task inner loop."""
    task = digits_stream[3]  # classes not learned yet: the losses are far from zero
    episodes = classification_episodes(task.x_train, task.y_train, 3, 2, 3, 2, torch.Generator().manual_seed(1))
    params = {n: p.detach() for n, p in trained.net.named_parameters()}
    features = feature_params(params)
    losses = []
    for b in range(3):
        xs, ys, xq, yq = (e[b] for e in episodes)
        fast = trained.inner_loop(features, xs, ys, trained.inner_steps, trained.inner_lr)
        losses.append(trained.query_loss(fast, xs, ys, xq, yq))
    torch.testing.assert_close(trained.outer_loss(params, episodes), torch.stack(losses).mean())
    # and the inner step moved the parameters: the query loss differs from that at θ
    assert not torch.isclose(trained.query_loss(features, *(e[0] for e in episodes)), losses[0])


def test_agent_forgets_far_less_than_fine_tuning(digits_stream):
    naive = ll.run(fast("naive", epochs=2), digits_stream, seed=0)
    agent = ll.run(fast("agent", epochs=2), digits_stream, seed=0)
    assert agent.metrics["acc"] > naive.metrics["acc"] + 0.5
    assert agent.metrics["forgetting"] < naive.metrics["forgetting"] - 0.5


def test_resuming_from_a_checkpoint_gives_the_uninterrupted_numbers():
    stream = ll.load_scenario("split-digits", seed=0, n_tasks=3)
    full = ll.run(fast("agent"), stream, seed=2)
    checkpoints = MemoryCheckpointer()
    ll.run(fast("agent"), stream, seed=2, checkpointer=checkpoints)
    checkpoints.resume_after = 0
    torch.manual_seed(999)
    resumed = ll.run(fast("agent"), stream, seed=2, checkpointer=checkpoints)
    assert resumed.accuracy_matrix == full.accuracy_matrix and resumed.metrics == full.metrics


def test_a_regression_stream_is_refused_in_one_line():
    with pytest.raises(ConfigError) as e:
        fast("agent").setup(StreamInfo("regression", (1,), 1, 2), seed=0)
    assert "classification" in str(e.value) and "\n" not in str(e.value)
