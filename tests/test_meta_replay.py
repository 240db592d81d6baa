"""The recorded forward (lifelong.meta.replay): replayed meta-gradients equal vmap's bit for bit, and a
recording is used only where it holds."""
import functools
import weakref

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from lifelong.meta import SinusoidFamily, meta_loss
from lifelong.meta import replay
from lifelong.meta.episodes import episode_cross_entropy
from lifelong.models import batch_statistics, cnn


@pytest.fixture(autouse=True)
def record_at_the_second_call(monkeypatch):
    """Recordings are made at a signature's second call here (RECORD_AT), not its 50th."""
    monkeypatch.setattr(replay, "RECORD_AT", 2)


def sinusoid_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))


def sinusoid_tasks(n_tasks=6, k=5):
    return SinusoidFamily().sample(n_tasks, k, k, torch.Generator().manual_seed(1))


def digit_tasks(n_tasks=3, k=4):
    """Tasks of 1-D sequences (1 channel, 40 positions) of 3 classes, k shots each."""
    g = torch.Generator().manual_seed(2)
    x = lambda: torch.randn(n_tasks, 3 * k, 1, 40, generator=g)
    y = lambda: torch.arange(3).repeat(k).expand(n_tasks, -1)
    return x(), y(), x(), y()


def meta_gradient(net, tasks, loss_fn, method="maml"):
    params = dict(net.named_parameters())
    with batch_statistics(net):
        loss = meta_loss(net, params, tasks, loss_fn, method=method, steps=2, lr=0.05)
    return [loss, *torch.autograd.grad(loss, list(params.values()))]


def recordings(net):
    return [e for e in replay._books.get(net, {}).values() if isinstance(e, fx.GraphModule)]


def vmapped_only(monkeypatch, fn):
    """``fn()`` with no recording, made or to be made: every forward through vmap."""
    with monkeypatch.context() as m:
        m.setattr(replay, "_books", weakref.WeakKeyDictionary())
        m.setattr(replay, "MAX_RECORDINGS", 0)
        return fn()


def users_mse(out, y):  # not a function of replay.PURE_LOSSES: vmapped over the replayed forward
    return (out - y).square().mean()


@pytest.mark.parametrize("method,loss", [("maml", F.mse_loss), ("fomaml", F.mse_loss), ("anil", F.mse_loss),
                                         ("maml", users_mse)])
def test_replayed_meta_gradients_equal_vmaps_bit_for_bit_on_an_mlp(monkeypatch, method, loss):
    net, tasks = sinusoid_mlp(), sinusoid_tasks()
    want = vmapped_only(monkeypatch, lambda: meta_gradient(net, tasks, loss, method))
    got = [meta_gradient(net, tasks, loss, method) for _ in range(3)]  # vmapped first, then replayed
    assert recordings(net), "the forward was never recorded"
    assert not any(node.meta for graph in recordings(net) for node in graph.graph.nodes)  # no activations kept
    for run in got:
        for g, w in zip(run, want):
            assert torch.equal(g, w)


def test_replayed_meta_gradients_equal_vmaps_on_a_cnn_with_batchnorm_and_on_lifelongs_cnn(monkeypatch):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(1, 4, 3), nn.BatchNorm1d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 38, 3))
    tasks = digit_tasks()
    want = vmapped_only(monkeypatch, lambda: meta_gradient(net, tasks, episode_cross_entropy))
    for _ in range(3):
        for g, w in zip(meta_gradient(net, tasks, episode_cross_entropy), want):
            assert torch.equal(g, w)
    assert recordings(net)

    lifelong_cnn = cnn((1, 40), 3, channels=[4], embedding_dim=8)
    want = vmapped_only(monkeypatch, lambda: meta_gradient(lifelong_cnn, tasks, episode_cross_entropy))
    for _ in range(3):
        for g, w in zip(meta_gradient(lifelong_cnn, tasks, episode_cross_entropy), want):
            assert torch.equal(g, w)
    assert recordings(lifelong_cnn)


class Scaled(nn.Module):
    """A user's module whose forward reads Python state that changes: never recorded."""

    def __init__(self):
        super().__init__()
        self.linear, self.scale = nn.Linear(1, 1), 1.0

    def forward(self, x):
        return self.linear(x) * self.scale


def test_a_users_module_or_loss_is_never_recorded_and_its_state_changes_are_seen(monkeypatch):
    net, tasks = Scaled(), sinusoid_tasks()
    first = [meta_gradient(net, tasks, F.mse_loss) for _ in range(3)][-1]
    net.scale = 3.0
    changed = meta_gradient(net, tasks, F.mse_loss)
    assert not recordings(net)
    assert not torch.equal(first[0], changed[0])

    net, weight = sinusoid_mlp(), {"w": 1.0}
    weighted = lambda out, y: weight["w"] * F.mse_loss(out, y)  # noqa: E731
    first = [meta_gradient(net, tasks, weighted) for _ in range(3)][-1]
    weight["w"] = 2.0
    want = vmapped_only(monkeypatch, lambda: meta_gradient(net, tasks, weighted))
    assert torch.equal(meta_gradient(net, tasks, weighted)[0], want[0]) and not torch.equal(want[0], first[0])


def test_hooks_and_running_statistics_keep_the_forward_in_vmap(monkeypatch):
    net, tasks = sinusoid_mlp(), sinusoid_tasks()
    calls = []
    handle = net[0].register_forward_pre_hook(lambda module, args: calls.append(1))
    for _ in range(3):
        meta_gradient(net, tasks, F.mse_loss)
    assert not recordings(net) and len(calls) == 3 * 3  # 2 inner steps and the query, each time
    handle.remove()

    torch.manual_seed(0)
    bn = nn.Sequential(nn.Linear(1, 8), nn.BatchNorm1d(8), nn.Linear(8, 1)).eval()  # reads running statistics
    xs = sinusoid_tasks()[0]
    params = dict(bn.named_parameters())
    dims = {n: None for n in params}
    want = vmapped_only(monkeypatch, lambda: replay.batched_forward(bn, params, xs, dims))
    for _ in range(3):
        assert torch.equal(replay.batched_forward(bn, params, xs, dims), want)
    assert not recordings(bn)
    with torch.no_grad():
        bn[1].running_mean.add_(1.0)  # what a recording of the statistics would have missed
    assert not torch.equal(replay.batched_forward(bn, params, xs, dims), want)


def test_train_and_eval_flags_are_part_of_the_signature_and_recordings_are_bounded(monkeypatch):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    params = dict(net.named_parameters())
    dims = {n: None for n in params}
    with batch_statistics(net):
        for k in range(2, 2 + replay.MAX_RECORDINGS + 3):
            xs = torch.randn(3, k, 1)
            want = vmapped_only(monkeypatch, lambda: replay.batched_forward(net, params, xs, dims))
            for _ in range(3):
                assert torch.equal(replay.batched_forward(net, params, xs, dims), want)
    assert len(recordings(net)) == replay.MAX_RECORDINGS

    net.eval()  # same shapes, now the running statistics: no recording of train mode may answer
    want = vmapped_only(monkeypatch, lambda: replay.batched_forward(net, params, xs, dims))
    assert torch.equal(replay.batched_forward(net, params, xs, dims), want)


def test_a_forward_that_cannot_be_recorded_keeps_running_through_vmap(monkeypatch):
    import torch.fx.experimental.proxy_tensor as proxy_tensor

    def untraceable(fn, *args, **kwargs):
        raise RuntimeError("an op make_fx cannot trace")

    net, tasks = sinusoid_mlp(), sinusoid_tasks()
    want = vmapped_only(monkeypatch, lambda: meta_gradient(net, tasks, F.mse_loss))
    monkeypatch.setattr(proxy_tensor, "make_fx", untraceable)
    for _ in range(3):
        for g, w in zip(meta_gradient(net, tasks, F.mse_loss), want):
            assert torch.equal(g, w)
    assert not recordings(net) and replay._NOT_REPLAYABLE in replay._books[net].values()


def test_a_module_used_once_more_is_seen(monkeypatch):
    torch.manual_seed(0)
    relu = nn.ReLU()
    net, xs = nn.Sequential(nn.Linear(1, 4), relu, nn.Linear(4, 2)), sinusoid_tasks()[0]
    params = dict(net.named_parameters())
    dims = {n: None for n in params}
    for _ in range(3):
        replay.batched_forward(net, params, xs, dims)
    net.append(relu)  # the same ReLU, used a second time at the end
    want = vmapped_only(monkeypatch, lambda: replay.batched_forward(net, params, xs, dims))
    assert want.min() == 0 and torch.equal(replay.batched_forward(net, params, xs, dims), want)


def test_a_changed_layer_setting_is_seen(monkeypatch):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 16), nn.LeakyReLU(0.01), nn.BatchNorm1d(16), nn.Linear(16, 1))
    tasks = sinusoid_tasks()
    before = [meta_gradient(net, tasks, F.mse_loss) for _ in range(3)][-1]
    assert recordings(net)
    for change in (lambda: setattr(net[1], "negative_slope", 0.5), lambda: setattr(net[2], "eps", 0.1)):
        change()
        got = [meta_gradient(net, tasks, F.mse_loss) for _ in range(3)]
        want = vmapped_only(monkeypatch, lambda: meta_gradient(net, tasks, F.mse_loss))
        assert all(torch.equal(run[0], want[0]) for run in got) and not torch.equal(want[0], before[0])
        before = want


def test_a_wrapped_loss_autocast_and_outer_transforms_stay_with_vmap(monkeypatch):
    net, tasks, weight = sinusoid_mlp(), sinusoid_tasks(), {"w": 1.0}

    @functools.wraps(F.mse_loss)  # carries mse_loss's module and name, but reads `weight`
    def weighted(out, y):
        return weight["w"] * F.mse_loss(out, y)

    for _ in range(3):
        meta_gradient(net, tasks, weighted)
    weight["w"] = 2.0
    want = vmapped_only(monkeypatch, lambda: meta_gradient(net, tasks, weighted))
    assert torch.equal(meta_gradient(net, tasks, weighted)[0], want[0])

    net = sinusoid_mlp()
    with torch.autocast("cpu", torch.bfloat16):
        for _ in range(3):
            meta_gradient(net, tasks, F.mse_loss)
    assert not recordings(net)

    params, xs = dict(net.named_parameters()), tasks[0]
    dims = {n: None for n in params}
    summed = torch.func.grad(lambda p: replay.batched_forward(net, p, xs, dims).sum())
    want = vmapped_only(monkeypatch, lambda: summed(params))
    for _ in range(3):  # the recording fails under the outer transform; vmap answers
        for n in params:
            assert torch.equal(summed(params)[n], want[n])
