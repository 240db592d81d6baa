"""TPE proposals for a search (``sampler: tpe``), through Optuna: an optional extra,
``pip install 'lifelong[optuna]'``, imported only when a search asks for it.

Optuna's TPE sampler (Bergstra et al. 2011), seeded, with ``max(2, budget // 4)`` random startup
candidates. A study is told the utility of each candidate (its validation score, negated when lower
is better), or that it failed; candidates of a round are proposed together, before any is scored.
"""
from __future__ import annotations

import importlib.util

from lifelong.config import ConfigError


def require_optuna(field: str) -> None:
    if importlib.util.find_spec("optuna") is None:
        raise ConfigError("needs the optuna package: pip install 'lifelong[optuna]'", field=field, value="tpe")


class Study:
    def __init__(self, search, seed: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the library does not print
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, search.budget // 4))
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self.space, self.pending = search.space, []

    def ask(self, n: int) -> list[dict]:
        self.pending = [self.study.ask() for _ in range(n)]
        return [{f: _suggest(trial, f, d) for f, d in self.space.items()} for trial in self.pending]

    def tell(self, utilities: list[float | None]) -> None:
        from optuna.trial import TrialState

        for trial, u in zip(self.pending, utilities):
            if u is None:
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.study.tell(trial, u)
        self.pending = []


def _suggest(trial, name: str, d: dict):
    if "choices" in d:
        return trial.suggest_categorical(name, d["choices"])
    (kind, (low, high)), = d.items()
    if kind == "int":
        return trial.suggest_int(name, low, high)
    return trial.suggest_float(name, low, high, log=kind == "log_uniform")
