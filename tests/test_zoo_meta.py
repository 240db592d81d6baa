"""The meta-learning strategies MER, La-MAML and OML: each learns, resumes exactly, keeps its memory
within budget, and its defining mechanism acts; OML forgets less than Naive on a task-incremental stream."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch.func import grad

import lifelong as ll
from lifelong.evaluation import accuracy

from conftest import fast

NAMES = ["mer", "lamaml", "oml"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """These learners take many small sequential steps (batches of 10 on a small MLP): one thread is
    faster than two, and much faster on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def first_batch(stream, n=10):
    task = stream[0]
    return task, task.x_train[:n], task.y_train[:n]


def weights(net):
    return {n: p.detach().clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("name", NAMES)
def test_learns_the_first_task(name, digits_stream):
    strategy = fast(name, epochs=2)
    strategy.setup(digits_stream.info, seed=0)
    task = digits_stream[0]
    strategy.fit_task(task)
    assert accuracy(strategy, task.x_test, task.y_test, digits_stream.task_info(0)) > 0.85


@pytest.mark.parametrize("name", NAMES)
def test_memory_never_exceeds_its_budget(name, digits_stream):
    strategy = fast(name, buffer_size=50)
    strategy.setup(digits_stream.info, seed=0)
    memory, add = strategy.memory, strategy.memory.add
    sizes = []

    def checked_add(*args, **kwargs):
        add(*args, **kwargs)
        sizes.append(len(memory))
        assert len(memory) <= 50 and all(len(v) == 50 for v in memory.data.values())

    memory.add = checked_add
    for task in digits_stream:
        strategy.fit_task(task)
    assert sizes and max(sizes) == 50
    assert memory.n_seen == sum(t.n_train for t in digits_stream)  # each sample offered once
    state = strategy.state_dict()["memory"]
    assert state["n_stored"] == 50 and len(state["data"]["x"]) == 50


def test_oml_forgets_less_than_naive_on_a_task_incremental_stream(digits_ti_stream):
    """Only OML is held to this. On split-digits-ti Naive forgets 0-2% (0-3 test images per task),
    depending on seed and epochs (1-3): at that floor MER (0.3-4%) is above or below Naive from seed to
    seed, and La-MAML forgets more (up to 10% at 2-3 epochs), so neither ordering is a stable fact."""
    naive = ll.run(fast("naive", epochs=2), digits_ti_stream, seed=0)
    oml = ll.run(fast("oml", epochs=2), digits_ti_stream, seed=0)
    assert oml.metrics["forgetting"] < naive.metrics["forgetting"]
    assert oml.metrics["acc"] > 0.9


# --- MER ------------------------------------------------------------------------------


def sgd_step(net, x, y, lr):
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    opt.zero_grad()
    F.cross_entropy(net(x), y).backward()
    opt.step()


def test_mer_with_unit_rates_and_one_batch_is_sgd_on_that_batch(digits_stream):
    """β = γ = 1, s = 1: both Reptile steps return the inner loop's end point, θ + 1·(θ_k − θ) = θ_k;
    with an empty memory, B_1 is the incoming batch alone, so θ_k is one SGD step on it."""
    strategy = fast("mer", beta=1.0, gamma=1.0, replay_batches=1)
    strategy.setup(digits_stream.info, seed=0)
    task, x, y = first_batch(digits_stream)
    strategy.before_task(task)
    reference = copy.deepcopy(strategy.net)
    strategy.observe(x, y, None)
    sgd_step(reference, x, y, strategy.inner_lr)
    for p, q in zip(strategy.net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_mer_with_unit_rates_replays_the_memory_batches_in_sequence(digits_stream):
    """β = γ = 1, s = 1, k = 3 with a memory: SGD on the incoming batch, then on two memory batches."""
    strategy = fast("mer", beta=1.0, gamma=1.0, replay_batches=1, batch_steps=3)
    strategy.setup(digits_stream.info, seed=0)
    task = digits_stream[0]
    strategy.before_task(task)
    strategy.memory.add(strategy.generator, x=task.x_train[100:200], y=task.y_train[100:200],
                        t=torch.zeros(100, dtype=torch.long))
    x, y = task.x_train[:10], task.y_train[:10]
    g = torch.Generator().manual_seed(0)
    g.set_state(strategy.generator.get_state())
    m = strategy.memory.sample(20, g)  # the draw observe will make
    reference = copy.deepcopy(strategy.net)
    strategy.observe(x, y, None)
    for xb, yb in [(x, y), (m["x"][:10], m["y"][:10]), (m["x"][10:], m["y"][10:])]:
        sgd_step(reference, xb, yb, strategy.inner_lr)
    for p, q in zip(strategy.net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_mer_reptile_rates_compose(digits_stream):
    """With one step per batch (k = 1) and s = 1: θ + γ(θ + β(θ − α g − θ) − θ) = θ − αβγ g, SGD at rate αβγ."""
    strategy = fast("mer", beta=0.5, gamma=0.4, replay_batches=1, batch_steps=1, inner_lr=0.1)
    strategy.setup(digits_stream.info, seed=0)
    task, x, y = first_batch(digits_stream)
    strategy.before_task(task)
    reference = copy.deepcopy(strategy.net)
    strategy.observe(x, y, None)
    sgd_step(reference, x, y, 0.1 * 0.5 * 0.4)
    for p, q in zip(strategy.net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


# --- La-MAML --------------------------------------------------------------------------


def test_lamaml_learns_its_learning_rates(digits_stream):
    strategy = fast("lamaml")
    strategy.setup(digits_stream.info, seed=0)
    strategy.fit_task(digits_stream[0])
    alpha = torch.cat([a.flatten() for a in strategy.alpha.values()])
    assert (alpha - strategy.alpha_init).abs().max() > 1e-3  # learned,
    assert alpha.std() > 1e-4  # one rate per weight, not one shared shift
    # α is state: it survives a state_dict round trip
    other = fast("lamaml")
    other.setup(digits_stream.info, seed=1)
    other.load_state_dict(strategy.state_dict())
    for n, a in strategy.alpha.items():
        assert torch.equal(other.alpha[n], a)


def test_lamaml_moves_weights_by_the_clipped_rates(digits_stream):
    """α ← α − η ∇_α L, then θ ← θ − max(0, α) ∇_θ L: weights whose new rate is ≤ 0 stay put."""
    strategy = fast("lamaml")
    strategy.setup(digits_stream.info, seed=0)
    task, x, y = first_batch(digits_stream)
    strategy.before_task(task)
    strategy.alpha["head.weight"][::2] = -1.0  # even rows: far below zero, still ≤ 0 after one α step
    strategy.alpha["head.bias"][:] = -1.0
    theta, alpha = weights(strategy.net), copy.deepcopy(strategy.alpha)
    g_theta, g_alpha = grad(strategy.meta_loss, argnums=(0, 1))(theta, alpha, (x, y, None), (x, y, None))
    strategy.observe(x, y, None)  # empty memory: the meta-batch is the incoming batch
    after = weights(strategy.net)
    for n in theta:
        new_alpha = alpha[n] - strategy.alpha_lr * g_alpha[n]
        torch.testing.assert_close(strategy.alpha[n], new_alpha)
        torch.testing.assert_close(after[n], theta[n] - new_alpha.clamp(min=0) * g_theta[n])
    frozen = strategy.alpha["head.weight"] <= 0
    assert frozen[::2].all() and torch.equal(after["head.weight"][frozen], theta["head.weight"][frozen])
    assert torch.equal(after["head.bias"], theta["head.bias"])
    assert not torch.equal(after["head.weight"][1::2], theta["head.weight"][1::2])  # the others moved


def test_lamaml_first_order_rate_gradient_is_minus_inner_gradients_times_meta_gradient(digits_stream):
    """First order: θ_k = θ − α Σ_n g_n with the g_n constant, so ∇_α L = −(Σ_n g_n) ∇L(θ_k)."""
    strategy = fast("lamaml", inner_steps=2)
    strategy.setup(digits_stream.info, seed=0)
    task, x, y = first_batch(digits_stream)
    strategy.before_task(task)
    theta, alpha = weights(strategy.net), strategy.alpha
    _, g_alpha = grad(strategy.meta_loss, argnums=(0, 1))(theta, alpha, (x, y, None), (x, y, None))
    g0 = grad(strategy.functional_loss)(theta, x[:5], y[:5], None)
    theta1 = {n: theta[n] - alpha[n] * g0[n] for n in theta}
    g1 = grad(strategy.functional_loss)(theta1, x[5:], y[5:], None)
    theta2 = {n: theta1[n] - alpha[n] * g1[n] for n in theta}
    g_meta = grad(strategy.functional_loss)(theta2, x, y, None)
    for n in theta:
        torch.testing.assert_close(g_alpha[n], -(g0[n] + g1[n]) * g_meta[n], rtol=1e-4, atol=1e-7)
    strategy.second_order = True  # and the second-order gradient is another one
    _, g_alpha2 = grad(strategy.meta_loss, argnums=(0, 1))(theta, alpha, (x, y, None), (x, y, None))
    assert not torch.allclose(g_alpha2["features.1.weight"], g_alpha["features.1.weight"])


# --- OML ------------------------------------------------------------------------------


def test_oml_inner_loop_adapts_only_the_head_and_the_outer_step_trains_the_representation(digits_stream):
    strategy = fast("oml")
    strategy.setup(digits_stream.info, seed=0)
    task, x, y = first_batch(digits_stream)
    strategy.before_task(task)
    before = weights(strategy.net)
    head = strategy.adapt_head(strategy.net.features(x), y, None)
    assert set(head) == {"weight", "bias"}
    assert all(not torch.equal(head[k], before[f"head.{k}"]) for k in head)  # the adapted head moved
    for n, p in strategy.net.named_parameters():  # functional: the network itself did not
        assert torch.equal(p, before[n])
    # the outer loss reaches the representation through the adapted head
    opt = strategy.new_optimizer(strategy.net.parameters())
    opt.zero_grad()
    strategy.training_step(x, y, None).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in strategy.net.features.parameters())
    opt.step()
    after = weights(strategy.net)
    assert all(not torch.equal(after[n], before[n]) for n in before if n.startswith("features."))


def test_oml_outer_gradient_flows_through_the_inner_loop(digits_stream):
    """The meta-gradient on the head's initialisation W is not the plain gradient at W_k: it carries
    the inner loop's Jacobian (second order through the head's updates)."""
    strategy = fast("oml")
    strategy.setup(digits_stream.info, seed=0)
    task, x, y = first_batch(digits_stream)
    strategy.before_task(task)
    meta = torch.autograd.grad(strategy.training_step(x, y, None), strategy.net.head.weight)[0]
    h = strategy.net.features(x).detach()
    adapted = {k: v.detach().requires_grad_() for k, v in strategy.adapt_head(h, y, None).items()}
    plain = torch.autograd.grad(strategy.head_loss(adapted, h, y, None), adapted["weight"])[0]
    assert not torch.allclose(meta, plain, rtol=1e-3, atol=1e-6)
