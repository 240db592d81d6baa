"""Avalanche 0.6.0 strategies (Lomonaco et al. 2021, "Avalanche: an End-to-End Library for Continual
Learning") run on lifelong streams, so that a method can be compared with Avalanche's implementation of it
on the same tasks, network, budget and seeds.

A preset names the Avalanche class (``avalanche_class: EWC``) and its own arguments (``args:
{ewc_lambda: 50.0}``); the network, optimizer, epochs and batch size are lifelong's usual fields.
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.util
import warnings
from typing import Annotated, Any

import torch

from lifelong.config import Choice, ConfigError, Fraction, NonNegFloat, NonNegInt, PositiveFloat, PositiveInt, \
    check_value
from lifelong.interop.seeds import fixed_seeds
from lifelong.models import evaluating
from lifelong.strategies.base import NonFiniteLoss, SGDStrategy

_REQUIRED = object()
_TRAINING = "avalanche.training"
# Avalanche class -> (module, its own arguments: name -> (annotation, default), optional package it needs).
# The arguments lifelong sets itself (model, optimizer, criterion, train_mb_size, train_epochs, eval_mb_size,
# device, plugins, evaluator, eval_every) are not among them. test_avalanche_interop checks this table
# against Avalanche's signatures.
SUPPORTED: dict[str, tuple[str, dict[str, tuple[Any, Any]], str | None]] = {
    "Naive": (_TRAINING, {}, None),
    "EWC": (_TRAINING, {
        "ewc_lambda": (NonNegFloat, _REQUIRED),
        "mode": (Annotated[str, Choice("separate", "onlinesum", "onlineweightedsum")], "separate"),
        "decay_factor": (Fraction | None, None),
        "keep_importance_data": (bool, False)}, None),
    "SynapticIntelligence": (_TRAINING, {"si_lambda": (NonNegFloat, _REQUIRED), "eps": (PositiveFloat, 1e-7)}, None),
    "LwF": (_TRAINING, {"alpha": (NonNegFloat, _REQUIRED), "temperature": (PositiveFloat, _REQUIRED)}, None),
    "Replay": (_TRAINING, {"mem_size": (NonNegInt, 200)}, None),
    "GEM": (_TRAINING, {"patterns_per_exp": (PositiveInt, _REQUIRED), "memory_strength": (NonNegFloat, 0.5)},
            "quadprog"),
    "AGEM": (_TRAINING, {"patterns_per_exp": (PositiveInt, _REQUIRED), "sample_size": (PositiveInt, 64)}, None),
    "GDumb": (_TRAINING, {"mem_size": (PositiveInt, 200)}, None),
    "ICaRL": (_TRAINING, {"memory_size": (PositiveInt, _REQUIRED), "fixed_memory": (bool, _REQUIRED)}, None),
    "DER": (_TRAINING, {"mem_size": (PositiveInt, 200), "batch_size_mem": (PositiveInt | None, None),
                        "alpha": (NonNegFloat, 0.1), "beta": (NonNegFloat, 0.5)}, None),
    "ER_ACE": (_TRAINING, {"mem_size": (PositiveInt, 200), "batch_size_mem": (PositiveInt, 10)}, None),
    "MER": (_TRAINING, {"mem_size": (PositiveInt, 200), "batch_size_mem": (PositiveInt, 10),
                        "n_inner_steps": (PositiveInt, 5), "beta": (NonNegFloat, 0.1), "gamma": (NonNegFloat, 0.1)},
            None),
    # avalanche.training.supervised.lamaml is the higher-based LaMAML. lamaml_v2 needs no higher but calls
    # model(x, task_labels), which a single-input network (all of lifelong's) does not accept.
    "LaMAML": ("avalanche.training.supervised.lamaml", {
        "n_inner_updates": (PositiveInt, 5), "second_order": (bool, True), "grad_clip_norm": (PositiveFloat, 1.0),
        "learn_lr": (bool, True), "lr_alpha": (PositiveFloat, 0.25), "sync_update": (bool, False),
        "alpha_init": (PositiveFloat, 0.1)}, "higher"),
}
# What an optional package is installed as, for the error that asks for it.
PIP_NAMES = {"higher": "higher", "quadprog": "quadprog", "avalanche": "avalanche-lib"}


class AvalancheStrategy(SGDStrategy):
    """An Avalanche strategy learning a lifelong stream, one Task per ``strategy.train(experience)``.

    ``setup`` builds lifelong's network (``model``, ``model_args``: the initial weights of a native
    strategy with the same seed) and the Avalanche strategy around it, with ``optimizer``/``lr``,
    ``epochs``, ``batch_size``, and an evaluator without metrics or loggers (``eval_every=-1``):
    lifelong's evaluators measure it like any other strategy. ``replay_mem_size`` > 0 adds an
    Avalanche ``ReplayPlugin`` (LaMAML keeps no memory of its own; its inner loop expects replayed
    samples after the current ones).

    ``fit_task`` wraps the Task's tensors into an Avalanche experience and trains on it under a seed
    drawn from the strategy's generator. The experience keeps the class order; its task label is the
    Task's in task-incremental streams and 0 in the others (Avalanche's convention there);
    ``current_experience`` is the task's position; ``future_classes`` is empty (unknown), and iCaRL's
    ``benchmark`` is a stand-in listing the classes seen so far, then those not seen yet. With
    ``reset_optimizer`` (the default) the optimizer's state (Adam's moments) starts afresh at each
    task, as in lifelong's strategies; Avalanche 0.6.0 keeps it across experiences unless told.

    Predictions use lifelong's masks: the classes seen so far (class-incremental) or the task's
    classes (task-incremental). Training is Avalanche's: one head over all outputs, the loss not
    masked to the task's classes (lifelong's native strategies mask it in task-incremental streams).
    iCaRL predicts with Avalanche's nearest-class-mean classifier once it has class means, with the
    network's head before that.

    Its state is a whole Avalanche strategy (network, optimizer, plugins' memories, counters, data
    loaders), which only pickle can save, and loading a pickle can run code: it is not checkpointed
    (a killed run of it starts again), so that a store from someone else can be opened safely.
    """

    handles_regression = False
    checkpointable = False

    def __init__(self, *, avalanche_class: Annotated[str, Choice(*SUPPORTED)] = "Naive", args: dict | None = None,
                 replay_mem_size: NonNegInt = 0, reset_optimizer: bool = True, eval_batch_size: PositiveInt = 256,
                 **kwargs):
        super().__init__(**kwargs)
        if self.precision != "fp32":
            raise ConfigError("Avalanche trains in float32 here; bf16 is for lifelong's own strategies",
                              field="precision", value=self.precision)
        self.avalanche_class, self.args = avalanche_class, args
        self.replay_mem_size, self.reset_optimizer = replay_mem_size, reset_optimizer
        self.eval_batch_size = eval_batch_size
        self._class_args = class_args(avalanche_class, args)  # a bad preset fails here, before any training

    # --- building -----------------------------------------------------------------------

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self._ncm = self.avalanche_class == "ICaRL"  # predicts with Avalanche's nearest-class-mean classifier
        self.task_classes: list[tuple[int, ...]] = []
        with fixed_seeds(seed), _quiet():
            self._av = self._build()
        self.net = self._av.model

    def _build(self):
        from avalanche.training.plugins import EvaluationPlugin, ReplayPlugin

        module, _, _ = SUPPORTED[self.avalanche_class]
        cls = getattr(importlib.import_module(module), self.avalanche_class)
        common = dict(optimizer=self.new_optimizer(self.net.parameters()), train_mb_size=self.batch_size,
                      train_epochs=self.epochs, eval_mb_size=self.eval_batch_size, device=self.device,
                      plugins=[ReplayPlugin(mem_size=self.replay_mem_size)] if self.replay_mem_size else None,
                      evaluator=EvaluationPlugin(loggers=[]), eval_every=-1)
        if self._ncm:  # iCaRL takes the embedding and the head apart, and brings its own loss
            return cls(feature_extractor=self.net.features, classifier=self.net.head, buffer_transform=None,
                       **common, **self._class_args)
        return cls(model=self.net, criterion=torch.nn.CrossEntropyLoss(), **common, **self._class_args)

    # --- training -----------------------------------------------------------------------

    def fit_task(self, task, on_step=None):  # Avalanche's own loop reports no steps
        if self._av is None:
            raise RuntimeError("this is a copy made by adapt(); it predicts but does not continue the stream")
        if self._ncm and bool(self.seen[list(task.classes)].any()):
            raise ValueError(f"Avalanche's iCaRL needs every task to bring new classes; task {task.index} repeats "
                             f"some of {sorted(int(c) for c in self.seen.nonzero().flatten())}")
        experience = self._experience(task)
        self.before_task(task)
        self.task_classes.append(tuple(task.classes))
        seed = int(torch.randint(2**62, (1,), generator=self.generator, device=self.device))
        if self.reset_optimizer:
            self._av.optimizer.state.clear()
        with fixed_seeds(seed), _quiet():
            self._av.train(experience)
        self.net = self._av.model  # GDumb trains a fresh copy at every experience
        if not all(bool(torch.isfinite(p).all()) for p in self.net.parameters()):
            raise NonFiniteLoss(f"the weights became non-finite on task {task.index}")
        self.after_task(task)

    def _experience(self, task):
        """An Avalanche experience holding the task's training tensors, its task label and classes.

        The dataset is built by the factory Avalanche's own ``tensors_benchmark`` and iCaRL's memory use
        (a constant task-label sequence, int targets): iCaRL concatenates its memory to it, and 0.6.0's
        concatenation fails between a per-sample task-label list and a constant one."""
        from avalanche.benchmarks.scenarios.dataset_scenario import DatasetExperience
        from avalanche.benchmarks.scenarios.generic_scenario import EagerCLStream
        from avalanche.benchmarks.utils.classification_dataset import _make_taskaware_tensor_classification_dataset

        label = self._task_label(task)
        data = _make_taskaware_tensor_classification_dataset(task.x_train.detach().cpu(), task.y_train.detach().cpu(),
                                                             task_labels=label)
        position = len(self.task_classes)
        exp = DatasetExperience(dataset=data, current_experience=position)
        exp.origin_stream = EagerCLStream("train", [exp], set_stream_info=False)
        previous = sorted({c for group in self.task_classes for c in group})
        exp.classes_in_this_experience = list(task.classes)
        exp.previous_classes = previous
        exp.classes_seen_so_far = sorted(set(previous) | set(task.classes))
        exp.future_classes = []
        exp.task_label, exp.task_labels = label, [label]
        exp.benchmark = _SeenSoFar([*self.task_classes, tuple(task.classes)], self.info.n_classes)
        return exp

    def _task_label(self, task) -> int:
        """What Avalanche is told: the task label in task-incremental streams; 0 otherwise, Avalanche's
        convention for class- and domain-incremental streams (the setting forbids using task labels, and
        lifelong's builders number every task)."""
        return task.task_label if self.info.setting == "task-incremental" else 0

    # --- predicting ---------------------------------------------------------------------

    @torch.inference_mode()
    def predict(self, x, info):
        with evaluating(self.net):
            out = self._outputs(x)
        if out.shape[1] < self.info.n_classes:  # iCaRL's class means stop at the largest class seen
            pad = out.new_full((len(out), self.info.n_classes - out.shape[1]), float("-inf"))
            out = torch.cat([out, pad], 1)
        return self.decide(out, info)

    def _outputs(self, x):
        if self._ncm and not self.net.eval_classifier.class_means_dict:  # iCaRL before any exemplar: its head
            return self.net.train_classifier(self.net.feature_extractor(x))
        return self.net(x)

    def adapt(self, x, y, info):
        """A copy whose network (for iCaRL: embedding and trained head) is fine-tuned on the support set,
        as ``SGDStrategy.adapt`` does; the copy predicts but does not train on further tasks."""
        adapted = copy.copy(self)
        adapted._av = None
        if self._ncm:
            adapted.net = torch.nn.Sequential(copy.deepcopy(self.net.feature_extractor),
                                              copy.deepcopy(self.net.train_classifier))
            adapted._ncm = False
        else:
            adapted.net = copy.deepcopy(self.net)
        adapted.seen, adapted.task_masks = self.seen.clone(), self.task_masks.clone()
        adapted.fine_tune(x, y, info)
        return adapted

    # --- state ------------------------------------------------------------------------

    def state_dict(self) -> dict:
        raise TypeError("an Avalanche strategy is not checkpointable: its state can only be pickled")

    def load_state_dict(self, state: dict) -> None:
        raise TypeError("an Avalanche strategy is not checkpointable: its state can only be pickled")


@contextlib.contextmanager
def _quiet():
    """Avalanche warns on import, construction and (deprecations, forced to show) during training:
    library code stays silent, so its warnings are recorded here and dropped."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore")
        yield


def class_args(name: str, args: dict | None) -> dict:
    """``args`` checked against the arguments of Avalanche's ``name`` (one ConfigError line naming the
    field), with the defaults filled in; also checks that the packages it needs are installed."""
    if name not in SUPPORTED:
        raise ConfigError("expected one of " + ", ".join(SUPPORTED), field="avalanche_class", value=name)
    _, schema, needs = SUPPORTED[name]
    for package in ("avalanche", needs):
        if package and importlib.util.find_spec(package) is None:
            raise ConfigError(f"Avalanche's {name} needs the optional package {package}: "
                              f"pip install {PIP_NAMES[package]}", field="avalanche_class", value=name)
    args = check_value("args", {} if args is None else args, dict)
    checked = {}
    for key, value in args.items():
        if key not in schema:
            known = ", ".join(schema) or "none"
            raise ConfigError(f"not an argument of Avalanche's {name} that a preset may set (known: {known})",
                              field=f"args.{key}", value=value)
        checked[key] = check_value(f"args.{key}", value, schema[key][0])
    for key, (_, default) in schema.items():
        if key not in checked:
            if default is _REQUIRED:
                raise ConfigError(f"Avalanche's {name} needs this argument", field=f"args.{key}")
            checked[key] = default
    return checked


class _SeenSoFar:
    """What iCaRL reads from ``experience.benchmark``: the class groups of the tasks seen so far, in order,
    then one group with the classes not seen yet (so that the groups cover every class of the stream)."""

    def __init__(self, groups: list[tuple[int, ...]], n_classes: int):
        seen = [c for g in groups for c in g]
        rest = [c for c in range(n_classes) if c not in set(seen)]
        self.classes_order = seen + rest
        self.n_classes_per_exp = [len(g) for g in groups] + ([len(rest)] if rest else [])
