"""The functional meta-learning core (lifelong.meta): vmapped meta-gradients equal a per-task
autograd loop, and MAML really learns on the sinusoid family."""
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lifelong.meta import SinusoidFamily, adapt, adapt_tasks, meta_loss, reptile_direction
from lifelong.models import channels_last, cnn

STEPS, LR, N_TASKS = 5, 0.01, 25


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))


@pytest.fixture(scope="module")
def setup():
    net = mlp()
    params = dict(net.named_parameters())
    tasks = SinusoidFamily().sample(N_TASKS, 10, 10, torch.Generator().manual_seed(1))
    return net, params, tasks


def loop_meta_grad(net, params, tasks, wrt, *, first_order=False, rates=None, only=None):
    """The textbook per-task loop: autograd.grad(create_graph=True) step by step, one task at a time."""
    total = 0.0
    for xs, ys, xq, yq in zip(*tasks):
        fast = dict(params)
        names = list(fast) if only is None else list(only)
        for _ in range(STEPS):
            loss = F.mse_loss(torch.func.functional_call(net, fast, (xs,)), ys)
            gs = torch.autograd.grad(loss, [fast[n] for n in names], create_graph=not first_order)
            for n, g in zip(names, gs):
                fast[n] = fast[n] - (rates[n] if rates is not None else LR) * g
        total = total + F.mse_loss(torch.func.functional_call(net, fast, (xq,)), yq)
    return torch.autograd.grad(total / len(tasks[0]), wrt)


def assert_close(got, want, atol=1e-5):
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=atol, rtol=0)


def test_sinusoid_family_is_deterministic_and_in_range():
    fam = SinusoidFamily()
    a = fam.sample(7, 5, 3, torch.Generator().manual_seed(3))
    b = fam.sample(7, 5, 3, torch.Generator().manual_seed(3))
    assert [t.shape for t in a] == [(7, 5, 1), (7, 5, 1), (7, 3, 1), (7, 3, 1)]
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    xs, ys, xq, yq = a
    assert xs.abs().max() <= 5 and xq.abs().max() <= 5 and ys.abs().max() <= 5


def test_maml_second_order_matches_per_task_loop(setup):
    net, params, tasks = setup
    got = torch.autograd.grad(meta_loss(net, params, tasks, F.mse_loss, method="maml", steps=STEPS, lr=LR),
                              list(params.values()))
    assert_close(got, loop_meta_grad(net, params, tasks, list(params.values())))


def test_fomaml_matches_loop_differs_from_maml_and_is_query_grad_at_adapted(setup):
    net, params, tasks = setup
    wrt = list(params.values())
    fo = torch.autograd.grad(meta_loss(net, params, tasks, F.mse_loss, method="fomaml", steps=STEPS, lr=LR), wrt)
    assert_close(fo, loop_meta_grad(net, params, tasks, wrt, first_order=True))
    so = torch.autograd.grad(meta_loss(net, params, tasks, F.mse_loss, method="maml", steps=STEPS, lr=LR), wrt)
    assert max((a - b).abs().max().item() for a, b in zip(fo, so)) > 1e-3
    # FOMAML = mean over tasks of ∇ L_query evaluated at the (constant) adapted parameters.
    want = [torch.zeros_like(p) for p in wrt]
    for xs, ys, xq, yq in zip(*tasks):
        adapted = {n: p.detach().requires_grad_() for n, p in
                   adapt(net, params, xs, ys, F.mse_loss, steps=STEPS, lr=LR).items()}
        q = F.mse_loss(torch.func.functional_call(net, adapted, (xq,)), yq)
        for w, g in zip(want, torch.autograd.grad(q, list(adapted.values()))):
            w += g / N_TASKS
    assert_close(fo, want)


def test_metasgd_matches_loop_for_params_and_rates(setup):
    net, params, tasks = setup
    gen = torch.Generator().manual_seed(2)
    rates = {n: (0.005 + 0.01 * torch.rand(p.shape, generator=gen)).requires_grad_() for n, p in params.items()}
    wrt = list(params.values()) + list(rates.values())
    got = torch.autograd.grad(meta_loss(net, params, tasks, F.mse_loss, method="metasgd", steps=STEPS,
                                        per_param_lr=rates), wrt)
    assert_close(got, loop_meta_grad(net, params, tasks, wrt, rates=rates))
    assert all(g.abs().sum() > 0 for g in got[len(params):])  # the rates are meta-learned


def test_anil_matches_loop_adapting_the_head_only(setup):
    net, params, tasks = setup
    wrt = list(params.values())
    got = torch.autograd.grad(meta_loss(net, params, tasks, F.mse_loss, method="anil", steps=STEPS, lr=LR), wrt)
    assert_close(got, loop_meta_grad(net, params, tasks, wrt, only=["4.weight", "4.bias"]))
    adapted = adapt(net, params, tasks[0][0], tasks[1][0], F.mse_loss, steps=STEPS, lr=LR, only=["4.weight", "4.bias"])
    assert adapted["0.weight"] is params["0.weight"] and not torch.equal(adapted["4.weight"], params["4.weight"])


def test_reptile_direction_matches_per_task_loop(setup):
    net, params, tasks = setup
    got = reptile_direction(net, params, tasks, F.mse_loss, steps=STEPS, lr=LR)
    want = {n: torch.zeros_like(p) for n, p in params.items()}
    with torch.no_grad():
        start = {n: p.clone() for n, p in params.items()}
    for xs, ys, xq, yq in zip(*tasks):
        copy = mlp()
        copy.load_state_dict(start)
        opt = torch.optim.SGD(copy.parameters(), lr=LR)
        x, y = torch.cat([xs, xq]), torch.cat([ys, yq])
        for _ in range(STEPS):
            opt.zero_grad()
            F.mse_loss(copy(x), y).backward()
            opt.step()
        for n, p in copy.named_parameters():
            want[n] += (p.detach() - start[n]) / N_TASKS
    assert_close(list(got.values()), list(want.values()))
    assert not any(d.requires_grad for d in got.values())


def test_maml_meta_training_learns_the_sinusoid_family():
    """Finn et al. 2017 sinusoid setting, shortened: after 300 meta-steps the 5-shot MSE after
    adaptation on held-out tasks is far below the MSE of the meta-learned initialization itself."""
    torch.manual_seed(0)
    net, fam, gen = mlp(), SinusoidFamily(), torch.Generator().manual_seed(0)
    params = dict(net.named_parameters())
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    start = time.perf_counter()
    for _ in range(300):
        opt.zero_grad()
        meta_loss(net, params, fam.sample(25, 5, 10, gen), F.mse_loss, method="maml", steps=1, lr=0.01).backward()
        opt.step()
    elapsed = time.perf_counter() - start

    xs, ys, xq, yq = fam.sample(200, 5, 50, torch.Generator().manual_seed(123))
    with torch.no_grad():
        pre = F.mse_loss(net(xq), yq).item()
    post = torch.stack([F.mse_loss(torch.func.functional_call(net, adapt(net, params, s, t, F.mse_loss, steps=10, lr=0.01),
                                                              (q,)), r).detach()
                        for s, t, q, r in zip(xs, ys, xq, yq)]).mean().item()
    assert post < 0.5 * pre, (pre, post, elapsed)
    assert post < 1.5, (pre, post, elapsed)  # ~0.95 over seeds 0-2; pre-adaptation ~3.4


def test_a_batch_of_one_task_takes_the_plain_call_with_the_same_meta_gradient(setup):
    net, params, tasks = setup
    one = tuple(t[:1] for t in tasks)
    got = torch.autograd.grad(meta_loss(net, params, one, F.mse_loss, method="maml", steps=STEPS, lr=LR),
                              list(params.values()))
    assert_close(got, loop_meta_grad(net, params, one, list(params.values())))


def test_adapted_convolution_weights_keep_the_channels_last_layout():
    """An SGD update of a one-input-channel convolution comes back in the default layout (a size-one
    dimension's stride) by itself, and the network would then convolve and pool several times slower."""
    net = channels_last(cnn((1, 8, 8), 3, channels=[4]))
    params = dict(net.named_parameters())
    weight = params["features.0.weight"]
    assert weight.stride() == (9, 1, 3, 1)
    xs, ys = torch.randn(2, 6, 1, 8, 8), torch.randint(0, 3, (2, 6))
    fast = adapt_tasks(net, params, xs, ys, F.cross_entropy, steps=2, lr=0.1)
    assert fast["features.0.weight"][1].stride() == weight.stride()
    out = F.conv2d(xs[1], fast["features.0.weight"][1], fast["features.0.bias"][1], padding=1)
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
    want = dict(params)  # the same two steps on task 1 alone, by hand
    for _ in range(2):
        loss = F.cross_entropy(torch.func.functional_call(net, want, (xs[1],)), ys[1])
        want = {n: p - 0.1 * g for (n, p), g in zip(want.items(), torch.autograd.grad(loss, list(want.values())))}
    assert_close([t[1] for t in fast.values()], list(want.values()))


@pytest.mark.parametrize("n_tasks", [1, 3])
def test_adapt_tasks_equals_adapt_on_each_task_of_a_one_dimensional_cnn(n_tasks):
    net = cnn((1, 12), 3, channels=[4])
    params = dict(net.named_parameters())
    xs, ys = torch.randn(n_tasks, 6, 1, 12), torch.randint(0, 3, (n_tasks, 6))
    fast = adapt_tasks(net, params, xs, ys, F.cross_entropy, steps=2, lr=0.1)
    for b in range(n_tasks):
        one = adapt(net, params, xs[b], ys[b], F.cross_entropy, steps=2, lr=0.1)
        assert_close([t[b] for t in fast.values()], list(one.values()))
