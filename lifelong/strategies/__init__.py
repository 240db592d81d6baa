"""Strategies, one file each, and the preset loader.

A strategy preset (``strategies/*.yaml``) names its strategy (``strategy: ewc``: the class the table
``STRATEGIES`` gives, ``lifelong/strategies/ewc.py:EWC``) or a class of the user's own by its import
path (``strategy: mypackage.methods:MyReplay``, a ``Strategy`` subclass), and sets the constructor's
keyword parameters; anything not set keeps the constructor's default.
"""
from __future__ import annotations

import inspect
from pathlib import Path

from lifelong.config import ConfigError, check_params, find_preset, import_object, is_import_path, keyword_params, \
    load_yaml, pop_field
from lifelong.models import ModelName, factory
from lifelong.strategies.base import NonFiniteLoss, SGDStrategy, Strategy

STRATEGIES = {  # a preset's ``strategy: name`` -> the class, as module:Class (imported when used)
    "agem": "lifelong.strategies.agem:AGEM",
    "agent": "lifelong.agent:Agent",
    "anil": "lifelong.strategies.anil:ANIL",
    "avalanche": "lifelong.interop.avalanche_strategies:AvalancheStrategy",
    "cmaml": "lifelong.strategies.cmaml:CMAML",
    "cope": "lifelong.strategies.cope:CoPE",
    "cumulative": "lifelong.strategies.cumulative:Cumulative",
    "der": "lifelong.strategies.der:DER",
    "derpp": "lifelong.strategies.derpp:DERPP",
    "er_ace": "lifelong.strategies.er_ace:ERACE",
    "ewc": "lifelong.strategies.ewc:EWC",
    "fomaml": "lifelong.strategies.fomaml:FOMAML",
    "gdumb": "lifelong.strategies.gdumb:GDumb",
    "gem": "lifelong.strategies.gem:GEM",
    "gss": "lifelong.strategies.gss:GSSGreedy",
    "icarl": "lifelong.strategies.icarl:ICaRL",
    "joint": "lifelong.strategies.joint:Joint",
    "lamaml": "lifelong.strategies.lamaml:LaMAML",
    "lwf": "lifelong.strategies.lwf:LwF",
    "maml": "lifelong.strategies.maml:MAML",
    "mer": "lifelong.strategies.mer:MER",
    "mir": "lifelong.strategies.mir:MIR",
    "meta_sgd": "lifelong.strategies.meta_sgd:MetaSGD",
    "naive": "lifelong.strategies.naive:Naive",
    "oml": "lifelong.strategies.oml:OML",
    "online_ft": "lifelong.strategies.online_ft:OnlineFineTuning",
    "protonet": "lifelong.strategies.protonet:ProtoNet",
    "replay": "lifelong.strategies.replay:Replay",
    "reptile": "lifelong.strategies.reptile:Reptile",
    "scr": "lifelong.strategies.scr:SCR",
    "si": "lifelong.strategies.si:SI",
}

__all__ = ["Strategy", "SGDStrategy", "NonFiniteLoss", "STRATEGIES", "strategy_names", "strategy_class",
           "load_strategy", "build_strategy"]


def strategy_names() -> tuple[str, ...]:
    """Every built-in strategy, by the name a preset gives it."""
    return tuple(sorted(STRATEGIES))


def strategy_class(name: str) -> type[Strategy]:
    """The Strategy class a preset's ``strategy`` names: a built-in name, or ``module:Class``."""
    if not is_import_path(name) and name not in STRATEGIES:
        raise ConfigError(f"unknown strategy (known: {', '.join(strategy_names())}; or a class of your own as "
                          "module:Class)", field="strategy", value=name)
    cls = import_object(STRATEGIES.get(name, name), field="strategy")
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise ConfigError("not a Strategy subclass (lifelong.strategies.Strategy)", field="strategy", value=name)
    return cls


def build_strategy(spec: dict, *, file: str | Path | None = None) -> Strategy:
    """A strategy from a preset's fields: ``strategy`` names the class, the rest are its parameters."""
    spec = dict(spec)
    try:
        spec.pop("description", None)
        cls = strategy_class(pop_field(spec, "strategy", str))
        params = check_params(cls, spec)
        model = params.get("model", "auto") if _picks_a_backbone(cls) else "auto"
        build = None if model == "auto" else factory(model)  # a factory named by its import path must import
        if params.get("model_args"):
            if build is None:
                raise ConfigError("model_args needs an explicit model (not auto)",
                                  field="model", value=model)
            if not getattr(build, "takes_any_args", False):
                check_params(build, params["model_args"], prefix="model_args.")
        if params.get("weights") and file is not None and not Path(params["weights"]).expanduser().is_absolute():
            params["weights"] = str(Path(file).parent / params["weights"])  # next to the preset, as root: is
        return cls(**params)  # a constructor may refuse values too (ConfigError)
    except ConfigError as e:
        raise (e.in_file(file) if file else e) from None


def _picks_a_backbone(cls) -> bool:
    """Whether the class's ``model`` field names a backbone (``lifelong.models.ModelName``)."""
    return keyword_params(cls).get("model", (None, None))[1] == ModelName


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
