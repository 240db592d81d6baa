"""Training-loop overhead of lifelong, against a hand-written PyTorch loop and Avalanche.

What it measures
----------------
Wall time of *training only* (no evaluation) of Naive fine-tuning on the
``split-digits`` stream (sklearn's 8x8 digits, 5 class-incremental tasks of 2
classes), with an MLP 64-256-10 (Flatten, Linear(64, 256), ReLU, Linear(256, 10)),
SGD lr 0.05 without momentum, batch 32, 20 epochs per task, one CPU thread
(``torch.set_num_threads(1)``), done three ways in one process:

1. ``lifelong``: ``build_strategy({"strategy": "naive", ...})``, then
   ``strategy.fit_task(task)`` for every task of the stream (timed: the loop only).
2. ``plain``: the loop a user would write by hand on the same tensors
   (``torch.randperm``, index, forward, ``F.cross_entropy``, ``zero_grad``,
   ``backward``, ``step``), same network and initial weights.
3. ``avalanche``: Avalanche's ``Naive`` on a ``tensors_benchmark`` built from the
   same per-task tensors, with an evaluator that has no metrics and no loggers
   (timed: ``strategy.train(experience)`` over the 5 experiences).

The three are interleaved after an untimed warm-up round (each repeat runs the
three back to back, each way going first in turn), so that machine noise hits all
alike, each timed with the garbage collector off (as ``timeit`` does); the table
gives the median and the minimum of each, and the accuracy each reaches on the last task's
test set (and the mean over all tasks) after its last repetition, computed
outside the timed region, as a sanity check that all three train the same thing.

Targets
-------
* lifelong <= 1.03 x plain (the framework adds at most 3% over a hand-written loop);
* avalanche / lifelong >= 3.5.

The last line printed is exactly ``lifelong/plain = X.XX  avalanche/lifelong = Y.YY``:
each the median over repeats of the ratio of the two ways' times within a repeat (the table's
``x plain`` column is the ratio of medians).

Usage: ``python benchmarks/loop_overhead.py [--repeats 15] [--epochs 20]``
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import io
import statistics
import sys
import time
import warnings
from pathlib import Path

# Run from any working directory: make the repository importable even without
# the editable install.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import lifelong as ll  # noqa: E402

SCENARIO = "split-digits"
SEED = 0
LR = 0.05
BATCH = 32
HIDDEN = 256
TARGET_LIFELONG_OVER_PLAIN = 1.03
TARGET_AVALANCHE_OVER_LIFELONG = 3.5


def make_mlp(n_in: int, n_out: int, seed: int) -> nn.Module:
    """The MLP 64-256-10. Built under ``torch.manual_seed(seed)`` with its layers
    created in the same order as lifelong's ``mlp``, so its initial weights equal
    lifelong's (checked in ``check_same_init``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(n_in, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, n_out))


def check_same_init(seq: nn.Module, lifelong_net: nn.Module) -> None:
    ours = [p.detach() for p in seq.parameters()]
    theirs = [p.detach() for p in lifelong_net.parameters()]
    if len(ours) != len(theirs) or not all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(ours, theirs)):
        raise SystemExit("sanity check failed: the plain MLP's initial weights differ from lifelong's")


@torch.inference_mode()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    was_training = net.training
    net.eval()
    try:
        return (net(x).argmax(1) == y).float().mean().item()
    finally:
        net.train(was_training)


# --- the three ways ------------------------------------------------------------------


class Timer:
    """Times a block with the garbage collector off (as ``timeit`` does), after a full collection, so
    that collections triggered by objects an earlier way left behind do not land in another's time."""

    def __enter__(self):
        gc.collect()
        gc.disable()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.t0
        gc.enable()


def run_lifelong(stream, epochs: int, seed: int):
    strategy = ll.strategies.build_strategy({
        "strategy": "naive", "model": "mlp", "model_args": {"hidden": [HIDDEN]},
        "lr": LR, "epochs": epochs, "batch_size": BATCH,
    })
    strategy.setup(stream.info, seed=seed, device="cpu")
    tasks = list(stream)
    with Timer() as timer:
        for task in tasks:
            strategy.fit_task(task)
    return timer.elapsed, strategy.net


def run_plain(tasks, n_in: int, n_out: int, epochs: int, seed: int):
    net = make_mlp(n_in, n_out, seed)
    gen = torch.Generator().manual_seed(seed)
    with Timer() as timer:
        for task in tasks:
            x, y = task.x_train, task.y_train
            opt = torch.optim.SGD(net.parameters(), lr=LR)
            n = len(y)
            for _ in range(epochs):
                perm = torch.randperm(n, generator=gen)
                for i in range(0, n, BATCH):
                    idx = perm[i:i + BATCH]
                    loss = F.cross_entropy(net(x[idx]), y[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
    return timer.elapsed, net


def import_avalanche():
    """Avalanche's pieces, importing it with its import-time warnings silenced
    (e.g. qpsolvers' "no QP solver found"). Errors still propagate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from avalanche.benchmarks.scenarios.deprecated.generators import tensors_benchmark
        from avalanche.training import Naive
        from avalanche.training.plugins import EvaluationPlugin
    return tensors_benchmark, Naive, EvaluationPlugin


def make_avalanche_benchmark(tasks):
    tensors_benchmark, _, _ = import_avalanche()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tensors_benchmark(
            train_tensors=[(t.x_train, t.y_train) for t in tasks],
            test_tensors=[(t.x_test, t.y_test) for t in tasks],
            task_labels=[0] * len(tasks),  # class-incremental: one task label for all
        )


def run_avalanche(benchmark, n_in: int, n_out: int, epochs: int, seed: int):
    _, Naive, EvaluationPlugin = import_avalanche()
    net = make_mlp(n_in, n_out, seed)
    torch.manual_seed(seed)  # Avalanche's DataLoader shuffles with the global generator
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
        warnings.simplefilter("ignore")
        strategy = Naive(
            model=net, optimizer=torch.optim.SGD(net.parameters(), lr=LR),
            criterion=nn.CrossEntropyLoss(), train_mb_size=BATCH, train_epochs=epochs,
            device="cpu", evaluator=EvaluationPlugin(loggers=[]), eval_every=-1,
        )
        experiences = list(benchmark.train_stream)
        with Timer() as timer:
            for experience in experiences:
                strategy.train(experience)
    return timer.elapsed, strategy.model


# --- main ----------------------------------------------------------------------------


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed repetitions of each way (default 15)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per task (default 20)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.epochs < 1:
        parser.error("--repeats and --epochs must be >= 1")

    torch.set_num_threads(1)
    stream = ll.load_scenario(SCENARIO, seed=SEED)
    tasks = list(stream)
    n_in = 1
    for s in stream.info.input_shape:
        n_in *= s
    n_out = stream.info.n_classes
    benchmark = make_avalanche_benchmark(tasks)

    # The plain (and Avalanche) network starts from lifelong's initial weights.
    probe = ll.strategies.build_strategy({"strategy": "naive", "model": "mlp", "model_args": {"hidden": [HIDDEN]}})
    probe.setup(stream.info, seed=SEED, device="cpu")
    check_same_init(make_mlp(n_in, n_out, SEED), probe.net)

    ways = {
        "lifelong": lambda: run_lifelong(stream, args.epochs, SEED),
        "plain": lambda: run_plain(tasks, n_in, n_out, args.epochs, SEED),
        "avalanche": lambda: run_avalanche(benchmark, n_in, n_out, args.epochs, SEED),
    }
    print(f"{SCENARIO}: {len(tasks)} tasks, {sum(t.n_train for t in tasks)} training samples, "
          f"MLP {n_in}-{HIDDEN}-{n_out}, SGD lr {LR}, batch {BATCH}, {args.epochs} epochs/task, "
          f"1 thread, torch {torch.__version__}")

    for run in ways.values():  # warm-up round, not counted
        run()

    times: dict[str, list[float]] = {name: [] for name in ways}
    nets: dict[str, nn.Module] = {}
    names = list(ways)
    for r in range(args.repeats):
        for name in names[r % 3:] + names[:r % 3]:  # each way goes first in turn
            elapsed, nets[name] = ways[name]()
            times[name].append(elapsed)
        print(f"  repeat {r + 1}/{args.repeats}: "
              + "  ".join(f"{name} {times[name][-1]:.3f}s" for name in ways), flush=True)

    last = tasks[-1]
    print()
    print(f"{'way':<10} {'median s':>9} {'min s':>8} {'x plain':>8} {'last-task acc':>14} {'mean acc':>9}")
    med = {name: statistics.median(ts) for name, ts in times.items()}
    for name, ts in times.items():
        net = nets[name]
        acc_last = accuracy(net, last.x_test, last.y_test)
        acc_mean = statistics.mean(accuracy(net, t.x_test, t.y_test) for t in tasks)
        print(f"{name:<10} {med[name]:>9.3f} {min(ts):>8.3f} {med[name] / med['plain']:>8.2f} "
              f"{acc_last:>14.3f} {acc_mean:>9.3f}")

    # Each ratio is the median over repeats of the ratio within a repeat: the ways of one repeat ran
    # back to back, so a slow spell of the machine cancels out.
    ll_plain = statistics.median(a / b for a, b in zip(times["lifelong"], times["plain"]))
    av_ll = statistics.median(a / b for a, b in zip(times["avalanche"], times["lifelong"]))
    ok1 = ll_plain <= TARGET_LIFELONG_OVER_PLAIN
    ok2 = av_ll >= TARGET_AVALANCHE_OVER_LIFELONG
    print()
    print(f"targets: lifelong/plain <= {TARGET_LIFELONG_OVER_PLAIN:.2f}: {'met' if ok1 else 'NOT met'}; "
          f"avalanche/lifelong >= {TARGET_AVALANCHE_OVER_LIFELONG:.1f}: {'met' if ok2 else 'NOT met'}")
    print(f"lifelong/plain = {ll_plain:.2f}  avalanche/lifelong = {av_ll:.2f}")


if __name__ == "__main__":
    main()
