"""The lifelong agent's training time against Experience Replay's, on split-mnist.

What it measures
----------------
The ``agent`` and ``replay`` presets as they ship (the default CNN, 5 epochs a task, Adam), trained
with ``ll.run`` on ``split-mnist`` (5 class-incremental tasks of the 5,000-image MNIST subset, seed 0),
one CPU thread, alternately (agent, replay, agent, ...) over ``--repeats`` rounds in one process after
an untimed warm-up run of each at one epoch a task. A run's training time is the sum of its ``train_s``
(the strategy's work on the tasks, evaluation excluded); the table gives it per task and in all.
The last line reads ``agent/replay = X.XX``: the median over rounds of the agent's total training
time over Replay's in the same round. Target (issue #13): <= 1.5.

Usage: ``python benchmarks/agent_cost.py [--repeats 3] [--agent PRESET] [--set FIELD=VALUE ...]``
(``--set`` changes a field of the agent, e.g. ``--set k_query=3``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import yaml  # noqa: E402

import lifelong as ll  # noqa: E402


def train_times(strategy, stream) -> list[float]:
    return ll.run(strategy, stream, seed=0).timings["train_s"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--agent", default="agent")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    changes = dict(item.split("=", 1) for item in args.set)
    changes = {k: yaml.safe_load(v) for k, v in changes.items()}
    make = {"agent": lambda **kw: ll.load_strategy(args.agent, **changes, **kw),
            "replay": lambda **kw: ll.load_strategy("replay", **kw)}
    stream = ll.load_scenario("split-mnist", seed=0)
    for build in make.values():  # warm-up, one epoch a task: first-call costs (imports, kernels) fall on no one
        ll.run(build(epochs=1), stream, seed=0)
    times = {name: [] for name in make}
    for _ in range(args.repeats):
        for name, build in make.items():
            times[name].append(train_times(build(), stream))

    print(f"split-mnist (seed 0), presets {args.agent}{' ' + str(changes) if changes else ''} and replay, "
          f"1 thread, {args.repeats} rounds (torch {torch.__version__})")
    print(f"{'strategy':<8} {'per task, s (median over rounds)':<44} {'total s':>8}")
    for name, runs in times.items():
        per_task = [statistics.median(r[i] for r in runs) for i in range(len(runs[0]))]
        totals = ", ".join(f"{sum(r):.1f}" for r in runs)
        print(f"{name:<8} {' '.join(f'{t:6.2f}' for t in per_task):<44} {totals:>8}")
    ratios = [sum(a) / sum(r) for a, r in zip(times["agent"], times["replay"])]
    print("per round: " + ", ".join(f"{r:.2f}" for r in ratios))
    print(f"agent/replay = {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
