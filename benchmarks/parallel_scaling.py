"""Throughput of `lifelong compare` with two worker processes against one.

Runs the same grid of 8 runs of equal cost (split-mnist; replay; 8 seeds; MLP,
30 epochs per task, about 8 s a run) into fresh result stores with --jobs 1 and --jobs 2, in one
process, and reports the ratio of wall times. Target: speedup >= 1.7 on 2 cores.
The last line reads `speedup = X.XX`.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lifelong.experiment.compare import prepare, run_experiment  # noqa: E402
from lifelong.experiment.spec import load_experiment  # noqa: E402

GRID = """
name: scaling
scenarios: [split-mnist]
strategies:
  - {{preset: replay, model: mlp, epochs: {epochs}}}
seeds: 8
"""


def timed(experiment, out: Path, jobs: int) -> float:
    start = time.perf_counter()
    store = run_experiment(experiment, out=out, jobs=jobs)
    elapsed = time.perf_counter() - start
    results = store.results()
    assert len(results) == 8 and all(r.status == "finished" for r in results), "the grid did not finish"
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.yaml"
        path.write_text(GRID.format(epochs=args.epochs))
        experiment = load_experiment(path)
        prepare(experiment, Path(tmp) / "warm-up")  # loads the data once, so neither timing pays for it
        one = timed(experiment, Path(tmp) / "jobs1", 1)
        two = timed(experiment, Path(tmp) / "jobs2", 2)
    speedup = one / two
    print(f"8 runs: --jobs 1 {one:.1f}s, --jobs 2 {two:.1f}s")
    print(f"target speedup >= 1.70: {'met' if speedup >= 1.7 else 'NOT met'}")
    print(f"speedup = {speedup:.2f}")


if __name__ == "__main__":
    main()
