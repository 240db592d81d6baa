"""Throughput of `lifelong compare` on Ray (2 CPUs) against local worker processes (--jobs 2).

After an untimed 1-epoch grid on each executor (the first grid of a process pays for file caches
and first worker starts, the local one's and Ray's alike), runs the same grid of 8 runs of equal cost (split-mnist; replay; 8 seeds; MLP, 20 epochs per
task, 10-15 s a run) into fresh result stores, ``--repeats`` times each (4: on a shared machine the
same grid's time varies by 20% between repeats), alternately with the local executor on 2 workers
and with the Ray executor on a fresh 2-CPU local Ray instance for each repeat, started before
the clock starts, as a cluster is (its start and shutdown, a few seconds that
`lifelong compare --executor ray` without a cluster pays once, are printed apart). The instance
runs its workers at niceness 0, as the one `--executor ray` starts and a cluster started as the
README says do (Ray's default, 15, lets every other process of the machine take their CPU). Target: Ray
reaches at least 0.9x the local throughput. The last line reads `ray/local = X.XX` (the ratio of
the summed wall times of the grids, local over Ray). Beside each grid's time it prints half the sum of
its runs' own times (``total_s``): what the grid would take with no gap between runs, to tell time
lost around the runs from runs that ran slower.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lifelong.experiment.compare import prepare, run_experiment  # noqa: E402
from lifelong.experiment.executors import ExecutorSetting  # noqa: E402
from lifelong.experiment.ray_executor import LOCAL_INSTANCE  # noqa: E402
from lifelong.experiment.spec import load_experiment  # noqa: E402

GRID = """
name: ray-scaling
scenarios: [split-mnist]
strategies:
  - {{preset: replay, model: mlp, epochs: {epochs}}}
seeds: 8
"""


def timed(experiment, out: Path, executor: str) -> tuple[float, float, float]:
    """Seconds the grid took, (Ray) seconds to start and stop the local instance around it, and the
    seconds the runs themselves took (their ``total_s``), summed."""
    import ray

    start = time.perf_counter()
    if executor == "ray":
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _system_config=LOCAL_INSTANCE)
    ready = time.perf_counter()
    try:
        store = run_experiment(experiment, out=out, jobs=2, executor=ExecutorSetting(executor))
    finally:
        done = time.perf_counter()
        if executor == "ray":
            ray.shutdown()
    results = store.results()
    assert len(results) == 8 and all(r.status == "finished" for r in results), "the grid did not finish"
    return done - ready, (ready - start) + (time.perf_counter() - done), sum(r.timings["total_s"] for r in results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=4, help="timed pairs, in alternating order")
    args = parser.parse_args()
    seconds, inside, setup = {"local": [], "ray": []}, {"local": [], "ray": []}, []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.yaml"
        path.write_text(GRID.format(epochs=args.epochs))
        experiment = load_experiment(path)
        prepare(experiment, Path(tmp) / "warm-up")  # loads the data once, so neither timing pays for it
        path.write_text(GRID.format(epochs=1))
        for executor in ("local", "ray"):  # an untimed first grid each: file caches, first worker starts
            timed(load_experiment(path), Path(tmp) / f"warm-up-{executor}", executor)
        for r in range(args.repeats):
            for executor in ("local", "ray") if r % 2 == 0 else ("ray", "local"):
                grid, overhead, runs = timed(experiment, Path(tmp) / f"{executor}{r}", executor)
                seconds[executor].append(grid)
                inside[executor].append(runs)
                if executor == "ray":
                    setup.append(overhead)
    ratio = sum(seconds["local"]) / sum(seconds["ray"])
    for executor, times in seconds.items():
        print(f"8 runs, {executor}: " + ", ".join(f"{t:.1f}s" for t in times) + "; the runs' own time over 2: "
              + ", ".join(f"{t / 2:.1f}s" for t in inside[executor]))
    print("starting and stopping the local Ray instance (not in the ratio): " + ", ".join(f"{t:.1f}s" for t in setup))
    print(f"target ray/local >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'}")
    print(f"ray/local = {ratio:.2f}")


if __name__ == "__main__":
    main()
