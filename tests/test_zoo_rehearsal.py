"""The rehearsal strategies (DER, DER++, ER-ACE, iCaRL, GDumb): each learns, resumes exactly, keeps
to its memory budget, beats fine-tuning, and its defining mechanism acts."""
import copy
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

import lifelong as ll
from lifelong.config import ConfigError
from lifelong.scenarios import TaskInfo
from lifelong.scenarios.stream import StreamInfo
from lifelong.strategies.icarl import herding
from lifelong.strategies.memory import ReservoirMemory

from conftest import fast

NAMES = ["der", "derpp", "er-ace", "icarl", "gdumb"]


@pytest.fixture(autouse=True)
def _one_thread():
    """These networks are tiny: a second thread only adds synchronisation, which is very slow when
    the cores are shared with other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def stored_labels(strategy) -> torch.Tensor:
    """The labels of every sample a strategy holds in memory."""
    if hasattr(strategy, "exemplars"):
        return strategy.exemplars["y"]
    return strategy.memory.stored()["y"]


@pytest.mark.parametrize("name", NAMES)
def test_never_stores_more_than_its_buffer(name, digits_stream):
    strategy = fast(name, buffer_size=30)
    strategy.setup(digits_stream.info, seed=0)
    step = strategy.training_step

    def checked_step(x, y, t):  # also during training, after every mini-batch
        loss = step(x, y, t)
        assert len(stored_labels(strategy)) <= 30
        return loss

    strategy.training_step = checked_step
    for task in digits_stream:
        strategy.fit_task(task)
        assert 0 < len(stored_labels(strategy)) <= 30
    if isinstance(getattr(strategy, "memory", None), ReservoirMemory):
        assert all(len(v) == 30 for v in strategy.memory.data.values())  # nothing allocated beyond it


@pytest.mark.parametrize("name", NAMES)
def test_task_incremental_predicts_within_the_task(name, digits_ti_stream):
    result = ll.run(fast(name), digits_ti_stream, seed=0)
    assert result.metrics["acc"] > 0.8
    strategy = fast(name)
    strategy.setup(digits_ti_stream.info, seed=0)
    strategy.fit_task(digits_ti_stream[0])
    for i, task in enumerate(digits_ti_stream):
        assert set(strategy.predict(task.x_test, digits_ti_stream.task_info(i)).tolist()) <= set(task.classes)


def test_every_rehearsal_method_remembers_far_better_than_fine_tuning(digits_stream):
    naive = ll.run(fast("naive", epochs=3), digits_stream, seed=0).metrics["acc"]
    acc = {name: ll.run(fast(name, epochs=3, buffer_size=200), digits_stream, seed=0).metrics["acc"] for name in NAMES}
    assert all(a > naive + 0.3 for a in acc.values()), (naive, acc)


# --- DER / DER++ ------------------------------------------------------------------------


def test_der_stores_the_logits_of_the_moment_and_its_penalty_is_zero_if_the_net_is_unchanged(digits_stream):
    strategy = fast("der")
    strategy.setup(digits_stream.info, seed=0)
    task = digits_stream[0]
    strategy.before_task(task)
    x, y = task.x_train[:32], task.y_train[:32]
    outputs = strategy.net(x).detach()
    loss = strategy.training_step(x, y, None)
    assert loss.item() == pytest.approx(F.cross_entropy(outputs, y).item(), abs=1e-6)  # empty memory: plain CE
    stored = strategy.memory.stored()
    assert torch.equal(stored["x"], x) and torch.equal(stored["y"], y)
    torch.testing.assert_close(stored["logits"], outputs)
    x2, y2 = task.x_train[32:64], task.y_train[32:64]
    plain = F.cross_entropy(strategy.net(x2), y2).item()
    assert strategy.training_step(x2, y2, None).item() == pytest.approx(plain, abs=1e-5)  # same net: MSE is 0
    with torch.no_grad():  # move the network: the stored logits now pull it back
        for p in strategy.net.parameters():
            p.add_(0.05)
    x3, y3 = task.x_train[64:96], task.y_train[64:96]
    plain = F.cross_entropy(strategy.net(x3), y3).item()
    assert strategy.training_step(x3, y3, None).item() > plain + 1e-3


def test_derpp_adds_a_cross_entropy_on_a_second_memory_batch(digits_stream):
    strategy = fast("derpp")
    strategy.setup(digits_stream.info, seed=0)
    task = digits_stream[0]
    strategy.before_task(task)
    strategy.training_step(task.x_train[:64], task.y_train[:64], None)  # fills the memory
    x, y = task.x_train[64:96], task.y_train[64:96]
    with_ce, without = copy.deepcopy(strategy), copy.deepcopy(strategy)
    without.beta = 0.0
    difference = with_ce.training_step(x, y, None) - without.training_step(x, y, None)
    replay = copy.deepcopy(strategy)  # the same draws: DER's batch, then the labelled one
    replay.memory.sample(len(y), replay.generator)
    m = replay.memory.sample(len(y), replay.generator)
    expected = strategy.beta * F.cross_entropy(strategy.net(m["x"]), m["y"])
    assert expected.item() > 0.1
    assert difference.item() == pytest.approx(expected.item(), rel=1e-4)


# --- ER-ACE ------------------------------------------------------------------------------


def test_er_ace_incoming_loss_leaves_absent_classes_alone(digits_stream):
    strategy = fast("er-ace")
    strategy.setup(digits_stream.info, seed=0)
    task = digits_stream[0]
    strategy.before_task(task)
    x, y = task.x_train[:32], task.y_train[:32]
    head = strategy.net.head
    weight, bias = torch.autograd.grad(strategy.training_step(x, y, None), [head.weight, head.bias])
    absent = [c for c in range(10) if c not in y.tolist()]
    assert len(absent) == 8 and weight[absent].abs().max() == 0 and bias[absent].abs().max() == 0
    assert weight[task.classes[0]].abs().max() > 0
    naive_weight, = torch.autograd.grad(F.cross_entropy(strategy.net(x), y), [head.weight])
    assert naive_weight[absent].abs().max() > 0  # a plain cross-entropy would push them down

    # with a memory of the first task, its classes get gradient through the memory loss only,
    # and classes not seen yet get none at all
    strategy.fit_task(task)
    second = digits_stream[1]
    strategy.before_task(second)
    x, y = second.x_train[:32], second.y_train[:32]
    weight, = torch.autograd.grad(strategy.training_step(x, y, None), [head.weight])
    unseen = [c for c in range(10) if not strategy.seen[c]]
    assert weight[list(task.classes)].abs().max() > 0 and weight[unseen].abs().max() == 0


# --- iCaRL -------------------------------------------------------------------------------


def test_herding_brings_the_exemplar_mean_to_the_class_mean(digits_stream):
    task = digits_stream[0]
    features = F.normalize(task.x_train[task.y_train == task.classes[0]].flatten(1), dim=1)
    mean = features.mean(0)
    order = herding(features, 32)
    assert len(set(order.tolist())) == 32
    sizes = [1, 2, 4, 8, 16, 32]
    gap = [(features[order[:k]].mean(0) - mean).norm().item() for k in sizes]
    assert all(a > b for a, b in zip(gap, gap[1:])), gap
    g = torch.Generator().manual_seed(0)
    for k, herded in zip(sizes, gap):
        random = [(features[torch.randperm(len(features), generator=g)[:k]].mean(0) - mean).norm().item()
                  for _ in range(50)]
        assert herded < min(random), (k, herded, min(random))


def test_icarl_memory_is_balanced_shrinks_by_prefix_and_fits_its_budget(digits_stream):
    strategy = fast("icarl")
    strategy.setup(digits_stream.info, seed=0)
    before = {}
    for k, task in enumerate(digits_stream):
        strategy.fit_task(task)
        labels = strategy.exemplars["y"]
        per_class = 200 // (2 * (k + 1))
        assert Counter(labels.tolist()) == {c: per_class for c in range(10) if strategy.seen[c]}
        for c, xs in before.items():  # an old class keeps the first of its herded exemplars
            assert torch.equal(strategy.exemplars["x"][labels == c], xs[:per_class])
        before = {c: strategy.exemplars["x"][labels == c] for c in labels.unique().tolist()}


def test_icarl_predicts_the_nearest_mean_of_exemplars(digits_stream, digits_ti_stream):
    strategy = fast("icarl", epochs=3)
    strategy.setup(digits_stream.info, seed=0)
    for task in list(digits_stream)[:2]:
        strategy.fit_task(task)
    with torch.no_grad():
        ex = strategy.exemplars
        features = F.normalize(strategy.net.features(ex["x"]), dim=1)
        seen = sorted(ex["y"].unique().tolist())
        means = torch.stack([F.normalize(features[ex["y"] == c].mean(0), dim=0) for c in seen])
        x = torch.cat([t.x_test for t in digits_stream])
        nearest = torch.cdist(F.normalize(strategy.net.features(x), dim=1), means).argmin(1)
    expected = torch.tensor(seen)[nearest]
    predicted = strategy.predict(x, TaskInfo())
    assert torch.equal(predicted, expected)
    assert not torch.equal(predicted, strategy.net(x).masked_fill(~strategy.seen, float("-inf")).argmax(1))


def test_icarl_refuses_domain_incremental_streams():
    info = StreamInfo(setting="domain-incremental", input_shape=(4,), n_classes=2, n_tasks=2)
    with pytest.raises(ConfigError) as error:
        fast("icarl").setup(info, seed=0)
    assert error.value.field == "setting"


# --- GDumb -------------------------------------------------------------------------------


def test_gdumb_memory_is_class_balanced(digits_stream):
    strategy = fast("gdumb", buffer_size=50)
    strategy.setup(digits_stream.info, seed=0)
    for task in digits_stream:
        strategy.fit_task(task)
        counts = Counter(strategy.memory.stored()["y"].tolist())
        assert set(counts) == {c for c in range(10) if strategy.seen[c]}
        assert sum(counts.values()) == 50 and max(counts.values()) - min(counts.values()) <= 1, counts


def test_gdumb_network_depends_only_on_its_memory_and_seed(digits_stream):
    a = fast("gdumb")
    a.setup(digits_stream.info, seed=0)
    a.fit_task(digits_stream[0])
    a.fit_task(digits_stream[1])
    b = fast("gdumb")  # same seed, but another history: trained on other tasks, generator elsewhere
    b.setup(digits_stream.info, seed=0)
    b.fit_task(digits_stream[3])
    torch.rand(5, generator=b.generator)
    b.memory, b.seen = copy.deepcopy(a.memory), a.seen.clone()
    b.memory.add = lambda generator, **batch: None  # hand it a's memory as it stood, sampling nothing more
    b.fit_task(digits_stream[1])
    x = torch.cat([t.x_test for t in digits_stream])
    assert torch.equal(b.predict(x, TaskInfo()), a.predict(x, TaskInfo()))
    for p, q in zip(a.net.parameters(), b.net.parameters()):
        assert torch.equal(p, q)
