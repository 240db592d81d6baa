"""Strategies, one file each, and the preset loader.

A strategy preset (``strategies/*.yaml``) names the strategy (``strategy: ewc``)
and sets its constructor's keyword parameters; anything not set keeps the
constructor's default.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from lifelong.config import Choice, ConfigError, check_params, find_preset, load_yaml, pop_field
from lifelong.models import MODELS
from lifelong.strategies.base import NonFiniteLoss, SGDStrategy, Strategy
from lifelong.strategies.cumulative import Cumulative
from lifelong.strategies.ewc import EWC
from lifelong.strategies.joint import Joint
from lifelong.strategies.naive import Naive
from lifelong.strategies.replay import Replay

STRATEGIES: dict[str, type[Strategy]] = {
    "naive": Naive, "joint": Joint, "cumulative": Cumulative, "replay": Replay, "ewc": EWC,
}

__all__ = ["Strategy", "SGDStrategy", "NonFiniteLoss", "STRATEGIES", "load_strategy", "build_strategy",
           *(cls.__name__ for cls in STRATEGIES.values())]


def build_strategy(spec: dict, *, file: str | Path | None = None) -> Strategy:
    """A strategy from a preset's fields: ``strategy`` names the class, the rest are its parameters."""
    spec = dict(spec)
    try:
        spec.pop("description", None)
        name = pop_field(spec, "strategy", Annotated[str, Choice(*STRATEGIES)])
        cls = STRATEGIES[name]
        params = check_params(cls, spec)
        if params.get("model_args"):
            model = params.get("model", "auto")
            if model == "auto":
                raise ConfigError("model_args needs an explicit model (mlp or cnn)", field="model", value=model)
            check_params(MODELS[model], params["model_args"], prefix="model_args.")
    except ConfigError as e:
        raise (e.in_file(file) if file else e) from None
    return cls(**params)


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
