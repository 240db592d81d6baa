"""The episodic meta-learners MAML, FOMAML, Reptile, Meta-SGD, ANIL and ProtoNets: MAML learns to adapt on
sinusoids, ProtoNets classifies unseen digits from five shots, each method's inner loop and adaptation do
what its paper says, the memory stays balanced and bounded, and a regression run resumes exactly."""
import pytest
import torch
import torch.nn.functional as F

import lifelong as ll
from lifelong.experiment.checkpoint import MemoryCheckpointer
from lifelong.config import ConfigError
from lifelong.evaluation import FewShot, squared_error, support_set
from lifelong.meta.tasks import SinusoidFamily
from lifelong.scenarios import TaskInfo
from lifelong.scenarios.stream import Stream, Task

GRADIENT = ["maml", "fomaml", "reptile", "meta-sgd", "anil"]
SMALL = {"meta_steps": 5, "meta_batch": 4}  # quick runs, for mechanisms rather than numbers


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def sine_stream(n_tasks=4, n_held_out=2, n=50, seed=0) -> Stream:
    """One sinusoid per task (Finn et al. 2017's family), ``n`` train and ``n`` test points each."""
    xs, ys, xq, yq = SinusoidFamily().sample(n_tasks + n_held_out, n, n, torch.Generator().manual_seed(seed))
    tasks = [Task(i, xs[i], ys[i], xq[i], yq[i], classes=(), task_label=i) for i in range(n_tasks + n_held_out)]
    return Stream("sines", "regression", tasks[:n_tasks], n_classes=1, held_out=tasks[n_tasks:])


def held_out_mse(strategy, stream, k=5, draws=3) -> float:
    """Mean test MSE on the held-out functions of copies adapted to K-shot supports (the same supports
    for every strategy)."""
    scores = []
    for j, task in enumerate(stream.held_out):
        for d in range(draws):
            x, y = support_set(task, k, torch.Generator().manual_seed(100 * j + d), regression=True)
            scores.append(squared_error(strategy.adapt(x, y, TaskInfo()), task.x_test, task.y_test, TaskInfo()))
    return sum(scores) / len(scores)


def weights(net):
    return {n: p.detach().clone() for n, p in net.named_parameters()}


# --- sinusoids: MAML learns to adapt -----------------------------------------------------


def test_maml_adapts_to_unseen_sinusoids_better_than_random_init_and_naive():
    stream = sine_stream(n_tasks=20, n_held_out=10)
    maml = ll.load_strategy("maml", meta_steps=40)
    ll.run(maml, stream, seed=0)
    untrained = ll.load_strategy("maml")
    untrained.setup(stream.info, seed=0)
    naive = ll.load_strategy("naive", model="mlp", model_args={"hidden": [40, 40]}, epochs=20, batch_size=10)
    ll.run(naive, stream, seed=0)
    learned, random_init, fine_tuned = (held_out_mse(s, stream) for s in (maml, untrained, naive))
    assert learned < 0.7 * random_init and learned < 0.7 * fine_tuned, (learned, random_init, fine_tuned)


def test_meta_batches_hold_earlier_tasks_from_the_balanced_memory():
    """On a one-function-per-task stream, the episodes of task i come from tasks 0..i, not from task i alone."""
    stream = sine_stream(n_tasks=3)
    strategy = ll.load_strategy("maml", buffer_size=60, **SMALL)
    strategy.setup(stream.info, seed=0)
    drawn = []
    episodes = strategy.episodes
    strategy.episodes = lambda x, y, g: drawn.append(g.unique().tolist()) or episodes(x, y, g)
    for task in stream:
        strategy.fit_task(task)
    assert drawn[0] == [0] and drawn[-1] == [0, 1, 2]
    g = strategy.memory.data["g"]
    assert len(g) == 60 and g.bincount().tolist() == [20, 20, 20]  # 60 samples, one third per task


def test_the_memory_is_class_balanced_and_bounded_in_classification(digits_stream):
    strategy = ll.load_strategy("protonet", model="mlp", buffer_size=101, **SMALL)
    strategy.setup(digits_stream.info, seed=0)
    for task in list(digits_stream)[:3]:
        strategy.fit_task(task)
        counts = strategy.memory.data["y"].bincount()
        seen = counts[counts > 0]
        assert len(strategy.memory) <= 101 and (seen == 101 // len(seen)).all()
    assert torch.equal(strategy.memory.data["y"], strategy.memory.data["g"])


# --- the inner loops and the native adaptation -------------------------------------------


@pytest.mark.parametrize("name", GRADIENT)
def test_adapt_is_the_inner_loop_on_a_copy(name):
    """The adapted copy's weights are ``adapt_steps`` SGD steps on the support's loss (at the learned rates
    for Meta-SGD, on the head alone for ANIL); the learner itself does not move."""
    stream = sine_stream(n_tasks=1)
    strategy = ll.load_strategy(name, adapt_steps=2, **SMALL)
    ll.run(strategy, stream, seed=0)
    x, y = stream.held_out[0].x_train[:5], stream.held_out[0].y_train[:5]
    before = weights(strategy.net)
    adapted = strategy.adapt(x, y, TaskInfo())
    assert all(torch.equal(p, before[n]) for n, p in strategy.net.named_parameters())
    expected = {n: p.clone().requires_grad_() for n, p in before.items()}
    for _ in range(2):
        grads = torch.autograd.grad(F.mse_loss(torch.func.functional_call(strategy.net, expected, (x,)), y),
                                    list(expected.values()))
        for (n, p), g in zip(expected.items(), grads):
            rate = strategy.alpha[n].detach() if name == "meta-sgd" else strategy.inner_lr
            moves = name != "anil" or n.startswith("head.")
            expected[n] = (p - rate * g if moves else p).detach().requires_grad_()
    for n, p in adapted.net.named_parameters():
        torch.testing.assert_close(p, expected[n], rtol=1e-5, atol=1e-6)
        if name == "anil" and n.startswith("features."):
            assert torch.equal(p, before[n])


def test_meta_sgd_learns_one_rate_per_weight_and_keeps_them_as_state():
    stream = sine_stream(n_tasks=2)
    strategy = ll.load_strategy("meta-sgd", **SMALL)
    ll.run(strategy, stream, seed=0)
    alpha = torch.cat([a.detach().flatten() for a in strategy.alpha.values()])
    assert (alpha - strategy.inner_lr).abs().max() > 1e-4 and alpha.std() > 1e-5
    other = ll.load_strategy("meta-sgd", **SMALL)
    other.setup(stream.info, seed=1)
    other.load_state_dict(strategy.state_dict())
    assert all(torch.equal(other.alpha[n], a) for n, a in strategy.alpha.items())


def test_reptile_with_unit_step_and_one_episode_lands_on_the_episodes_sgd_solution():
    """Outer SGD at ε = 1 on θ − θ̃: θ becomes θ̃, ``inner_steps`` SGD steps on the episode's support + query."""
    stream = sine_stream(n_tasks=1)
    strategy = ll.load_strategy("reptile", optimizer="sgd", lr=1.0, meta_batch=1, inner_steps=3)
    strategy.setup(stream.info, seed=0)
    strategy.opt = strategy.new_optimizer(strategy.meta_parameters(), lr=strategy.lr)
    xs, ys, xq, yq = episodes = strategy.episodes(stream[0].x_train, stream[0].y_train,
                                                  torch.zeros(50, dtype=torch.long))
    reference = ll.load_strategy("reptile")
    reference.setup(stream.info, seed=0)
    sgd = torch.optim.SGD(reference.net.parameters(), lr=strategy.inner_lr)
    x, y = torch.cat([xs[0], xq[0]]), torch.cat([ys[0], yq[0]])
    for _ in range(3):
        sgd.zero_grad()
        F.mse_loss(reference.net(x), y).backward()
        sgd.step()
    strategy.outer_step(episodes)
    for p, q in zip(strategy.net.parameters(), reference.net.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["maml", "fomaml", "anil", "meta-sgd"])
def test_the_outer_step_lowers_the_meta_loss(name):
    stream = sine_stream(n_tasks=1)
    strategy = ll.load_strategy(name, meta_batch=25)
    strategy.setup(stream.info, seed=0)
    strategy.opt = strategy.new_optimizer(strategy.meta_parameters(), lr=0.01)
    episodes = strategy.episodes(stream[0].x_train, stream[0].y_train, torch.zeros(50, dtype=torch.long))
    first = strategy.outer_step(episodes)
    for _ in range(20):
        last = strategy.outer_step(episodes)
    assert last < 0.7 * first


# --- Prototypical Networks ---------------------------------------------------------------


def test_protonet_classifies_unseen_classes_five_way_from_five_shots():
    """Few-shot MNIST-1D: trained on a base task of 100 classes, adapted to 5 shots of held-out classes."""
    stream = ll.load_scenario("fewshot-mnist1d", seed=0, n_tasks=2)

    def held_out(**overrides):
        result = ll.run(ll.load_strategy("protonet", **overrides), stream, seed=0,
                        evaluators=[FewShot(shots=(5,), draws=1)])
        return result.metrics["fewshot_held_out"]["5"]

    learned, untrained = held_out(), held_out(meta_steps=1)
    assert learned > 0.55 and learned > untrained + 0.15, (learned, untrained)  # chance: 20%


def test_protonet_remembers_classes_through_its_memorys_prototypes(digits_stream):
    result = ll.run(ll.load_strategy("protonet", model="mlp", meta_steps=50), digits_stream, seed=0)
    assert result.metrics["acc"] > 0.85  # class-incremental; Naive: about 0.2


def test_protonet_adapt_makes_the_support_means_the_prototypes(digits_stream):
    strategy = ll.load_strategy("protonet", model="mlp", **SMALL)
    strategy.setup(digits_stream.info, seed=0)
    strategy.fit_task(digits_stream[0])
    old = strategy.prototypes.clone()
    task = digits_stream[1]
    x, y = task.x_train[:20], task.y_train[:20]
    adapted = strategy.adapt(x, y, TaskInfo())
    assert not strategy.known[list(task.classes)].any()  # the learner is left alone
    with torch.no_grad():
        h = strategy.net.features(x)
    for c in task.classes:
        torch.testing.assert_close(adapted.prototypes[c], h[y == c].mean(0))
    for c in digits_stream[0].classes:
        assert torch.equal(adapted.prototypes[c], old[c]) and adapted.known[c]
    # class-incremental: it predicts among old and new classes, by nearest prototype
    d = torch.cdist(adapted.net.features(task.x_test), adapted.prototypes[adapted.known]).argmin(1)
    assert torch.equal(adapted.predict(task.x_test, TaskInfo()), adapted.known.nonzero().flatten()[d])


def test_protonet_refuses_a_regression_stream_in_one_line():
    with pytest.raises(ConfigError) as e:
        ll.load_strategy("protonet").setup(sine_stream().info)
    assert "classification" in str(e.value) and "\n" not in str(e.value)


# --- resuming a regression run -----------------------------------------------------------


@pytest.mark.parametrize("name", GRADIENT)
def test_a_regression_run_resumes_with_the_same_numbers(name):
    """The classification streams are covered by test_run.py for every preset; this is the sine stream,
    with the few-shot evaluator (whose adapt must not disturb the learner)."""
    stream = sine_stream(n_tasks=3)

    def run(**kwargs):
        return ll.run(ll.load_strategy(name, **SMALL), stream, seed=2, evaluators=[FewShot(shots=(5,), draws=1)],
                      **kwargs)

    full, checkpoints = run(), MemoryCheckpointer()
    run(checkpointer=checkpoints)
    checkpoints.resume_after = 0
    torch.manual_seed(999)
    resumed = run(checkpointer=checkpoints)
    assert resumed.accuracy_matrix == full.accuracy_matrix
    assert resumed.extra["fewshot"] == full.extra["fewshot"] and resumed.metrics == full.metrics


def test_proto_maml_head_starts_each_task_at_its_support_prototypes(digits_stream):
    strategy = ll.load_strategy("maml-fewshot", model="mlp", **SMALL)
    strategy.setup(digits_stream.info, seed=0)
    task = digits_stream[1]
    x, y = task.x_train[:20], task.y_train[:20]
    params = {n: p.detach() for n, p in strategy.net.named_parameters()}
    start = strategy.task_init()(params, x, y)
    with torch.no_grad():
        h = strategy.net.features(x)
    for c in range(digits_stream.n_classes):
        if c in task.classes:  # w_c = 2 p_c, b_c = -|p_c|^2: the logits rank classes as -|f(x) - p_c|^2 does
            p = h[y == c].mean(0)
            torch.testing.assert_close(start["head.weight"][c], 2 * p)
            torch.testing.assert_close(start["head.bias"][c], -p.square().sum())
        else:
            assert torch.equal(start["head.weight"][c], params["head.weight"][c])
    assert all(torch.equal(start[n], params[n]) for n in params if n.startswith("features."))
    plain = ll.load_strategy("maml", model="mlp", **SMALL)
    plain.setup(digits_stream.info, seed=0)
    assert plain.task_init() is None  # the sine-stream preset keeps its meta-learned head


def test_meta_sgd_adapts_at_its_learned_rates_or_at_adapt_lr_when_set(digits_stream):
    """Before any training the learned rates are inner_lr everywhere: adapt_lr = inner_lr takes the same
    step, and twice that rate a step twice as long."""
    task = digits_stream[0]
    x, y = task.x_train[:20], task.y_train[:20]
    moves = {}
    for adapt_lr in (None, 0.01, 0.02):
        strategy = ll.load_strategy("meta-sgd", model="mlp", inner_lr=0.01, adapt_steps=1, adapt_lr=adapt_lr, **SMALL)
        strategy.setup(digits_stream.info, seed=0)
        adapted = strategy.adapt(x, y, TaskInfo())
        moves[adapt_lr] = torch.cat([(q - p).flatten() for p, q in zip(strategy.net.parameters(),
                                                                        adapted.net.parameters())]).detach()
    assert moves[None].abs().sum() > 0
    torch.testing.assert_close(moves[0.01], moves[None])
    torch.testing.assert_close(moves[0.02], 2 * moves[None])
