"""Hyperparameter search that keeps the test sets out of every choice.

    search:
      replay:                                   # a strategy label of the experiment
        space:
          lr: {log_uniform: [1.0e-4, 1.0e-1]}   # also {uniform: [a, b]}, {int: [a, b]}, or a list of values
          buffer_size: [100, 200, 500]
        sampler: random          # grid (every combination; lists only) | random | tpe (Optuna: lifelong[optuna])
        budget: 8                # candidates (grid: its number of combinations, the default)
        protocol: first-tasks    # or split (see below)
        validation_tasks: 3      # first-tasks: how many of the stream's first tasks the search sees
        validation_split: 0.1    # the share of each task's training samples held out to score candidates
        seeds: 1                 # search seeds, numbered after the experiment's: never a final seed
        metric: acc              # what the choice optimises on the validation data (its direction is the metric's)
        parallel: 4              # tpe: candidates proposed at once, each round after the last one's scores

Both protocols score candidates on data held out from the training sets; no test set is read:

* ``first-tasks``: Chaudhry et al. 2019 (A-GEM, Sec. 5): a separate validation stream, made of the
  stream's first ``validation_tasks`` tasks, where each task's held-out training samples stand in
  for its test set. The final seeds then run on the full stream.
* ``split``: every task of the stream keeps a ``validation_split`` share of its training samples
  apart (per class) and is scored on it.

Each candidate on each scenario and search seed is a cell of the grid (recorded with the role
``search``, its label ``<label>-search<i>``), so a search is stored, resumes and runs on either
executor. The choice, per scenario and strategy, is the candidate with the best mean validation
score over the search seeds (a candidate with a failed run is never chosen; ties go to the earlier
one); the final runs train on the whole training sets with its values. Candidates depend only on
the search's fields and seeds: random ones are drawn from a generator seeded by them, and TPE
proposes in rounds, told the scores in candidate order, so the choice does not depend on the
executor or on which run finished first.
"""
from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from lifelong.config import ConfigError, PositiveInt, check_value

SAMPLERS = ("grid", "random", "tpe")
PROTOCOLS = ("first-tasks", "split")
RANGES = ("uniform", "log_uniform", "int")
FIELDS = ("space", "sampler", "budget", "protocol", "validation_tasks", "validation_split", "seeds", "metric",
          "parallel")
DEFAULTS = {"protocol": "first-tasks", "validation_tasks": 3, "validation_split": 0.1, "seeds": 1, "metric": "acc",
            "parallel": 4}


@dataclass(frozen=True)
class Search:
    """One strategy's search, validated."""

    label: str
    space: dict  # field -> {"choices": [...]} | {"uniform" | "log_uniform" | "int": [low, high]}
    sampler: str
    budget: int
    protocol: str = DEFAULTS["protocol"]
    validation_tasks: int = DEFAULTS["validation_tasks"]
    validation_split: float = DEFAULTS["validation_split"]
    seeds: int = DEFAULTS["seeds"]
    metric: str = DEFAULTS["metric"]
    parallel: int = DEFAULTS["parallel"]

    def definition(self) -> dict:
        return {k: getattr(self, k) for k in FIELDS}

    @property
    def validation(self) -> dict:
        """How a search cell's stream is made from the scenario's (RunSpec.search)."""
        tasks = self.validation_tasks if self.protocol == "first-tasks" else None
        return {"protocol": self.protocol, "tasks": tasks, "split": self.validation_split}


def parse_search(value, strategies: dict, measures) -> list[Search]:
    """The ``search`` block: strategy label -> its search. ``strategies``: label -> resolved spec;
    ``measures``: the summary metrics a candidate can be scored by."""
    from lifelong.strategies import build_strategy

    value = check_value("search", value, dict)
    out = []
    for label, block in value.items():
        where = f"search.{label}"
        if label not in strategies:
            raise ConfigError(f"not one of the strategies ({', '.join(strategies)})", field="search", value=label)
        block = check_value(where, block, dict)
        unknown = sorted(set(block) - set(FIELDS))
        if unknown:
            raise ConfigError(f"unknown field (known: {', '.join(FIELDS)})", field=f"{where}.{unknown[0]}")
        space = {f: _dimension(f"{where}.space.{f}", d) for f, d in check_value(f"{where}.space", block.get("space"),
                                                                              dict).items()}
        if not space:
            raise ConfigError("expected at least one field to search", field=f"{where}.space", value={})
        for f, d in space.items():  # each end of each range must be a valid value of the strategy
            for v in d.get("choices") or next(iter(d.values())):
                try:
                    build_strategy({**strategies[label], f: v})
                except ConfigError as e:
                    raise ConfigError(e.message, field=f"{where}.space.{f}", value=v) from None
        sampler = block.get("sampler", "grid" if all("choices" in d for d in space.values()) else "random")
        if sampler not in SAMPLERS:
            raise ConfigError(f"expected one of {', '.join(SAMPLERS)}", field=f"{where}.sampler", value=sampler)
        if sampler == "grid" and not all("choices" in d for d in space.values()):
            raise ConfigError("a grid needs a list of values for every field", field=f"{where}.sampler", value="grid")
        combinations = math.prod(len(d["choices"]) for d in space.values()) if sampler == "grid" else None
        if sampler == "tpe":
            from lifelong.experiment.tpe import require_optuna
            require_optuna(f"{where}.sampler")
        if "budget" not in block and sampler != "grid":
            raise ConfigError("missing required field (the number of candidates)", field=f"{where}.budget")
        budget = check_value(f"{where}.budget", block.get("budget", combinations), PositiveInt)
        if sampler == "grid" and budget != combinations:
            raise ConfigError(f"a grid has {combinations} combinations here; leave budget out or make it that",
                              field=f"{where}.budget", value=budget)
        s = {k: block.get(k, d) for k, d in DEFAULTS.items()}
        if s["protocol"] not in PROTOCOLS:
            raise ConfigError(f"expected one of {', '.join(PROTOCOLS)}", field=f"{where}.protocol",
                              value=s["protocol"])
        for k in ("validation_tasks", "seeds", "parallel"):
            check_value(f"{where}.{k}", s[k], PositiveInt)
        split = s["validation_split"]
        if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split < 1:
            raise ConfigError("expected a share between 0 and 1", field=f"{where}.validation_split", value=split)
        if s["metric"] not in measures:
            raise ConfigError(f"not a summary metric ({', '.join(sorted(measures))})", field=f"{where}.metric",
                              value=s["metric"])
        out.append(Search(label, space, sampler, budget, **s))
    return out


def _dimension(where: str, d) -> dict:
    if isinstance(d, list):
        if not d:
            raise ConfigError("expected at least one value", field=where, value=d)
        return {"choices": d}
    if isinstance(d, dict) and len(d) == 1 and next(iter(d)) in RANGES:
        kind, ends = next(iter(d.items()))
        number = int if kind == "int" else (int, float)
        if (not isinstance(ends, list) or len(ends) != 2 or any(isinstance(v, bool) or not isinstance(v, number)
                                                                 for v in ends) or ends[0] >= ends[1]
                or (kind == "log_uniform" and ends[0] <= 0)):
            raise ConfigError(f"expected [low, high] with low < high{' and low > 0' if kind == 'log_uniform' else ''}",
                              field=f"{where}.{kind}", value=ends)
        return {kind: list(ends)}
    raise ConfigError(f"expected a list of values or one of {{{': [low, high]}, {'.join(RANGES)}: [low, high]}}",
                      field=where, value=d)


def search_seeds(search: Search, final_seeds: list[int]) -> list[int]:
    """The seeds of a search's cells: after the experiment's, so that no final run's seed is tuned on."""
    return [max(final_seeds) + 1 + i for i in range(search.seeds)]


def _rounded(v):
    return float(f"{v:.4g}") if isinstance(v, float) else v


@dataclass
class Proposer:
    """The candidates of one search on one scenario, proposed in rounds and told their scores."""

    search: Search
    seed: int
    candidates: list[dict] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)

    def __post_init__(self):
        if self.search.sampler == "tpe":
            from lifelong.experiment.tpe import Study
            self.study = Study(self.search, self.seed)

    def ask(self) -> list[dict]:
        """The next round of candidates (none once the budget is spent)."""
        left = self.search.budget - len(self.candidates)
        if left <= 0 or len(self.scores) < len(self.candidates):
            return []
        if self.search.sampler == "grid":
            fields = list(self.search.space)
            new = [dict(zip(fields, values)) for values in
                   itertools.product(*(self.search.space[f]["choices"] for f in fields))]
        elif self.search.sampler == "random":
            rng = np.random.default_rng(self.seed)
            new = [{f: _draw(rng, d) for f, d in self.search.space.items()} for _ in range(left)]
        else:
            new = self.study.ask(min(left, self.search.parallel))
        new = [{f: _rounded(v) for f, v in c.items()} for c in new]
        self.candidates += new
        return new

    def tell(self, scores: list[float | None]) -> None:
        """The utilities of the last round's candidates, in their order (None: a run failed)."""
        if self.search.sampler == "tpe":
            self.study.tell(scores)
        self.scores += scores

    def best(self) -> int | None:
        """The position of the chosen candidate; None when every candidate failed."""
        return best_of(self.scores)


def best_of(utilities: list[float | None]) -> int | None:
    """The position of the highest utility (the earliest among equals); None when there is none."""
    ranked = [(u, -i) for i, u in enumerate(utilities) if u is not None]
    return -max(ranked)[1] if ranked else None


def utility(results, metric: str) -> tuple[float | None, float | None, float | None]:
    """(utility, mean, std) of one candidate's search runs on one scenario (one a seed): the mean of its
    metric over the seeds, negated for the utility when lower is better; Nones when a run failed."""
    from lifelong.evaluation.measures import measure

    if not results or any(r.status != "finished" for r in results):
        return None, None, None
    m = measure(results[0].metric)
    key = m.counterpart(metric)
    values = [r.metrics.get(key) for r in results]
    if any(v is None or not math.isfinite(v) for v in values):
        return None, None, None
    mean, std = float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return (mean if m.metric(key).higher_is_better else -mean), mean, std


def _draw(rng: np.random.Generator, d: dict):
    if "choices" in d:
        return d["choices"][int(rng.integers(len(d["choices"])))]
    (kind, (low, high)), = d.items()
    if kind == "int":
        return int(rng.integers(low, high + 1))
    if kind == "log_uniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


def proposer_seed(search: Search, seed: int) -> int:
    """A proposer's generator seed, from what it searches (not from the scenario, so that every scenario starts
    from the same candidates, nor from where or when it runs)."""
    text = f"{search.label}|{seed}|{sorted(search.space.items())}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def validation_stream(stream, *, protocol: str, tasks: int | None, split: float, seed: int):
    """The stream a search cell learns: the scenario's first ``tasks`` tasks (all when None), each with
    a ``split`` share of its training samples, per class, held out and put in place of its test set."""
    from dataclasses import replace

    from lifelong.scenarios.stream import Task

    if tasks is not None and tasks >= len(stream):
        raise ConfigError(f"the stream has {len(stream)} tasks: the first-tasks protocol needs more than "
                          "validation_tasks", field="validation_tasks", value=tasks)
    kept = []
    for task in stream.tasks[:tasks]:
        g = torch.Generator().manual_seed(seed * 100_003 + task.index)
        y = task.y_train.cpu()
        groups = [torch.nonzero(y == c).flatten() for c in task.classes] if task.classes else [torch.arange(len(y))]
        held = []
        for idx in groups:
            idx = idx[torch.randperm(len(idx), generator=g)]
            held.append(idx[:max(1, round(split * len(idx)))] if len(idx) > 1 else idx[:0])
        held = torch.cat(held).sort().values.to(task.x_train.device)
        train = torch.ones(len(y), dtype=torch.bool, device=task.x_train.device)
        train[held] = False
        kept.append(Task(task.index, task.x_train[train], task.y_train[train], task.x_train[held],
                         task.y_train[held], task.classes, task.task_label, dict(task.metadata)))
    validation = {"protocol": protocol, "tasks": tasks, "split": split}
    return replace(stream, tasks=tuple(kept), held_out=(),
                   definition={**stream.definition, "validation": validation})


def run_search(experiment, fingerprints: dict, run_cells, store) -> dict[tuple[str, str], dict]:
    """Run every search of ``experiment`` round by round with ``run_cells`` (which runs RunSpecs not yet
    recorded in ``store``); returns the chosen values per (scenario, strategy label), ``{}`` where every
    candidate failed (the final runs keep the preset's values)."""
    from lifelong.experiment.spec import RunSpec, with_values

    entries = {s.label: s for s in experiment.strategies}
    proposers = {(sc, s.label): Proposer(s, proposer_seed(s, search_seeds(s, experiment.seeds)[0]))
                 for sc in experiment.scenarios for s in experiment.search}
    while True:
        rounds = {}  # (scenario, label) -> one list of cells (a search seed each) per candidate
        for (sc, label), p in proposers.items():
            first = len(p.candidates)
            rounds[sc, label] = [
                [RunSpec(sc, with_values(entries[label], values, f"{label}-search{i + 1}"), seed, fingerprints[sc, seed],
                         (), experiment.checkpoint_every, experiment.logging, p.search.validation,
                         experiment.matrix_every)
                 for seed in search_seeds(p.search, experiment.seeds)]
                for i, values in enumerate(p.ask(), first)]
        cells = [c for per in rounds.values() for candidate in per for c in candidate]
        if not cells:
            break
        run_cells(cells)
        for key, per in rounds.items():
            if per:
                metric = proposers[key].search.metric
                proposers[key].tell([utility([store.result(c.key) for c in candidate], metric)[0]
                                     for candidate in per])
    return {key: p.candidates[p.best()] if p.best() is not None else {} for key, p in proposers.items()}
