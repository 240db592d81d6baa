"""Experiment loggers: observers that forward a run's events to TensorBoard, W&B, MLflow or CSV files.

Chosen by name: ``loggers: [tensorboard, csv]`` in an experiment (its runs log under
``<out>/logs/``), ``lifelong run --logger NAME`` (repeatable). A tool's package is imported only
when its logger is chosen; each is an optional extra (``pip install lifelong[tensorboard]``), and a
missing one is refused in one line before anything runs. :mod:`lifelong.loggers.base` has the
protocol and what each logger records.
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from lifelong.config import ConfigError
from lifelong.loggers.base import DEFAULT_EVERY, Logger

#: name -> (module, class, the package it needs, the extra that installs it)
LOGGERS = {
    "csv": ("lifelong.loggers.csv_logger", "CSVLogger", None, None),
    "tensorboard": ("lifelong.loggers.tensorboard_logger", "TensorBoardLogger", "tensorboard", "tensorboard"),
    "wandb": ("lifelong.loggers.wandb_logger", "WandbLogger", "wandb", "wandb"),
    "mlflow": ("lifelong.loggers.mlflow_logger", "MLflowLogger", "mlflow", "mlflow"),
}

__all__ = ["LOGGERS", "Logger", "check_loggers", "build_loggers", "DEFAULT_EVERY"]


def check_loggers(names, field: str = "loggers") -> list[str]:
    """``names`` if each is a logger whose package is installed; otherwise a ConfigError in one line."""
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"expected a list of logger names ({', '.join(LOGGERS)})", field=field, value=names)
    for name in names:
        if name not in LOGGERS:
            raise ConfigError(f"unknown logger (known: {', '.join(LOGGERS)})", field=field, value=name)
        package, extra = LOGGERS[name][2:]
        if package is not None and importlib.util.find_spec(package) is None:
            raise ConfigError(f"needs the {package} package: pip install 'lifelong[{extra}]'", field=field,
                              value=name)
    if len(set(names)) != len(names):
        raise ConfigError("a logger is named twice", field=field, value=names)
    return list(names)


def build_loggers(names, folder: str | Path, *, every: int = DEFAULT_EVERY, experiment: str = "lifelong"
                  ) -> list[Logger]:
    """One fresh logger per name, each writing under ``folder``."""
    out = []
    for name in check_loggers(names):
        module, cls = LOGGERS[name][:2]
        out.append(getattr(importlib.import_module(module), cls)(folder, every=every, experiment=experiment))
    return out
