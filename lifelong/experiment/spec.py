"""Experiment files: scenarios x strategies x seeds, validated, and expanded into a grid of runs.

    name: my-experiment
    scenarios: [split-mnist]
    strategies:
      - naive
      - replay
      - {preset: replay, label: replay-500, buffer_size: 500}   # a preset with overrides
    seeds: 3                  # or a list: [0, 1, 2]
    reference: naive          # paired comparisons against this strategy (optional)
    fewshot: {shots: [1, 5, 10], draws: 5}   # few-shot adaptation at each task's arrival; false: off
    lca: 10                   # learning-curve area over the first 10 mini-batches of each task; false: off
    continual: {every: 10, subset: 1000, window: 10}  # continual evaluation (true: these); false (default): off
    matrix_every: 10          # long streams: every task scored after every 10th task only (and the last); in
                              # between, the task just learned and the next (default 1: after every task)
    checkpoint_every: 500     # task-free streams also checkpoint every 500 steps (optional; not part of
                              # the experiment's identity: a resumed experiment may change it)
    loggers: [tensorboard, csv]   # also wandb, mlflow: each run logs under <out>/logs/ (optional; not part
    log_every: 10                 # of the identity either); the training loss every 10 steps
    executor: local           # or ray, or {ray: {address: auto, cpus_per_run: 1, gpus_per_run: 0}}
                              # (lifelong.experiment.executors; not part of the identity either)
    out: reports/my-experiment  # optional; default reports/<name>
    main_table: [acc, forgetting, bwt, fewshot_at_arrival_5]  # the main table's columns (this is the default)
    upper_bounds: [joint]     # shown in the tables but never marked best (optional)
    search: {replay: {space: {lr: {log_uniform: [1.0e-4, 0.1]}}, budget: 8}}  # tuned on validation data
                              # held out from the training sets (lifelong.experiment.search)
    # with a Joint upper bound, the tables add intransigence (and main_table may name it)

``lifelong compare`` with no file runs the embedded default (``default.yaml`` in this package).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from lifelong.config import ConfigError, NonNegInt, PositiveInt, check_value, find_preset, load_yaml
from lifelong.evaluation.continual import DEFAULTS as CONTINUAL_DEFAULTS, invalid_setting
from lifelong.evaluation.measures import MEASURES, is_metric
from lifelong.experiment.executors import ExecutorSetting, executor_setting
from lifelong.experiment.search import Search, parse_search, search_seeds
from lifelong.loggers import DEFAULT_EVERY, check_loggers
from lifelong.strategies import build_strategy, strategy_class
from lifelong.version import __version__

DEFAULT = Path(__file__).with_name("default.yaml")
FIELDS = ("name", "description", "scenarios", "strategies", "seeds", "reference", "fewshot", "lca", "continual",
          "matrix_every", "checkpoint_every", "loggers", "log_every", "executor", "search", "out", "main_table",
          "upper_bounds")
SUMMARY_METRICS = sorted({key for m in MEASURES.values() for key in m.metrics})  # what a search may optimise
FEWSHOT_DEFAULT = {"shots": [1, 5, 10], "draws": 5}
LCA_DEFAULT = 10


@dataclass(frozen=True)
class StrategyEntry:
    label: str  # how the strategy is named in tables and figures
    spec: dict  # the resolved preset fields: strategy class name + every parameter


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid."""

    scenario: str
    strategy: StrategyEntry
    seed: int
    fingerprint: str  # of the stream this scenario and seed give
    evaluators: tuple = ()  # standard_evaluators' arguments: (fewshot or None, lca or None[, continual])
    checkpoint_every: int | None = None  # steps between checkpoints inside a task-free stream (not in the key)
    logging: dict | None = None  # {"loggers", "every", "experiment"}: build_loggers' arguments (not in the key)
    search: dict | None = None  # a search candidate's validation stream (validation_stream's arguments); None: a run
    matrix_every: int = 1  # whole rows of the score matrix every this many tasks (lifelong.run)

    @property
    def key(self) -> str:
        """Identifies the run across restarts: what it runs (scenario, strategy, hyperparameters, seed,
        stream fingerprint, library version, a search cell's validation stream), not where or when."""
        ident = {"scenario": self.scenario, "strategy": self.strategy.label, "spec": self.strategy.spec,
                 "seed": self.seed, "fingerprint": self.fingerprint, "version": __version__,
                 "evaluators": list(self.evaluators), **({"search": self.search} if self.search else {}),
                 **({"matrix_every": self.matrix_every} if self.matrix_every != 1 else {})}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]

    @property
    def role(self) -> str:
        return "search" if self.search else "run"


@dataclass
class Experiment:
    name: str
    scenarios: list[str]
    strategies: list[StrategyEntry]
    seeds: list[int]
    reference: str | None = None
    fewshot: dict | None = None
    lca: int | None = None
    description: str = ""
    out: Path | None = None
    source: str = "default"  # the file it was read from
    main_table: list[str] | None = None  # metric keys of the main table's columns; None: the report's default
    upper_bounds: list[str] | None = None  # strategy labels never marked best
    continual: dict | None = None  # ContinualEvaluation's settings; None: off
    matrix_every: int = 1  # whole rows of the score matrix every this many tasks
    checkpoint_every: int | None = None  # steps between checkpoints in task-free streams; None: after each task
    loggers: list[str] | None = None  # lifelong.loggers names; None: none
    log_every: int = DEFAULT_EVERY  # steps between two training-loss points of the loggers
    executor: ExecutorSetting = ExecutorSetting()  # where the runs execute (not part of the identity)
    search: list[Search] = field(default_factory=list)  # hyperparameter searches, one per strategy at most

    @property
    def logging(self) -> dict | None:
        """A run's build_loggers arguments; None without loggers."""
        return {"loggers": list(self.loggers), "every": self.log_every, "experiment": self.name} \
            if self.loggers else None

    def runs(self, fingerprints: dict[tuple[str, int], str], chosen: dict | None = None) -> list[RunSpec]:
        """The grid, in a fixed order: seed-major, so early results cover every strategy.
        ``fingerprints[(scenario, seed)]`` is the fingerprint of that stream; ``chosen[(scenario, label)]``
        the values a search chose for a strategy on a scenario."""
        # continual evaluation joins the evaluators only when on, so that the keys of earlier runs still match
        evaluators = (self.fewshot, self.lca) + ((self.continual,) if self.continual else ())
        chosen = chosen or {}
        return [RunSpec(sc, with_values(st, chosen.get((sc, st.label), {})), seed, fingerprints[sc, seed], evaluators,
                        self.checkpoint_every, self.logging, matrix_every=self.matrix_every)
                for seed in self.seeds for sc in self.scenarios for st in self.strategies]

    def seeds_to_load(self) -> list[int]:
        """Every seed a stream is made with: the final runs' and the searches'."""
        return sorted(set(self.seeds).union(*(search_seeds(s, self.seeds) for s in self.search)))

    def size(self) -> int:
        """How many runs the grid holds, the searches' included."""
        per_scenario = len(self.seeds) * len(self.strategies) + sum(s.budget * s.seeds for s in self.search)
        return per_scenario * len(self.scenarios)

    def definition(self) -> dict:
        """The resolved definition: written to experiment.yaml and compared on resume. The report fields
        ``main_table``, ``upper_bounds``, ``continual`` and ``matrix_every`` appear only when set, so older
        definitions still compare equal."""
        out = {"name": self.name, "description": self.description, "scenarios": list(self.scenarios),
               "strategies": [{"label": s.label, **s.spec} for s in self.strategies],
               "seeds": list(self.seeds), "reference": self.reference, "fewshot": self.fewshot, "lca": self.lca}
        for key in ("main_table", "upper_bounds"):
            if getattr(self, key) is not None:
                out[key] = list(getattr(self, key))
        if self.continual is not None:
            out["continual"] = dict(self.continual)
        if self.matrix_every != 1:
            out["matrix_every"] = self.matrix_every
        if self.search:
            out["search"] = {s.label: s.definition() for s in self.search}
        return out

    def output_dir(self) -> Path:
        return self.out if self.out is not None else Path("reports") / self.name


def load_experiment(path: str | Path | None = None) -> Experiment:
    """Read and validate an experiment file (the embedded default when ``path`` is None)."""
    file = DEFAULT if path is None else Path(path)
    if path is not None and not file.is_file():
        raise ConfigError("no such file", field="experiment", value=str(path))
    spec = load_yaml(file)
    label = "default experiment" if path is None else file
    try:
        return _build(spec, file, str(label))
    except ConfigError as e:
        raise e.in_file(label) from None


def _build(spec: dict, file: Path, label: str) -> Experiment:
    unknown = sorted(set(spec) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown field (known fields: {', '.join(FIELDS)})", field=unknown[0])
    for required in ("name", "scenarios", "strategies"):
        if required not in spec:
            raise ConfigError("missing required field", field=required)
    name = check_value("name", spec["name"], str)
    if not name or "/" in name or name.startswith("."):
        raise ConfigError("expected a plain folder name", field="name", value=name)

    scenarios = check_value("scenarios", spec["scenarios"], list[str])
    if not scenarios:
        raise ConfigError("expected at least one scenario", field="scenarios", value=scenarios)
    for i, sc in enumerate(scenarios):
        ref = _relative(sc, file)
        try:
            path = find_preset("scenarios", ref)
        except ConfigError as e:
            raise ConfigError(e.message, field=f"scenarios[{i}]", value=sc) from None
        scenarios[i] = str(path.resolve()) if ref != sc or Path(sc).suffix in (".yaml", ".yml") else sc

    entries = check_value("strategies", spec["strategies"], list)
    if not entries:
        raise ConfigError("expected at least one strategy", field="strategies", value=entries)
    strategies = [_strategy_entry(e, f"strategies[{i}]", file) for i, e in enumerate(entries)]
    labels = [s.label for s in strategies]
    duplicate = next((lb for lb in labels if labels.count(lb) > 1), None)
    if duplicate:
        raise ConfigError("two strategies share this label; give one a `label`", field="strategies", value=duplicate)

    seeds = spec.get("seeds", 3)
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = list(range(check_value("seeds", seeds, PositiveInt)))
    else:
        seeds = check_value("seeds", seeds, list[int])
        if not seeds or len(set(seeds)) != len(seeds):
            raise ConfigError("expected a positive count or a list of distinct seeds", field="seeds", value=seeds)

    reference = spec.get("reference")
    if reference is not None and reference not in labels:
        raise ConfigError(f"not one of the strategies ({', '.join(labels)})", field="reference", value=reference)
    fewshot = spec.get("fewshot", FEWSHOT_DEFAULT)
    if fewshot is not False:
        fewshot = check_value("fewshot", fewshot, dict)
        unknown = sorted(set(fewshot) - {"shots", "draws"})
        if unknown:
            raise ConfigError("unknown field (known: shots, draws)", field=f"fewshot.{unknown[0]}")
        shots = check_value("fewshot.shots", fewshot.get("shots", FEWSHOT_DEFAULT["shots"]), list[PositiveInt])
        if not shots:
            raise ConfigError("expected at least one K", field="fewshot.shots", value=shots)
        fewshot = {"shots": shots,
                   "draws": check_value("fewshot.draws", fewshot.get("draws", FEWSHOT_DEFAULT["draws"]), PositiveInt)}
    lca = spec.get("lca", LCA_DEFAULT)
    if lca is not False:
        lca = check_value("lca", lca, NonNegInt)
    continual = _continual(spec.get("continual", False))
    matrix_every = check_value("matrix_every", spec.get("matrix_every", 1), PositiveInt)
    checkpoint_every = spec.get("checkpoint_every")
    if checkpoint_every is not None:
        checkpoint_every = check_value("checkpoint_every", checkpoint_every, PositiveInt)
    loggers = check_loggers(spec["loggers"]) if spec.get("loggers") else None
    log_every = check_value("log_every", spec.get("log_every", DEFAULT_EVERY), PositiveInt)
    executor = executor_setting(spec.get("executor", "local"))
    search = parse_search(spec["search"], {s.label: s.spec for s in strategies}, SUMMARY_METRICS) \
        if spec.get("search") else []
    main_table, upper_bounds = _report_fields(spec, strategies)
    out = spec.get("out")
    if out is not None:
        out = Path(check_value("out", out, str))
        out = out if out.is_absolute() or file == DEFAULT else file.parent / out
    return Experiment(name=name, scenarios=scenarios, strategies=strategies, seeds=seeds, reference=reference,
                      fewshot=fewshot or None, lca=None if lca is False else lca,
                      description=str(spec.get("description", "")), out=out, source=label,
                      main_table=main_table, upper_bounds=upper_bounds, continual=continual, matrix_every=matrix_every,
                      checkpoint_every=checkpoint_every, loggers=loggers, log_every=log_every,
                      executor=executor, search=search)


def _continual(value) -> dict | None:
    """``continual``: false (off), true (the defaults), or a mapping of ``every``, ``subset``, ``window``."""
    if value is False:
        return None
    if value is True:
        return dict(CONTINUAL_DEFAULTS)
    value = check_value("continual", value, dict)
    unknown = sorted(set(value) - set(CONTINUAL_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown field (known: {', '.join(CONTINUAL_DEFAULTS)})", field=f"continual.{unknown[0]}")
    out = {k: value.get(k, d) for k, d in CONTINUAL_DEFAULTS.items()}
    bad = invalid_setting(out)
    if bad is not None:
        raise ConfigError(f"expected an integer of at least {bad[2]}", field=f"continual.{bad[0]}", value=bad[1])
    return out


def _report_fields(spec: dict, strategies: list[StrategyEntry]) -> tuple[list[str] | None, list[str] | None]:
    """``main_table`` (metric keys of the catalogue) and ``upper_bounds`` (strategy labels), None when unset.
    The ``intransigence`` column needs a Joint strategy among the upper bounds: its runs are the reference."""
    labels = [s.label for s in strategies]
    main_table = spec.get("main_table")
    if main_table is not None:
        main_table = check_value("main_table", main_table, list[str])
        if not main_table:
            raise ConfigError("expected at least one metric", field="main_table", value=main_table)
        for key in main_table:
            if not is_metric(key):
                raise ConfigError("not a metric (e.g. acc, bwt, forgetting, fewshot_at_arrival_5, lca)",
                                  field="main_table", value=key)
    upper_bounds = spec.get("upper_bounds")
    if upper_bounds is not None:
        upper_bounds = check_value("upper_bounds", upper_bounds, list[str])
        for name in upper_bounds:
            if name not in labels:
                raise ConfigError(f"not one of the strategies ({', '.join(labels)})", field="upper_bounds",
                                  value=name)
    if "intransigence" in (main_table or []) and not any(
            s.label in (upper_bounds or []) and _is_joint(s.spec["strategy"]) for s in strategies):
        raise ConfigError("needs a Joint strategy among upper_bounds (e.g. upper_bounds: [joint])",
                          field="main_table", value="intransigence")
    return main_table, upper_bounds


def _is_joint(name: str) -> bool:
    """Whether a preset's ``strategy`` is the Joint class, by the class path its results record."""
    cls = strategy_class(name)
    return f"{cls.__module__}.{cls.__qualname__}".endswith(".Joint")


def with_values(entry: StrategyEntry, values: dict, label: str | None = None) -> StrategyEntry:
    """``entry`` with ``values`` for some of its parameters (resolved again), under ``label`` if given."""
    if not values and label is None:
        return entry
    strategy = build_strategy({**entry.spec, **values})
    return StrategyEntry(label or entry.label, {"strategy": entry.spec["strategy"], **strategy.get_params()})


def _relative(name: str, file: Path) -> str:
    """Preset paths in an experiment file are relative to that file; names stay names."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and not p.is_absolute() and file != DEFAULT:
        return str(file.parent / p)
    return name


def _strategy_entry(entry, field: str, file: Path) -> StrategyEntry:
    if isinstance(entry, str):
        entry = {"preset": entry}
    if not isinstance(entry, dict) or "preset" not in entry:
        raise ConfigError("expected a preset name or a mapping with `preset` (and `label`, overrides)",
                          field=field, value=entry)
    entry = dict(entry)
    preset = check_value(f"{field}.preset", entry.pop("preset"), str)
    label = check_value(f"{field}.label", entry.pop("label", Path(preset).stem), str)
    try:
        path = find_preset("strategies", _relative(preset, file))
    except ConfigError as e:
        raise ConfigError(e.message, field=f"{field}.preset", value=preset) from None
    fields = load_yaml(path)
    fields.pop("description", None)
    build_strategy(fields, file=path)  # the preset itself must be valid: errors name its file
    try:
        strategy = build_strategy({**fields, **entry})
    except ConfigError as e:
        raise ConfigError(e.message, field=f"{field}.{e.field}", value=e.value) from None
    resolved = {"strategy": fields["strategy"], **strategy.get_params()}
    return StrategyEntry(label=label, spec=resolved)
