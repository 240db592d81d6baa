"""SI, LwF, A-GEM and GEM: each learns, resumes from a checkpoint exactly, and its defining mechanism acts."""
import itertools

import pytest
import torch
import torch.nn.functional as F

import lifelong as ll
from lifelong.evaluation import accuracy
from lifelong.strategies.agem import AGEM, flat_grad

from conftest import fast

NAMES = ["si", "lwf", "agem", "gem"]


@pytest.mark.parametrize("name", NAMES)
def test_learns_the_first_task(name, digits_stream):
    strategy = fast(name, epochs=3)
    strategy.setup(digits_stream.info, seed=0)
    strategy.fit_task(digits_stream[0])
    task = digits_stream[0]
    assert accuracy(strategy, task.x_test, task.y_test, digits_stream.task_info(0)) > 0.9


@pytest.fixture(scope="module")
def naive_forgetting(digits_ti_stream):
    return ll.run(fast("naive", epochs=3, lr=0.01), digits_ti_stream, seed=0).metrics["forgetting"]


@pytest.mark.parametrize("name", NAMES)
def test_forgets_less_than_naive_on_task_incremental_digits(name, naive_forgetting, digits_ti_stream):
    """At the presets' lr (1e-3) naive forgets almost nothing here (0.3% at seed 0, one test image), so
    every strategy is compared at lr 1e-2, where naive forgets 7-17% depending on the seed. Over seeds
    0-4 SI, A-GEM and GEM forget far less at every seed; LwF less on average (7.6% against 12.5%) but
    not at every seed (seed 1: 14.2% against 11.4%)."""
    result = ll.run(fast(name, epochs=3, lr=0.01), digits_ti_stream, seed=0)
    assert result.metrics["forgetting"] < naive_forgetting - 0.05


# --- SI ------------------------------------------------------------------------------------


def test_si_importance_is_zero_before_the_first_task_ends_and_the_penalty_zero_at_the_anchor(digits_stream):
    strategy = fast("si", si_c=10.0)
    strategy.setup(digits_stream.info, seed=0)
    x, y = digits_stream[1].x_train[:32], digits_stream[1].y_train[:32]
    assert not strategy.importance
    assert strategy.training_step(x, y, None).item() == F.cross_entropy(strategy.net(x), y).item()
    strategy.fit_task(digits_stream[0])
    assert all((w >= 0).all() for w in strategy.importance.values())
    assert sum(w.sum() for w in strategy.importance.values()) > 0
    for n, p in strategy.net.named_parameters():  # θ* is where the task ended
        assert torch.equal(strategy.anchor[n], p.detach())
    assert strategy.training_step(x, y, None).item() == pytest.approx(F.cross_entropy(strategy.net(x), y).item())
    with torch.no_grad():
        for p in strategy.net.parameters():
            p.add_(0.05)
    assert strategy.training_step(x, y, None).item() > F.cross_entropy(strategy.net(x), y).item() + 1e-3


def test_si_path_integral_adds_up_to_the_drop_in_the_task_loss(digits_stream):
    """With small full-batch gradient steps, Σ ω = Σ −g·Δθ ≈ L(start) − L(end) of the task loss alone,
    also on the second task, where the loop's gradient includes the penalty's."""
    strategy = fast("si", optimizer="sgd", lr=0.01, batch_size=1000, epochs=30, si_c=30.0, xi=0.01)
    strategy.setup(digits_stream.info, seed=0)
    for task in list(digits_stream)[:2]:
        def task_loss():
            with torch.no_grad():
                return F.cross_entropy(strategy.net(task.x_train), task.y_train).item()
        before = task_loss()
        strategy.fit_task(task)
        drop = before - task_loss()
        assert drop > 0.1
        # on the second task the penalty's own drop is ~7% of this: counting it would fail the check
        assert sum(w.sum().item() for w in strategy.omega.values()) == pytest.approx(drop, rel=0.01)


# --- LwF -----------------------------------------------------------------------------------


def test_lwf_distils_the_old_model_on_the_old_classes(digits_stream):
    strategy = fast("lwf", alpha=0.7, temperature=2.0)
    strategy.setup(digits_stream.info, seed=0)
    first, second = digits_stream[0], digits_stream[1]
    x, y = second.x_train[:32], second.y_train[:32]
    assert strategy.old_net is None  # nothing to distil from on the first task
    assert strategy.training_step(x, y, None).item() == F.cross_entropy(strategy.net(x), y).item()
    strategy.fit_task(first)
    strategy.before_task(second)
    with torch.no_grad():  # the frozen copy stays behind while the network moves
        for p in strategy.net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(0)))
    old_classes = list(first.classes)
    p_old = F.softmax(strategy.old_net(x)[:, old_classes] / 2.0, dim=1)
    log_q = F.log_softmax(strategy.net(x)[:, old_classes] / 2.0, dim=1)
    cross_entropy = -(p_old * log_q).sum(1).mean()
    kl = F.kl_div(log_q, p_old, reduction="batchmean")
    entropy = -(p_old * p_old.log()).sum(1).mean()
    distil = strategy.training_step(x, y, None) - F.cross_entropy(strategy.net(x), y)
    assert distil.item() == pytest.approx(0.7 * cross_entropy.item(), rel=1e-5)
    assert (cross_entropy - entropy).item() == pytest.approx(kl.item(), rel=1e-3) and kl.item() > 1e-3


def test_lwf_gradient_vanishes_where_the_network_still_equals_the_old_one(digits_ti_stream):
    strategy = fast("lwf")
    strategy.setup(digits_ti_stream.info, seed=0)
    for task in list(digits_ti_stream)[:2]:
        strategy.fit_task(task)
    third = digits_ti_stream[2]
    strategy.before_task(third)
    assert torch.equal(strategy.old_heads, strategy.task_masks[:2])  # one head per earlier task
    new = strategy.net(third.x_train[:32])
    distil = strategy.distillation(third.x_train[:32], new)
    assert distil.item() > 0  # the soft targets' entropy
    for g in torch.autograd.grad(distil, list(strategy.net.parameters())):
        assert g.abs().max() < 1e-6


# --- A-GEM ---------------------------------------------------------------------------------


def test_agem_projection_removes_only_the_conflicting_component():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        g, g_ref = torch.randn(50, generator=gen), torch.randn(50, generator=gen)
        projected = AGEM.project(g, g_ref)
        if g @ g_ref >= 0:
            assert torch.equal(projected, g)
        else:
            assert projected @ g_ref >= -1e-5
            torch.testing.assert_close(projected, g - (g @ g_ref) / (g_ref @ g_ref) * g_ref)


def test_agem_step_follows_the_projected_gradient(digits_ti_stream):
    strategy = fast("agem", memory_batch_size=64)
    strategy.setup(digits_ti_stream.info, seed=0)
    strategy.fit_task(digits_ti_stream[0])
    assert set(strategy.memory.stored()["y"].tolist()) <= set(digits_ti_stream[0].classes)  # past tasks only
    task = digits_ti_stream[1]
    strategy.before_task(task)
    params = list(strategy.net.parameters())
    projected_once = False
    for start in range(0, 160, 32):
        x, y = task.x_train[start:start + 32], task.y_train[start:start + 32]
        t = torch.full_like(y, task.task_label)
        state = strategy.generator.get_state()
        loss = strategy.training_step(x, y, t)
        strategy.net.zero_grad(set_to_none=True)
        loss.backward()
        step = torch.cat([p.grad.flatten() for p in params])
        strategy.generator.set_state(state)  # the same memory batch again
        m = strategy.memory.sample(64, strategy.generator)
        g = flat_grad(F.cross_entropy(strategy.logits(x, t), y), params)
        g_ref = flat_grad(F.cross_entropy(strategy.logits(m["x"], m["t"]), m["y"]), params)
        assert loss.item() == pytest.approx(F.cross_entropy(strategy.logits(x, t), y).item())
        if g @ g_ref >= 0:
            torch.testing.assert_close(step, g)
        else:
            projected_once = True
            assert step @ g_ref >= -1e-5 * g_ref.norm() * step.norm()
        with torch.no_grad():  # move on, as the optimizer would
            for p in params:
                p.sub_(0.05 * p.grad)
    assert projected_once


# --- GEM -----------------------------------------------------------------------------------


def closest_feasible(g, G):
    """Brute force: the projection of g onto {z : G z ≥ 0} lies on a face where some subset S of the
    constraints holds with equality; try every S and keep the closest feasible point."""
    best = None
    for r in range(len(G) + 1):
        for S in itertools.combinations(range(len(G)), r):
            z = g.clone()
            if S:
                A = G[list(S)]
                z = g - A.T @ torch.linalg.solve(A @ A.T, A @ g)
            if (G @ z >= -1e-9).all() and (best is None or (z - g).norm() < (best - g).norm()):
                best = z
    return best


def test_gem_projection_is_the_closest_gradient_that_raises_no_past_loss():
    gem = fast("gem", memory_strength=0.0)
    gen = torch.Generator().manual_seed(0)
    checked = 0
    for _ in range(30):
        g, G = torch.randn(6, generator=gen, dtype=torch.float64), torch.randn(3, 6, generator=gen, dtype=torch.float64)
        if (G @ g >= 0).all():
            continue
        projected = gem.project(g, G)
        assert (G @ projected >= -1e-6).all()
        torch.testing.assert_close(projected, closest_feasible(g, G), rtol=1e-6, atol=1e-6)
        checked += 1
    assert checked >= 10
    gem.memory_strength = 0.5  # the margin moves the step further, still within the constraints
    for _ in range(10):
        g, G = torch.randn(6, generator=gen, dtype=torch.float64), torch.randn(3, 6, generator=gen, dtype=torch.float64)
        assert (G @ gem.project(g, G) >= -1e-6).all()


def test_gem_keeps_one_memory_per_task_and_its_steps_respect_every_one(digits_ti_stream):
    strategy = fast("gem", buffer_size=100)
    strategy.setup(digits_ti_stream.info, seed=0)
    for task in list(digits_ti_stream)[:3]:
        strategy.fit_task(task)
    assert [len(m["y"]) for m in strategy.memory] == [20, 20, 20]
    for m, task in zip(strategy.memory, digits_ti_stream):
        assert set(m["y"].tolist()) <= set(task.classes) and (m["t"] == task.task_label).all()
    task = digits_ti_stream[3]
    strategy.before_task(task)
    params = list(strategy.net.parameters())
    projected_once = False
    for start in range(0, 160, 32):
        x, y = task.x_train[start:start + 32], task.y_train[start:start + 32]
        t = torch.full_like(y, task.task_label)
        g = flat_grad(F.cross_entropy(strategy.logits(x, t), y), params)
        loss = strategy.training_step(x, y, t)
        strategy.net.zero_grad(set_to_none=True)
        loss.backward()
        step = torch.cat([p.grad.flatten() for p in params])
        G = torch.stack([flat_grad(F.cross_entropy(strategy.logits(m["x"], m["t"]), m["y"]), params)
                         for m in strategy.memory])
        if (G @ g >= 0).all():
            torch.testing.assert_close(step, g)
        else:
            projected_once = True
            assert (G @ step >= -1e-5 * G.norm(dim=1) * step.norm()).all()
        with torch.no_grad():
            for p in params:
                p.sub_(0.05 * p.grad)
    assert projected_once


def test_gem_max_constraints_bounds_a_steps_memory_gradients_to_the_latest_tasks(digits_ti_stream, monkeypatch):
    strategy = fast("gem", buffer_size=100, max_constraints=2)
    strategy.setup(digits_ti_stream.info, seed=0)
    for task in list(digits_ti_stream)[:3]:
        strategy.fit_task(task)
    assert len(strategy.memory) == 3  # every task keeps its memory; only the latest two constrain
    seen = []
    monkeypatch.setattr(strategy, "project", lambda g, G: seen.append(G) or g)
    task = digits_ti_stream[3]
    strategy.before_task(task)
    x, y = task.x_train[:32], task.y_train[:32]
    t = torch.full_like(y, task.task_label)
    params = list(strategy.net.parameters())
    for _ in range(20):  # until a step conflicts with a memory and is projected
        strategy.training_step(x, y, t).backward()
        with torch.no_grad():
            for p in params:
                p.sub_(0.5 * p.grad)
                p.grad = None
        if seen:
            break
    assert seen and seen[0].shape == (2, sum(p.numel() for p in params))  # tasks 2 and 3's gradients
