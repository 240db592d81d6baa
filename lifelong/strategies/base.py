"""The strategy protocol and the base classes of the learners with a network.

A strategy learns one task at a time (``fit_task``) and predicts on any task (``predict``).
Constructors only store their parameters (as in scikit-learn): the network and all state are built
by ``setup``, which ``lifelong.run`` calls with the stream's shape and the run's seed. Every
constructor parameter is keyword-only and annotated; the annotation is the preset field's schema
(``lifelong.config``), and a method's schema is every constructor it inherits. So the fields come in
groups, one class each, and a method is made of the groups it uses and no more: a preset or override
naming a field the method would ignore is refused.

* ``NetworkStrategy`` (``model``, ``model_args``, ``weights``: pretrained weights to start from,
  ``epochs``): the network, the task masks, prediction among the classes the setting allows, the state.
* In ``lifelong.strategies.mixins``: ``WithOptimizer`` (``optimizer``, ``lr``, ``momentum``,
  ``weight_decay``): ``new_optimizer``; ``FineTuning`` (``adapt_steps``, ``adapt_lr``): few-shot ``adapt``
  by fine-tuning a copy; ``MixedPrecision`` (``precision``): bfloat16 steps in ``SGDStrategy.update``.
* ``MiniBatchStrategy`` (``batch_size``): the epoch / mini-batch loop over each task's tensors,
  indexed in place; ``update`` learns one mini-batch. In an online stream the run hands it the
  stream's batches instead (``learn_batch``), each learned by one ``update``: ``epochs`` and
  ``batch_size`` then play no part.
* ``SGDStrategy``, all of them: ``update`` is an optimizer step on ``training_step``'s loss. A method
  overrides the least it can: ``training_step`` (EWC adds a penalty, replay mixes in a memory batch),
  ``training_data``, or the hooks ``before_task`` / ``after_task``.
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import torch
import torch.nn.functional as F

from lifelong.augmentation import take_inputs
from lifelong.config import ConfigError, keyword_params, PositiveInt
from lifelong.models import ModelName, channels_last, evaluating, fresh_net
from lifelong.scenarios.stream import StreamInfo, Task, TaskInfo
from lifelong.strategies.mixins import FineTuning, MixedPrecision, WithOptimizer


StepHook = Callable[[torch.Tensor], None]  # the run's step channel: called with each step's loss


class NonFiniteLoss(RuntimeError):
    """Training diverged: the loss became NaN or infinite."""


class Strategy:
    """What every learner offers to a run."""

    #: Whether the method can learn regression streams (a loss on real-valued targets); classification-only
    #: ones (distilled class probabilities, class-balanced memories, prototypes) refuse them in ``setup``.
    handles_regression = False
    #: Whether a run may checkpoint the learner: its ``state_dict`` holds tensors and plain values only, which
    #: load without unpickling code. A run of one that is not saves none: killed, it starts again.
    checkpointable = True
    #: Whether the method must be told where tasks begin and end (it refuses a task-free stream). One that
    #: learns without them says so (False), and its docstring where it uses them when a stream gives them.
    needs_boundaries = True
    #: Whether the method can learn an online stream, batch by batch (``learn_batch``); one that is
    #: not learns whole tasks only, and refuses online streams.
    learns_online = False
    #: Whether it learns a stream's pre-training pool (``pretrain``); if not, it starts the stream as it is.
    pretrains = False

    def setup(self, info: StreamInfo, *, seed: int = 0, device="cpu") -> None:
        """Build the learner for a stream of this shape, from scratch."""
        raise NotImplementedError

    def fit_task(self, task: Task, on_step: StepHook | None = None) -> None:
        """Learn one task; call ``on_step(loss)`` after each optimisation step (the run's step channel)."""
        raise NotImplementedError

    def planned_steps(self, task: Task) -> int | None:
        """The optimisation steps ``fit_task(task)`` will report (progress display); None: unknown beforehand."""
        return None

    def pretrain(self, pool: Task) -> None:
        """Learn the stream's pre-training pool (``Stream.pretraining``) before its first task."""
        raise NotImplementedError

    def learn_batch(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        """Online streams: learn one incoming mini-batch (seen once), return the step's loss; ``t``: the task
        labels in a task-incremental stream."""
        raise NotImplementedError

    def begin_task(self, task: Task) -> None:
        """Online streams that announce their boundaries: ``task`` begins (its batches follow)."""

    def end_task(self, task: Task) -> None:
        """Online streams that announce their boundaries: ``task``'s last batch has been learned."""

    def predict(self, x: torch.Tensor, info: TaskInfo) -> torch.Tensor:
        """Predicted labels for a batch of inputs of a task described by ``info`` (regression: targets)."""
        raise NotImplementedError

    def adapt(self, x: torch.Tensor, y: torch.Tensor, info: TaskInfo) -> "Strategy":
        """A copy of this learner adapted to a few labelled examples (few-shot evaluation)."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError

    def get_params(self) -> dict:
        """The constructor's parameters and their values: a strategy's config round-trips through this."""
        return {n: getattr(self, n) for n in keyword_params(type(self))}

    def n_parameters(self) -> int:
        return 0

    def check_setting(self, info: StreamInfo) -> None:
        """Refuse, with one line, a stream this method cannot learn."""
        name, value = type(self).__name__, getattr(self, "name", type(self).__name__.lower())
        if info.setting == "regression" and not self.handles_regression:
            raise ConfigError(f"{name} is a classification method and cannot learn a regression stream",
                              field="strategy", value=value)
        if info.online is not None and not self.learns_online:
            raise ConfigError(f"{name} learns whole tasks, several epochs each, and cannot learn an online stream",
                              field="strategy", value=value)
        if info.task_free and self.needs_boundaries:
            raise ConfigError(f"{name} needs to be told where tasks begin and end, and cannot learn a task-free "
                              "stream", field="strategy", value=value)


class NetworkStrategy(Strategy):
    """A network learned task by task; a subclass brings the training (``fit_task``).

    Class-incremental: trained on all outputs, predicts among the classes seen so far. Task-incremental:
    training and prediction masked to the task's classes (a multi-head network sharing one output layer).
    Domain-incremental: all classes, no mask. Regression: mean squared error on the outputs, the prediction.
    """

    handles_regression = True
    augments = True  # trains on the stream's augmentation (``lifelong.augmentation``), if it has one
    state_attrs: tuple[str, ...] = ("seen", "task_masks")

    def __init__(self, *, model: ModelName = "auto", model_args: dict | None = None, weights: str | None = None,
                 epochs: PositiveInt = 1):
        self.model, self.model_args, self.weights, self.epochs = model, model_args, weights, epochs

    # --- building ---------------------------------------------------------------------

    def setup(self, info: StreamInfo, *, seed: int = 0, device="cpu") -> None:
        self.check_setting(info)
        self.info, self.seed, self.device = info, seed, torch.device(device)
        self.regression = info.setting == "regression"
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.net = self.new_net(seed)
        self.seen = torch.zeros(info.n_classes, dtype=torch.bool, device=self.device)
        self.task_masks = torch.zeros(0, info.n_classes, dtype=torch.bool, device=self.device)
        self.opt, self.opt_state = None, None  # the optimizer, and (online, after a resume) its saved state

    def new_net(self, seed: int) -> torch.nn.Module:
        """A freshly initialised network, its weights drawn from ``seed`` alone (then ``weights``), taking
        the stream's inputs (``lifelong.augmentation.take_inputs``), in the channels-last layout."""
        net = fresh_net(self.model, self.info.input_shape, self.info.n_classes, self.model_args, seed, self.weights)
        take_inputs(net, self.info.pixels, self.info.augment if self.augments else None, self.generator)
        return channels_last(net.to(self.device))

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    # --- training helpers -------------------------------------------------------------

    def task_labels(self, task: Task, n: int):
        if self.info.setting != "task-incremental":
            return None
        return torch.full((n,), task.task_label, dtype=torch.long, device=self.device)

    def loss(self, out, y) -> torch.Tensor:
        """The task loss of outputs ``out`` against targets ``y``: cross-entropy, or MSE in regression."""
        return F.mse_loss(out, y) if self.regression else F.cross_entropy(out, y)

    def masked_loss(self, mask):
        """The task loss with the outputs outside ``mask`` left out (all of them kept when it is None)."""
        if mask is None:
            return self.loss
        return lambda out, y: self.loss(out.masked_fill(~mask, float("-inf")), y)

    def logits(self, x, t=None) -> torch.Tensor:
        """Network outputs, masked to each sample's task classes when task labels are given."""
        out = self.net(x)
        return out if t is None else self.masked(out, t)

    def masked(self, out, t) -> torch.Tensor:
        """``out`` with the classes outside each sample's task set to -inf (task labels ``t``), or as is."""
        return out if t is None else out.masked_fill(~self.task_masks[t], float("-inf"))

    def before_task(self, task: Task) -> None:
        self.task_label = task.task_label  # of the task being learned
        classes = torch.tensor(task.classes, dtype=torch.long, device=self.device)
        self.seen[classes] = True
        if task.task_label >= len(self.task_masks):
            grown = torch.zeros(task.task_label + 1, self.info.n_classes, dtype=torch.bool, device=self.device)
            grown[: len(self.task_masks)] = self.task_masks
            self.task_masks = grown
        self.task_masks[task.task_label, classes] = True

    def after_task(self, task: Task) -> None:
        pass

    # --- online streams ---------------------------------------------------------------

    def begin_task(self, task: Task) -> None:
        """The task's classes become known (``before_task``), and its batches get a fresh optimizer."""
        self.before_task(task)
        self.opt = self.opt_state = None

    def end_task(self, task: Task) -> None:
        self.after_task(task)

    def see_labels(self, y: torch.Tensor) -> None:
        """The classes of an incoming batch become predictable: how a task-free learner learns the label
        space as it goes."""
        if not self.regression:
            self.seen[y] = True

    def online_optimizer(self, params) -> torch.optim.Optimizer:
        """The optimizer of an online stream: made at the first batch (of the stream when it is
        task-free, else of each task) and, after a resume, restored to the state the checkpoint saved."""
        if self.opt is None:
            self.opt = self.new_optimizer(params)
            if self.opt_state is not None:
                self.opt.load_state_dict(self.opt_state)
                self.opt_state = None
        return self.opt

    # --- predicting -------------------------------------------------------------------

    def prediction_mask(self, info: TaskInfo):
        """Which outputs may be predicted: the task's classes (task-incremental), the classes seen
        so far (class-incremental), or all (domain-incremental, or before anything was seen)."""
        if self.regression:
            return None
        if info.classes is not None:
            mask = torch.zeros(self.info.n_classes, dtype=torch.bool, device=self.device)
            mask[list(info.classes)] = True
            return mask
        if self.info.setting == "class-incremental" and bool(self.seen.any()):
            return self.seen
        return None

    @torch.inference_mode()
    def predict(self, x, info: TaskInfo) -> torch.Tensor:
        with evaluating(self.net):
            out = self.net(x)
        return self.decide(out, info)

    def decide(self, out, info: TaskInfo) -> torch.Tensor:
        """The prediction from scores ``out``: the best-scoring class among those ``prediction_mask``
        allows, or ``out`` itself in a regression stream."""
        if self.regression:
            return out
        mask = self.prediction_mask(info)
        return (out if mask is None else out.masked_fill(~mask, float("-inf"))).argmax(1)

    # --- state ------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """The network, the random generator, and every attribute named in ``state_attrs``
        (an attribute with its own ``state_dict``, such as a memory, is saved through it)."""
        state = {"net": self.net.state_dict(), "generator": self.generator.get_state()}
        for a in self.state_attrs:
            value = getattr(self, a)
            state[a] = value.state_dict() if hasattr(value, "state_dict") else value
        if self.info.online is not None and self.opt is not None:  # a checkpoint inside an online task
            state["opt"] = self.opt.state_dict()
        return copy.deepcopy(state)

    def load_state_dict(self, state: dict) -> None:
        state = copy.deepcopy(state)
        self.net.load_state_dict(state.pop("net"))
        self.generator.set_state(state.pop("generator"))
        self.opt, self.opt_state = None, state.pop("opt", None)
        for a in self.state_attrs:
            if hasattr(getattr(self, a, None), "load_state_dict"):
                getattr(self, a).load_state_dict(state[a])
            else:
                setattr(self, a, state[a])


class MiniBatchStrategy(NetworkStrategy):
    """The epoch / mini-batch loop: each epoch visits a task's training tensors in a random order, in
    mini-batches of ``batch_size``, each learned by ``update``. The loop takes ``self.opt`` from
    ``new_optimizer`` (``WithOptimizer``'s, or the method's)."""

    learns_online = True  # unless its training data are more than the incoming samples (``training_data``)

    def __init__(self, *, batch_size: PositiveInt = 32, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = batch_size

    def fit_task(self, task: Task, on_step: StepHook | None = None) -> None:
        self.before_task(task)
        x, y, t = self.training_data(task)
        self.opt = self.new_optimizer(self.net.parameters())
        n, bs, update = len(y), self.batch_size, self.update
        loss = torch.zeros(())
        for epoch in range(self.epochs):
            order = torch.randperm(n, generator=self.generator, device=self.device)
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                loss = update(x[idx], y[idx], None if t is None else t[idx], epoch)
                if on_step is not None:
                    on_step(loss)
            if not math.isfinite(loss.item()):
                raise NonFiniteLoss(f"loss became {loss.item()} on task {task.index}")
        self.after_task(task)

    def planned_steps(self, task):
        """An epoch's mini-batches times the epochs, when the method trains on the task's own samples."""
        if type(self).training_data is not MiniBatchStrategy.training_data:
            return None
        return self.epochs * math.ceil(task.n_train / self.batch_size)

    def learn_batch(self, x, y, t=None) -> torch.Tensor:
        """Online: one ``update`` on the incoming batch, with the stream's optimizer."""
        self.see_labels(y)
        self.online_optimizer(self.net.parameters())
        return self.update(x, y, t, 0)

    def update(self, x, y, t, epoch: int) -> torch.Tensor:
        """Learn one mini-batch (``t``: per-sample task labels, or None); returns its loss."""
        raise NotImplementedError

    def training_data(self, task: Task):
        """The tensors to loop over for ``task``: inputs, labels, and per-sample task labels
        (task-incremental only, else None)."""
        return task.x_train, task.y_train, self.task_labels(task, len(task.y_train))


class SGDStrategy(WithOptimizer, FineTuning, MixedPrecision, MiniBatchStrategy):
    """Mini-batch SGD over each task's tensors: fine-tuning unless a subclass changes a step."""

    def update(self, x, y, t, epoch: int) -> torch.Tensor:
        """One step on a mini-batch: ``training_step``'s loss, back-propagated, then an optimizer step.
        A method with an update rule of its own (MER, La-MAML) builds on ``MiniBatchStrategy`` instead."""
        with self.autocast():
            loss = self.training_step(x, y, t)
        opt = self.opt
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    def training_step(self, x, y, t) -> torch.Tensor:
        """The loss on one mini-batch; ``t`` holds per-sample task labels in task-incremental streams."""
        return self.loss(self.logits(x, t), y)
