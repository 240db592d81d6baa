"""The cost of continual evaluation, in lifelong and in Avalanche 0.6.0.

What it measures
----------------
Replay (memory 200, batch 32, Adam lr 0.001) with lifelong's default CNN on ``split-mnist``
(5 class-incremental tasks of the 5,000-image MNIST subset), one CPU thread, ``--epochs`` epochs per
task, trained two ways in one process, interleaved over ``--repeats`` rounds:

1. lifelong with ``ContinualEvaluation(every=10, subset=1000)`` on the run's step events (every
   seen task's test subset scored before training, every 10 optimisation steps and at each task's
   end);
2. Avalanche's ``Replay`` on the same tensors and initial weights (in PyTorch's default layout, as a
   user's module has them; lifelong's are channels-last), with ``eval_every=10,
   peval_mode="iteration"`` and, as eval streams, the test sets of the experiences seen so far (the
   same samples: ``split-mnist`` has 200 test images a task, under the 1,000-sample subset), with
   an accuracy metric per experience, no loggers, and lifelong's evaluation batch size.

Each framework's evaluation time is measured directly, by a stopwatch around the function its
periodic evaluation calls (lifelong: the evaluator's ``_evaluate``; Avalanche: ``strategy.eval``);
its training time is the loop's wall time less that. The last line reads ``eval/train = X.XX
avalanche/lifelong = Y.YY``: lifelong's evaluation time over its training time, and Avalanche's
evaluation time over lifelong's (medians over the rounds of the per-round ratios). Targets:
eval/train <= 0.25, avalanche/lifelong >= 5. Two lines before them say what bounds eval/train: the
arithmetic of the protocol (the FLOPs of evaluation over those of training, counted in one more run,
which is the ratio when both run at the same FLOP/s), and eval/train at the warm-cache speed of
prediction (the same test images predicted over and over, nothing trained in between), the floor
this protocol has on this machine.

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
from lifelong.evaluation.measures import EVAL_BATCH  # noqa: E402
from lifelong.events import Events, RunContext  # noqa: E402

EVERY, SUBSET, SEED = 10, 1000, 0


class Stopwatch:
    """Wraps a bound method: calls it as before and adds up how much ``measure()`` grew during its calls
    (by default the clock, in seconds)."""

    def __init__(self, method, measure=time.perf_counter):
        self.method, self.measure, self.spent = method, measure, 0.0

    def __call__(self, *args, **kwargs):
        t0 = self.measure()
        try:
            return self.method(*args, **kwargs)
        finally:
            self.spent += self.measure() - t0


def timed(train, watch: Stopwatch) -> tuple[float, float]:
    """(training seconds, evaluation seconds) of ``train()``: its wall time less what ``watch`` saw (or,
    with a watch that measures something else, how much of that training and evaluation took)."""
    gc.collect()
    t0 = watch.measure()
    train()
    total = watch.measure() - t0
    return total - watch.spent, watch.spent


def lifelong_way(stream, epochs: int, measure=time.perf_counter) -> tuple[float, float, int]:
    """(training seconds, evaluation seconds, test images the evaluation predicted); with another
    ``measure`` (a counter), what it counted in training and in evaluation instead of seconds."""
    strategy = ll.load_strategy("replay", epochs=epochs)
    strategy.setup(stream.info, seed=SEED, device="cpu")
    evaluator = ContinualEvaluation(every=EVERY, subset=SUBSET)
    watch = evaluator._evaluate = Stopwatch(evaluator._evaluate, measure)
    events = Events(RunContext(strategy, stream, SEED, torch.device("cpu")), [evaluator])

    def train():
        events.stream_start()
        for i, task in enumerate(stream):
            strategy.fit_task(task, events.task_start(i))
            events.task_end(i)
    train_s, eval_s = timed(train, watch)
    return train_s, eval_s, sum(evaluator.sizes[task] for _, task, _ in evaluator.curve)


def arithmetic(stream, epochs: int) -> tuple[float, float]:
    """Floating-point operations of the lifelong run's training and of its evaluation, in a run of their
    own (untimed): torch's ``FlopCounterMode`` counts the convolutions and matrix products, forward and
    backward, which are nearly all of the arithmetic."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        train, evaluation, _ = lifelong_way(stream, epochs, measure=counter.get_total_flops)
    return train, evaluation


def warm_seconds_per_image(stream, strategy) -> float:
    """The best time of ``strategy.predict`` per test image, the stream's test images predicted over and over
    (``EVAL_BATCH`` at a time, caches warm, nothing trained in between): what evaluation costs at best."""
    x = torch.cat([t.x_test for t in stream])
    info = stream.info_of(stream[len(stream) - 1])
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for s in range(0, len(x), EVAL_BATCH):
            strategy.predict(x[s:s + EVAL_BATCH], info)
        best = min(best, (time.perf_counter() - t0) / len(x))
    return best


def avalanche_way(stream, net: nn.Module, epochs: int) -> tuple[float, float]:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        from avalanche.benchmarks.scenarios.deprecated.generators import tensors_benchmark
        from avalanche.evaluation.metrics import accuracy_metrics
        from avalanche.training import Replay
        from avalanche.training.plugins import EvaluationPlugin

        bench = tensors_benchmark(train_tensors=[(t.x_train, t.y_train) for t in stream],
                                  test_tensors=[(t.x_test, t.y_test) for t in stream], task_labels=[0] * len(stream))
        net = copy.deepcopy(net).to(memory_format=torch.contiguous_format)  # the layout a user's module has
        torch.manual_seed(SEED)
        strategy = Replay(net, torch.optim.Adam(net.parameters(), lr=0.001), nn.CrossEntropyLoss(), mem_size=200,
                          train_mb_size=32, train_epochs=epochs, eval_mb_size=EVAL_BATCH, device="cpu",
                          evaluator=EvaluationPlugin(accuracy_metrics(experience=True), loggers=[]),
                          eval_every=EVERY, peval_mode="iteration")
        watch = strategy.eval = Stopwatch(strategy.eval)  # what its periodic evaluation calls
        tests = list(bench.test_stream)

        def train():
            for i, experience in enumerate(bench.train_stream):
                strategy.train(experience, eval_streams=[tests[: i + 1]])
        return timed(train, watch)


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
    rows = {k: [] for k in ("lifelong train", "lifelong eval", "avalanche train", "avalanche eval")}
    for r in range(args.repeats):
        train_s, eval_s, images = lifelong_way(stream, args.epochs)
        for name, (train_s, eval_s) in (("lifelong", (train_s, eval_s)),
                                        ("avalanche", avalanche_way(stream, net, args.epochs))):
            rows[f"{name} train"].append(train_s)
            rows[f"{name} eval"].append(eval_s)
        print(f"  round {r + 1}/{args.repeats}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in rows.items()),
              flush=True)
    eval_train = statistics.median(e / t for e, t in zip(rows["lifelong eval"], rows["lifelong train"]))
    train_flop, eval_flop = arithmetic(stream, args.epochs)
    print(f"arithmetic: training {train_flop / 1e9:.0f} GFLOP, evaluation {eval_flop / 1e9:.0f} GFLOP, so eval/train = "
          f"{eval_flop / train_flop:.2f} where both run at the same FLOP/s (measured: evaluation ran "
          f"{eval_flop / train_flop / eval_train:.2f}x as many FLOP/s as training)")
    warm = warm_seconds_per_image(stream, probe)
    print(f"the evaluation predicted {images} test images: {images * warm:.2f}s at the warm-cache speed "
          f"({warm * 1e3:.3f} ms an image), so eval/train >= {images * warm / statistics.median(rows['lifelong train']):.2f} "
          "at this protocol on this machine")
    av_ll = statistics.median(a / b for a, b in zip(rows["avalanche eval"], rows["lifelong eval"]))
    print(f"targets: eval/train <= 0.25: {'met' if eval_train <= 0.25 else 'NOT met'}; "
          f"avalanche/lifelong >= 5: {'met' if av_ll >= 5 else 'NOT met'}")
    print(f"eval/train = {eval_train:.2f}  avalanche/lifelong = {av_ll:.2f}")


if __name__ == "__main__":
    main()
