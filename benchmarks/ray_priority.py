"""Why a Ray cluster for lifelong runs its workers at niceness 0: two CPU-bound jobs on 2 CPUs beside one
busy process, as Ray tasks at Ray's default worker niceness (15), as Ray tasks at niceness 0, and in
two local worker processes (the local executor's kind).

Each job is the same pure-Python loop (``--loop`` iterations, one or two seconds alone); the busy process
is another Python loop at the driver's niceness, started before and killed after the measurements, and
ending with the script if it is killed (``--no-busy`` leaves it out). The niceness-0 instance is
configured as ``lifelong compare --executor ray`` configures its own (``LOCAL_INSTANCE``). Each setting runs ``--repeats`` times, the settings interleaved, a
fresh Ray instance of 2 CPUs each time, its workers warmed up before the clock starts. Printed: the
wall time of the two jobs and each job's niceness. Nothing here asserts a target: it shows what
the worker niceness does to a run's share of the CPU when the machine has other work.

Usage: ``python benchmarks/ray_priority.py [--repeats 2] [--loop 30000000] [--no-busy]``
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lifelong.experiment.executors import watch_parent  # noqa: E402
from lifelong.experiment.ray_executor import LOCAL_INSTANCE  # noqa: E402


def job(loop: int) -> int:
    total = 0
    for i in range(loop):
        total += i
    return os.nice(0)


def busy(parent: int) -> None:
    watch_parent(parent)  # a killed benchmark leaves no busy loop behind
    while True:
        pass


def local(loop: int) -> tuple[float, list[int]]:
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(job, [1, 1])  # started and warm, as Ray's are
        start = time.perf_counter()
        nice = pool.map(job, [loop, loop])
        return time.perf_counter() - start, nice


def on_ray(loop: int, system_config: dict | None) -> tuple[float, list[int]]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _system_config=system_config)
    try:
        remote = ray.remote(job)
        ray.get([remote.remote(1) for _ in range(2)])
        start = time.perf_counter()
        nice = ray.get([remote.remote(loop) for _ in range(2)])
        return time.perf_counter() - start, nice
    finally:
        ray.shutdown()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--loop", type=int, default=30_000_000)
    parser.add_argument("--no-busy", action="store_true")
    args = parser.parse_args(argv)
    competitor = None
    if not args.no_busy:
        competitor = multiprocessing.get_context("spawn").Process(target=busy, args=(os.getpid(),), daemon=True)
        competitor.start()
    settings = {"Ray, default niceness": lambda: on_ray(args.loop, None),
                "Ray, worker_niceness 0": lambda: on_ray(args.loop, LOCAL_INSTANCE),
                "local processes": lambda: local(args.loop)}
    try:
        print(f"two jobs on 2 CPUs, {'one busy process beside them' if competitor else 'no other process'}")
        for r in range(args.repeats):
            for name, measure in settings.items():
                seconds, nice = measure()
                print(f"{name:<24} {seconds:5.2f} s   jobs' niceness {nice}", flush=True)
    finally:
        if competitor is not None:
            competitor.kill()


if __name__ == "__main__":
    main()
