"""Strategies, one file each, and the preset loader.

A strategy preset (``strategies/*.yaml``) names its strategy's file
(``strategy: ewc`` is ``lifelong/strategies/ewc.py``, the one Strategy class
defined there; ``strategy: agent`` is the lifelong agent, ``lifelong/agent.py``)
and sets the constructor's keyword parameters; anything not set keeps the
constructor's default.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from pathlib import Path

from lifelong.config import ConfigError, check_params, find_preset, load_yaml, pop_field
from lifelong.models import MODELS
from lifelong.strategies.base import NonFiniteLoss, SGDStrategy, Strategy

NOT_STRATEGIES = {"base", "memory", "episodic"}  # modules of this package that hold no strategy
ELSEWHERE = {"agent": "lifelong.agent"}  # strategies outside this package, by name: their module

__all__ = ["Strategy", "SGDStrategy", "NonFiniteLoss", "strategy_names", "strategy_class", "load_strategy",
           "build_strategy"]


@functools.lru_cache(maxsize=None)
def strategy_names() -> tuple[str, ...]:
    """Every strategy, by the name of its file."""
    here = {m.name for m in pkgutil.iter_modules(__path__) if m.name not in NOT_STRATEGIES}
    return tuple(sorted(here | set(ELSEWHERE)))


def strategy_class(name: str) -> type[Strategy]:
    """The Strategy class defined in ``lifelong/strategies/<name>.py`` (or in the module ``ELSEWHERE`` names)."""
    if name not in strategy_names():
        raise ConfigError(f"unknown strategy (known: {', '.join(strategy_names())})", field="strategy", value=name)
    module = importlib.import_module(ELSEWHERE.get(name, f"{__name__}.{name}"))
    found = [c for c in vars(module).values()
             if inspect.isclass(c) and issubclass(c, Strategy) and c.__module__ == module.__name__]
    if len(found) != 1:
        raise RuntimeError(f"{module.__file__} must define exactly one Strategy class, found {len(found)}")
    return found[0]


def build_strategy(spec: dict, *, file: str | Path | None = None) -> Strategy:
    """A strategy from a preset's fields: ``strategy`` names the class, the rest are its parameters."""
    spec = dict(spec)
    try:
        spec.pop("description", None)
        cls = strategy_class(pop_field(spec, "strategy", str))
        params = check_params(cls, spec)
        if params.get("model_args"):
            model = params.get("model", "auto")
            if model == "auto":
                raise ConfigError("model_args needs an explicit model (mlp or cnn)", field="model", value=model)
            check_params(MODELS[model], params["model_args"], prefix="model_args.")
        return cls(**params)  # a constructor may refuse values too (ConfigError)
    except ConfigError as e:
        raise (e.in_file(file) if file else e) from None


def load_strategy(name_or_path: str | Path, **overrides) -> Strategy:
    """Load a strategy preset by name (``"replay"``) or path, with optional parameter overrides."""
    path = find_preset("strategies", name_or_path)
    spec = load_yaml(path)
    strategy = build_strategy(spec, file=path)
    if overrides:  # checked on their own, so that an error names them and not the file
        try:
            check_params(type(strategy), overrides)
        except ConfigError as e:
            raise e.in_file("overrides") from None
        strategy = build_strategy({**spec, **overrides}, file="overrides")
    strategy.name = path.stem
    return strategy
