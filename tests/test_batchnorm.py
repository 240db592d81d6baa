"""BatchNorm wherever a method copies, distils from or functionally calls its network: teachers predict
with frozen running statistics, adapted copies leave the learner's alone, the meta-learners' functional
inner loops normalise by each batch and their running statistics follow the episodes, and per-sample
gradients use the running statistics."""
import copy
import math

import pytest
import torch
from torch import nn

import lifelong as ll
from lifelong.meta.core import task_loss
from lifelong.models import Net, batch_statistics, track_statistics
from lifelong.scenarios import build_stream, from_arrays

from conftest import fast

BN_NET = "test_batchnorm:bn_mlp"


def bn_mlp(input_shape, n_outputs, *, width: int = 16):
    """A one-hidden-layer network with BatchNorm, for these tests."""
    features = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.BatchNorm1d(width), nn.ReLU())
    return Net(features, width, n_outputs)


@pytest.fixture(scope="module")
def stream():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(80, 6, generator=g), torch.arange(80) % 4
    x[:, 0] += 2.0 * y  # something to learn, off centre so that the statistics move
    return build_stream({"builder": "split", "n_tasks": 2}, data=from_arrays(x, y, x[:40], y[:40], name="toy"), seed=0)


def norm_of(net) -> nn.BatchNorm1d:
    return next(m for m in net.modules() if isinstance(m, nn.BatchNorm1d))


def statistics(net) -> list[torch.Tensor]:
    bn = norm_of(net)
    return [bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()]


def same(a, b) -> bool:
    return all(torch.equal(u, v) for u, v in zip(a, b))


def learner(name, stream, **overrides):
    s = fast(name, model=BN_NET, model_args=None, **overrides)
    s.setup(stream.info, seed=0)
    return s


@pytest.mark.parametrize("name", ["lwf", "icarl"])
def test_a_teacher_predicts_in_eval_mode_with_the_statistics_it_was_copied_with(name, stream):
    """LwF's recorded responses (Li & Hoiem 2017) and iCaRL's distillation targets (Rebuffi et al. 2017)
    come from the network as the previous task left it."""
    s = learner(name, stream)
    s.fit_task(stream[0])
    frozen = statistics(s.net)
    teachers = []
    step = s.training_step

    def spy(x, y, t):
        if s.old_net is not None:
            teachers.append((s.old_net.training, statistics(s.old_net)))
        return step(x, y, t)

    s.training_step = spy
    s.fit_task(stream[1])
    assert teachers and all(not training and same(stats, frozen) for training, stats in teachers)
    assert not same(statistics(s.net), frozen)  # the student's own statistics went on


@pytest.mark.parametrize("name", ["naive", "maml", "agent"])
def test_an_adapted_copy_leaves_the_learners_statistics_alone(name, stream):
    s = learner(name, stream)
    s.fit_task(stream[0])
    before = statistics(s.net)
    task = stream[1]
    adapted = s.adapt(task.x_train[:8], task.y_train[:8], stream.task_info(1))
    assert adapted.net is not s.net and same(statistics(s.net), before)
    assert len(adapted.predict(task.x_test, stream.task_info(1))) == len(task.x_test)


@pytest.mark.parametrize("name", ["maml", "reptile", "agent", "mer"])
def test_functional_learners_track_their_statistics_once_a_step(name, stream):
    """Inner loops run on each batch's statistics (as in MAML); one ordinary forward pass a step then
    updates the running statistics that prediction in eval mode uses."""
    s = learner(name, stream)
    steps = []
    s.fit_task(stream[0], on_step=steps.append)
    mean, var, count = statistics(s.net)
    assert int(count) == len(steps) > 0
    assert mean.abs().sum() > 0 and not torch.equal(var, torch.ones_like(var))
    again = learner(name, stream)
    again.fit_task(stream[0])
    assert same(statistics(again.net), [mean, var, count])  # deterministic


def test_batch_statistics_in_train_mode_and_running_ones_in_eval_mode():
    torch.manual_seed(0)
    net, x = bn_mlp((6,), 3), torch.randn(10, 6) + 1.0
    params, y = dict(net.named_parameters()), torch.zeros(10, dtype=torch.long)
    loss = nn.functional.cross_entropy
    stats = statistics(net)
    no_running = copy.deepcopy(net)
    norm_of(no_running).track_running_stats, norm_of(no_running).running_mean = False, None
    norm_of(no_running).running_var = None
    with batch_statistics(net):
        assert torch.equal(task_loss(net, params, x, y, loss), loss(no_running(x), y))
    assert same(statistics(net), stats)  # untouched by the functional call
    track_statistics(net, x)
    assert int(statistics(net)[2]) == 1
    net.eval()
    with batch_statistics(net):
        assert torch.equal(task_loss(net, params, x, y, loss), loss(net(x), y))  # the running statistics


@pytest.mark.parametrize("name", ["ewc", "gss"])
def test_per_sample_gradients_use_the_running_statistics(name, stream):
    """EWC's Fisher and GSS's scores take one sample's gradient at a time: a batch of one has no
    statistics, so they are taken in eval mode, and the running statistics stay as they were."""
    s = learner(name, stream)
    s.fit_task(stream[0])
    before = statistics(s.net)
    if name == "ewc":
        fisher = s.fisher(stream[0])
        assert all(torch.isfinite(f).all() for f in fisher.values()) and sum(f.sum() for f in fisher.values()) > 0
    else:
        s.select(stream[1].x_train[:10], stream[1].y_train[:10], None)
    assert same(statistics(s.net), before) and s.net.training
