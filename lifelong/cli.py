"""The ``lifelong`` command.

A user's mistake (unknown preset, bad YAML, out-of-range value) prints one line
naming the file, the field and the value, exits with code 2, and writes nothing.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

from lifelong.config import ConfigError, list_presets, parse_yaml
from lifelong.reporting.text import format_result
from lifelong.events import Observer
from lifelong.strategies.base import NonFiniteLoss

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        raise ConfigError(message)


def _parse_overrides(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("expected FIELD=VALUE", field="--set", value=item)
        try:
            overrides[key] = parse_yaml(value)
        except yaml.YAMLError:
            raise ConfigError("value is not valid YAML", field=f"--set {key}", value=value) from None
    return overrides


def _parse_shots(text: str):
    """``"1,5,10"`` -> [1, 5, 10]; ``"none"`` -> None (few-shot evaluation off)."""
    if text.strip().lower() in ("none", "off", "0"):
        return None
    try:
        shots = [int(k) for k in text.split(",")]
    except ValueError:
        shots = []
    if not shots or min(shots) < 1:
        raise ConfigError("expected comma-separated positive K values, or none", field="--shots", value=text)
    return shots


def cmd_run(args) -> int:
    import lifelong as ll

    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError("exists and is not a folder", field="--out", value=str(out))
    from lifelong.evaluation import standard_evaluators

    stream = ll.load_scenario(args.scenario, seed=args.seed)
    strategy = ll.load_strategy(args.strategy, **_parse_overrides(args.set))
    shots = _parse_shots(args.shots)
    if args.draws < 1:
        raise ConfigError("expected a positive number of support draws", field="--draws", value=args.draws)
    if args.lca < 0:
        raise ConfigError("expected a non-negative number of mini-batches", field="--lca", value=args.lca)
    continual = None
    if args.subset is not None and args.every is None:
        raise ConfigError("needs --every (continual evaluation is off without it)", field="--subset",
                          value=args.subset)
    if args.every is not None:
        from lifelong.evaluation.continual import invalid_setting

        continual = {"every": args.every, **({} if args.subset is None else {"subset": args.subset})}
        bad = invalid_setting(continual)
        if bad is not None:
            raise ConfigError(f"expected an integer of at least {bad[2]}", field=f"--{bad[0]}", value=bad[1])

    measure = stream.measure

    if args.matrix_every < 1:
        raise ConfigError("expected a positive number of tasks", field="--matrix-every", value=args.matrix_every)

    def progress(i, scores, train_s):
        seen = scores[: i + 1]
        what, value = (f"mean {measure.label} on tasks seen", sum(seen) / len(seen)) if None not in seen else \
            (f"{measure.label} on it", scores[i])  # a row measured in part (--matrix-every)
        print(f"  task {i + 1}/{len(stream)} trained in {train_s:.1f}s; {what} {measure.format(value, 0)}"
              f"{measure.unit}", file=sys.stderr, flush=True)

    device = _device(args.device)
    loggers = _run_loggers(args, out)
    strategy.setup(stream.info, seed=args.seed)  # a method refuses a stream it cannot learn here, before any output
    print(f"running {args.strategy} on {args.scenario} ({len(stream)} tasks), seed {args.seed}", file=sys.stderr)
    evaluators = standard_evaluators(None if shots is None else {"shots": shots, "draws": args.draws}, args.lca,
                                     continual)
    if sys.stderr.isatty():
        evaluators.append(_TaskBar())
    result = ll.run(strategy, stream, seed=args.seed, device=device, progress=progress, evaluators=evaluators,
                    loggers=loggers, matrix_every=args.matrix_every)
    print(format_result(result))
    if out is not None:
        path = result.save(out / "result.json")
        print(f"wrote {path}")
    return 0


def _run_loggers(args, out: Path | None) -> list:
    """``--logger`` NAME ... writing under ``--log-dir`` (default: ``<--out>/logs``, else ``logs``)."""
    if not args.logger:
        return []
    from lifelong.loggers import build_loggers, check_loggers

    check_loggers(args.logger, field="--logger")
    if args.log_every < 1:
        raise ConfigError("expected a positive number of steps", field="--log-every", value=args.log_every)
    folder = Path(args.log_dir) if args.log_dir else (out / "logs" if out is not None else Path("logs"))
    return build_loggers(args.logger, folder, every=args.log_every, experiment="lifelong-run")


class _TaskBar(Observer):
    """On a terminal: the task being learned as a bar of its optimisation steps (a count where the
    learner cannot say how many it will take), redrawn at most every 0.2 s; the plain line that
    ``progress`` prints at the task's end replaces it."""

    WIDTH = 30

    def on_task_start(self, ctx, task):
        online = ctx.stream.online
        self.total = -(-ctx.stream[task].n_train // online.batch_size) if online is not None \
            else ctx.strategy.planned_steps(ctx.stream[task])
        self.task, self.n, self.t0, self.drawn = task, len(ctx.stream), time.perf_counter(), 0.0

    def on_step(self, ctx, task, step, loss):
        now = time.perf_counter()
        if now - self.drawn < 0.2:
            return
        self.drawn = now
        bar = ""
        if self.total:
            full = min(self.WIDTH, self.WIDTH * step // self.total)
            bar = f"[{'#' * full}{'.' * (self.WIDTH - full)}] "
        done = f"{step}/{self.total}" if self.total else str(step)
        print(f"\r  task {self.task + 1}/{self.n} {bar}{done} steps, {now - self.t0:.0f}s, loss {loss.item():.3f}"
              .ljust(78), end="", file=sys.stderr, flush=True)

    def on_task_end(self, ctx, task):
        if self.drawn:
            print("\r" + " " * 78 + "\r", end="", file=sys.stderr, flush=True)


def _device(name: str | None):
    """The torch device ``--device`` names, checked before anything runs (None: the run's default)."""
    if name is None:
        return None
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError("expected cpu, cuda, cuda:N or mps", field="--device", value=name)
    available = {"cpu": 1, "cuda": torch.cuda.device_count(), "mps": int(torch.backends.mps.is_available())}
    if (device.index or 0) >= available[device.type]:
        raise ConfigError(f"this machine has {available[device.type]} {device.type} device(s)", field="--device",
                          value=name)
    return device


def _duration(seconds) -> str:
    if seconds is None:
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


class _ProgressLine:
    """Runs done / running / failed and the ETA, on one refreshed line when stderr is a terminal."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.last = None

    def __call__(self, p) -> None:
        resumed = f", {p.resumed} resumed from checkpoints" if p.resumed else ""
        text = (f"runs: {p.skipped + p.done}/{p.total} done ({p.skipped} from before{resumed}), {p.running} running, "
                f"{p.failed} failed, ETA {_duration(p.eta_s)}")
        if self.tty:
            print("\r" + text.ljust(90), end="" if p.running else "\n", file=sys.stderr, flush=True)
        elif text.split(", ETA")[0] != self.last:
            print(text, file=sys.stderr, flush=True)
        self.last = text.split(", ETA")[0]


def cmd_compare(args) -> int:
    from lifelong.experiment.compare import compare
    from lifelong.experiment.executors import with_flags
    from lifelong.experiment.spec import load_experiment

    experiment = load_experiment(args.experiment)
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("expected a positive number of worker processes", field="--jobs", value=args.jobs)
    print(f"experiment {experiment.name!r}: {len(experiment.scenarios)} scenario(s) x {len(experiment.strategies)} "
          f"strategies x {len(experiment.seeds)} seeds", file=sys.stderr)
    folder = compare(experiment, out=args.out, jobs=args.jobs, retry_failed=args.retry_failed,
                     on_progress=_ProgressLine(), executor=with_flags(experiment.executor, args.executor, args.address))
    return _show_report(folder)


def cmd_report(args) -> int:
    from lifelong.experiment.compare import report

    report(args.folder)
    return _show_report(Path(args.folder))


def _show_report(folder: Path) -> int:
    from lifelong.experiment.store import Store

    print(f"report written to {folder}/ (index.html, README.md, figures/, tables/)")
    for r in Store(folder / "runs.sqlite").results():
        if r.status == "failed":
            print(f"  failed: {r.strategy} on {r.scenario}, seed {r.seed}: {r.error}", file=sys.stderr)
    print((folder / "tables" / "metrics.md").read_text())
    return 0


def cmd_list(args) -> int:
    """The presets; a scenario whose dataset is read from disk says so when its files are not there."""
    from lifelong.scenarios import data_missing

    for kind in ("scenarios", "strategies"):
        presets = list_presets(kind)
        print(f"{kind}:")
        width = max((len(n) for n, _ in presets), default=0)
        for name, description in presets:
            absent = data_missing(name) if kind == "scenarios" else None
            print(f"  {name:<{width}}  {description}" + (f" [data not found: {absent}]" if absent else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lifelong", description="Continual learning and meta-learning on task streams.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="one strategy on one stream with one seed")
    r.add_argument("--scenario", required=True, help="scenario preset name or YAML path (see `lifelong list`)")
    r.add_argument("--strategy", required=True, help="strategy preset name or YAML path")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", help="folder to write result.json into")
    r.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    r.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a strategy field, e.g. --set lr=0.1 (repeatable)")
    r.add_argument("--shots", default="1,5,10", metavar="K,K,...",
                   help="few-shot adaptation at each task's arrival with these K (default 1,5,10); none: off")
    r.add_argument("--draws", type=int, default=5, help="support sets drawn per task and K (default 5)")
    r.add_argument("--lca", type=int, default=10, metavar="BETA",
                   help="learning-curve area over the first BETA mini-batches of each task (default 10)")
    r.add_argument("--every", type=int, metavar="N",
                   help="continual evaluation: score every seen task every N optimisation steps (default: off)")
    r.add_argument("--subset", type=int, metavar="M",
                   help="with --every: test samples per task that continual evaluation scores (default 1000)")
    r.add_argument("--matrix-every", type=int, default=1, metavar="K",
                   help="score every task after every K-th task only (and the last), the task just learned and "
                        "the next after the others: for long streams (default 1)")
    r.add_argument("--logger", action="append", default=[], metavar="NAME",
                   help="log to tensorboard, wandb, mlflow or csv (repeatable)")
    r.add_argument("--log-every", type=int, default=10, metavar="N",
                   help="with --logger: the training loss every N steps (default 10)")
    r.add_argument("--log-dir", metavar="DIR", help="where the loggers write (default: OUT/logs, else logs)")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compare", help="an experiment grid (scenarios x strategies x seeds) and its report")
    c.add_argument("experiment", nargs="?", help="experiment YAML file (default: the embedded default experiment)")
    c.add_argument("--out", help="output folder (default: reports/<experiment name>)")
    c.add_argument("--jobs", type=int, help="worker processes (default: the number of cores)")
    c.add_argument("--retry-failed", action="store_true", help="rerun runs recorded as failed")
    c.add_argument("--executor", choices=("local", "ray"),
                   help="where runs execute: local processes (default) or Ray tasks (pip install 'lifelong[ray]')")
    c.add_argument("--address", help="the Ray cluster to join: auto or HOST:PORT (default: RAY_ADDRESS, else a "
                                     "local Ray instance); implies --executor ray")
    c.set_defaults(func=cmd_compare)

    rp = sub.add_parser("report", help="rebuild an experiment's figures and tables from its store, without training")
    rp.add_argument("folder", help="the experiment's output folder (holding runs.sqlite)")
    rp.set_defaults(func=cmd_report)

    ls = sub.add_parser("list", help="the scenario and strategy presets")
    ls.set_defaults(func=cmd_list)
    return p


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except ConfigError as e:
        print(f"lifelong: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except NonFiniteLoss as e:
        print(f"lifelong: run failed: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lifelong: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
