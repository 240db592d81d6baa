"""Streams of 100 tasks: does any per-task cost grow with the task index?

What it measures
----------------
replay, ewc, agem, der and the agent (their presets, 1 epoch a task) on ``permuted-mnist-100``
(domain-incremental, with the MLP: the CNN would take an hour here) and ``split-mnist1d-100``
(class-incremental, 3 new classes a task, the default 1-D CNN). Each run is a fresh process with one
thread, so that its peak resident memory is its own. Per run:

* time100/time10: does training a task cost more after 100 tasks than after 10? The learner's state
  (``state_dict``) is kept after task 10 and after task 100; then, in the same process, learners
  loaded from the two states each train task 11 once, alternately, 9 times over, and the ratio is
  the median of the 9 ratios (what a task costs depends on the learner's state: its memories, the
  classes it has seen; the tasks are alike). Timed side by side, the ratio does not move with the
  machine's load, which the per-task times of the run itself did (a task of split-mnist1d-100
  trains in 0.06-0.2 s); their ratio (the medians of tasks 91-100 over 6-15) is printed too;
* rss100/rss10: the peak resident memory after task 100 over that after task 10;
* the evaluation time per task (the score matrix: every task's test set after each task; 200 images
  a task in permuted-mnist-100, 60 in split-mnist1d-100).

Targets: time100/time10 <= 1.2 and rss100/rss10 <= 1.2 for every run. The last line reads
``time100/time10 = X.XX  rss100/rss10 = Y.YY``, the worst over the runs.

Usage: ``python benchmarks/long_stream.py [--strategies replay,ewc,...] [--scenarios ...]``
"""
from __future__ import annotations

import argparse
import copy
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ("replay", "ewc", "agem", "der", "agent")
SCENARIOS = {"permuted-mnist-100": {"model": "mlp"}, "split-mnist1d-100": {}}
REPEATS = 9


def one_run(scenario: str, strategy: str) -> dict:
    """Run ``strategy`` on ``scenario`` in this process; its per-task times and peak memory."""
    import torch

    sys.path.insert(0, str(ROOT))
    import lifelong as ll

    torch.set_num_threads(1)
    stream = ll.load_scenario(scenario, seed=0)
    rss: list[int] = []  # peak resident memory (KiB) after each task
    learner = ll.load_strategy(strategy, epochs=1, **SCENARIOS[scenario])
    states = {}

    def progress(i, scores, train_s):
        rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        if i + 1 in (10, len(stream)):
            states[i + 1] = copy.deepcopy(learner.state_dict())

    result = ll.run(learner, stream, seed=0, device="cpu", progress=progress)

    def task_time(after: int) -> float:
        """Seconds to train task 11 from the state the learner had after task ``after``."""
        other = ll.load_strategy(strategy, epochs=1, **SCENARIOS[scenario])
        other.setup(stream.info, seed=0, device="cpu")
        other.load_state_dict(copy.deepcopy(states[after]))
        start = time.perf_counter()
        other.fit_task(stream[10])
        return time.perf_counter() - start

    pairs = [(task_time(10), task_time(len(stream))) for _ in range(REPEATS)]  # alternately
    return {"train_s": result.timings["train_s"], "eval_s": result.timings["eval_s"], "rss_kib": rss,
            "acc": result.metrics["acc"], "pairs": pairs}


def summary(run: dict) -> dict:
    train, rss = run["train_s"], run["rss_kib"]
    return {"time100/time10": statistics.median(b / a for a, b in run["pairs"]),
            "in_run": statistics.median(train[90:100]) / statistics.median(train[5:15]),
            "rss100/rss10": rss[99] / rss[9], "eval_s_per_task": statistics.mean(run["eval_s"]),
            "train_s_per_task": statistics.mean(train), "acc": run["acc"], "rss100_mib": rss[99] / 1024}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--one", nargs=2, metavar=("SCENARIO", "STRATEGY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(*args.one)))
        return
    worst = {"time100/time10": 0.0, "rss100/rss10": 0.0}
    print(f"{'scenario':<20} {'strategy':<8} {'time100/10':>10} {'in the run':>10} {'rss100/10':>9} "
          f"{'train s/task':>12} {'eval s/task':>11} {'peak MiB':>8} {'ACC':>6}")
    for scenario in args.scenarios.split(","):
        for strategy in args.strategies.split(","):
            out = subprocess.run([sys.executable, __file__, "--one", scenario, strategy], capture_output=True,
                                 text=True, check=True).stdout
            s = summary(json.loads(out.strip().splitlines()[-1]))
            for k in worst:
                worst[k] = max(worst[k], s[k])
            print(f"{scenario:<20} {strategy:<8} {s['time100/time10']:>10.2f} {s['in_run']:>10.2f} "
                  f"{s['rss100/rss10']:>9.2f} "
                  f"{s['train_s_per_task']:>12.3f} {s['eval_s_per_task']:>11.3f} {s['rss100_mib']:>8.0f} "
                  f"{100 * s['acc']:>6.1f}", flush=True)
    met = all(v <= 1.2 for v in worst.values())
    print(f"targets: time100/time10 <= 1.2 and rss100/rss10 <= 1.2: {'met' if met else 'NOT met'}")
    print(f"time100/time10 = {worst['time100/time10']:.2f}  rss100/rss10 = {worst['rss100/rss10']:.2f}")


if __name__ == "__main__":
    main()
