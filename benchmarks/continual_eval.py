"""The cost of continual evaluation, in lifelong and in Avalanche 0.6.0.

What it measures
----------------
Replay (memory 200, batch 32, Adam lr 0.001) with lifelong's default CNN on ``split-mnist``
(5 class-incremental tasks of the 5,000-image MNIST subset), one CPU thread, ``--epochs`` epochs per
task, trained four ways in one process, interleaved over ``--repeats`` rounds:

1. lifelong, no continual evaluation: ``strategy.fit_task`` over the stream;
2. lifelong with ``ContinualEvaluation(every=10, subset=1000)``, through the run's step events
   (every seen task's test subset scored every 10 optimisation steps);
3. Avalanche's ``Replay`` on the same tensors and initial weights, with ``eval_every=-1``;
4. the same with ``eval_every=10, peval_mode="iteration"`` and, as eval streams, the test sets of
   the experiences seen so far (the same samples: ``split-mnist`` has 200 test images a task, under
   the 1,000-sample subset), with an accuracy metric per experience and no loggers.

A framework's evaluation time is (2) − (1), and (4) − (3): the training loop's wall time with the
periodic evaluation, minus without. The last line reads ``eval/train = X.XX  avalanche/lifelong =
Y.YY``: lifelong's evaluation time over its training time, and Avalanche's evaluation time over
lifelong's (medians over the rounds). Targets: eval/train <= 0.25, avalanche/lifelong >= 5.

Usage: ``python benchmarks/continual_eval.py [--repeats 3] [--epochs 1]``
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import io
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import lifelong as ll  # noqa: E402
from lifelong.evaluation import ContinualEvaluation  # noqa: E402
from lifelong.events import Events, RunContext  # noqa: E402

EVERY, SUBSET, SEED = 10, 1000, 0


def timed(fn) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def lifelong_way(stream, epochs: int, continual: bool):
    strategy = ll.load_strategy("replay", epochs=epochs)
    strategy.setup(stream.info, seed=SEED, device="cpu")
    observers = [ContinualEvaluation(every=EVERY, subset=SUBSET)] if continual else []
    events = Events(RunContext(strategy, stream, SEED, torch.device("cpu")), observers)

    def train():
        events.stream_start()
        for i, task in enumerate(stream):
            strategy.fit_task(task, events.task_start(i))
            events.task_end(i)
    return timed(train), strategy


def avalanche_way(stream, net: nn.Module, epochs: int, continual: bool):
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        from avalanche.benchmarks.scenarios.deprecated.generators import tensors_benchmark
        from avalanche.evaluation.metrics import accuracy_metrics
        from avalanche.training import Replay
        from avalanche.training.plugins import EvaluationPlugin

        bench = tensors_benchmark(train_tensors=[(t.x_train, t.y_train) for t in stream],
                                  test_tensors=[(t.x_test, t.y_test) for t in stream], task_labels=[0] * len(stream))
        net = copy.deepcopy(net)
        torch.manual_seed(SEED)
        strategy = Replay(net, torch.optim.Adam(net.parameters(), lr=0.001), nn.CrossEntropyLoss(), mem_size=200,
                          train_mb_size=32, train_epochs=epochs, eval_mb_size=2048, device="cpu",
                          evaluator=EvaluationPlugin(accuracy_metrics(experience=True), loggers=[]),
                          eval_every=EVERY if continual else -1, peval_mode="iteration")
        tests = list(bench.test_stream)

        def train():
            for i, experience in enumerate(bench.train_stream):
                strategy.train(experience, eval_streams=[tests[: i + 1]] if continual else [])
        return timed(train), strategy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    stream = ll.load_scenario("split-mnist", seed=SEED)
    probe = ll.load_strategy("replay", epochs=args.epochs)
    probe.setup(stream.info, seed=SEED, device="cpu")
    net = probe.net  # Avalanche starts from lifelong's initial weights
    print(f"split-mnist: {len(stream)} tasks, replay (memory 200), default CNN, {args.epochs} epoch(s)/task, "
          f"evaluation every {EVERY} steps on <= {SUBSET} test samples a seen task, 1 thread")
    rows = {k: [] for k in ("lifelong", "lifelong+eval", "avalanche", "avalanche+eval")}
    for r in range(args.repeats):
        rows["lifelong"].append(lifelong_way(stream, args.epochs, False)[0])
        rows["lifelong+eval"].append(lifelong_way(stream, args.epochs, True)[0])
        rows["avalanche"].append(avalanche_way(stream, net, args.epochs, False)[0])
        rows["avalanche+eval"].append(avalanche_way(stream, net, args.epochs, True)[0])
        print(f"  round {r + 1}/{args.repeats}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in rows.items()),
              flush=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    ours = med["lifelong+eval"] - med["lifelong"]
    theirs = med["avalanche+eval"] - med["avalanche"]
    print(f"\nevaluation time: lifelong {ours:.2f}s, avalanche {theirs:.2f}s; lifelong training {med['lifelong']:.2f}s")
    eval_train, av_ll = ours / med["lifelong"], theirs / ours
    print(f"targets: eval/train <= 0.25: {'met' if eval_train <= 0.25 else 'NOT met'}; "
          f"avalanche/lifelong >= 5: {'met' if av_ll >= 5 else 'NOT met'}")
    print(f"eval/train = {eval_train:.2f}  avalanche/lifelong = {av_ll:.2f}")


if __name__ == "__main__":
    main()
