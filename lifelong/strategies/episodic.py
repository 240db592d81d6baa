"""The episodic loop: the meta-learners (MAML, FOMAML, Reptile, Meta-SGD, ANIL, ProtoNets) and the agent.

On each arriving task a learner takes ``outer_steps(task)`` outer steps. Each step draws ``meta_batch``
episodes (``lifelong.meta.episodes``) from a pool: the task's training data plus a bounded memory of
earlier tasks' samples, so the meta-batch holds old tasks too (FTML samples from every task seen:
Finn, Rajeswaran, Kakade & Levine 2019, "Online Meta-Learning"). Classification episodes are
``n_way``-way with ``k_support`` / ``k_query`` examples per class, global labels; regression episodes
are one task's function with ``k_support`` / ``k_query`` points. The outer optimizer is
``optimizer`` (Adam by default) at ``lr``. A stream's pre-training pool (``Stream.pretraining``) gets
``pretrain_steps`` outer steps of relabelled N-way episodes before the stream. Three classes, each
adding its fields:

* ``EpisodicLearner``: the loop, the pool and the outer step; the method says how many steps a task
  gets, which memory it keeps (``lifelong.strategies.memory``) and when it fills it.
* ``EpisodicStrategy``: ``epochs`` × ``meta_steps`` steps per task, and a ``BalancedMemory`` of
  ``buffer_size`` samples that takes each task's share when the task ends (ProtoNets).
* ``InnerLoopStrategy``: the MAML family's inner loop on the support set, with the cross-entropy
  restricted to the episode's classes (the MSE in regression). A method writes ``outer_loss`` (or
  ``outer_step``) and, for ``adapt``, ``inner_args``: its native adaptation is ``adapt_steps``
  (default ``inner_steps``) SGD steps at ``adapt_lr`` (default ``inner_lr``) on the support set from
  the meta-learned parameters, run by ``lifelong.meta.core.adapt``, on the loss over the classes the
  adapted copy predicts among (the support's classes join those seen, as in ``FineTuning``): in
  task-incremental streams that is the episode loss; in class-incremental ones new classes must also
  outscore the old.
"""
from __future__ import annotations

import copy
from typing import Annotated

import torch
import torch.nn.functional as F
from torch.func import functional_call

from lifelong.config import Choice, NonNegInt, PositiveFloat, PositiveInt
from lifelong.meta import core
from lifelong.meta.episodes import classification_episodes, episode_cross_entropy, regression_episodes
from lifelong.meta.prototypes import class_means
from lifelong.models import batch_statistics, track_statistics
from lifelong.scenarios.stream import TaskInfo
from lifelong.strategies.base import NetworkStrategy, NonFiniteLoss
from lifelong.strategies.mixins import WithOptimizer
from lifelong.strategies.memory import BalancedMemory


def feature_params(params: dict) -> dict:
    """The parameters of ``net.features`` among those of the whole network, named as in ``features``."""
    return {n[len("features."):]: p for n, p in params.items() if n.startswith("features.")}


class EpisodicLearner(WithOptimizer, NetworkStrategy):
    """Meta-training on episodes of the current task and a memory of the earlier ones."""

    state_attrs = NetworkStrategy.state_attrs + ("memory",)
    augments = False  # episodes are drawn from the samples as they are (vmap draws no random numbers)
    pretrains = True

    def __init__(self, *, n_way: PositiveInt = 5, k_support: PositiveInt = 5, k_query: PositiveInt = 10,
                 meta_batch: PositiveInt = 25, buffer_size: NonNegInt = 500,
                 optimizer: Annotated[str, Choice("sgd", "adam")] = "adam", lr: PositiveFloat = 0.001,
                 pretrain_steps: NonNegInt = 500, **kwargs):
        super().__init__(optimizer=optimizer, lr=lr, **kwargs)
        self.n_way, self.k_support, self.k_query, self.meta_batch = n_way, k_support, k_query, meta_batch
        self.buffer_size, self.pretrain_steps = buffer_size, pretrain_steps

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.memory = self.new_memory()
        self.pool = None  # (x, y, group) episodes are drawn from, while a task is learned

    def new_memory(self):
        raise NotImplementedError

    def outer_steps(self, task) -> int:
        """How many outer steps ``task`` gets."""
        raise NotImplementedError

    def meta_parameters(self) -> list[torch.Tensor]:
        """What the outer optimizer learns."""
        return list(self.net.parameters())

    def fit_task(self, task, on_step=None):
        self.pool = self.episode_pool(task)
        self.before_task(task)
        self.meta_train(self.outer_steps(task), lambda: self.episodes(*self.pool), on_step, f"on task {task.index}")
        self.after_task(task)

    def pretrain(self, pool):
        """``pretrain_steps`` outer steps on episodes of the pool, each N-way with N the stream's outputs and
        relabelled 0..N−1 (OSAKA's meta-training; Caccia et al. 2020), with an optimizer of its own."""
        self.meta_train(self.pretrain_steps, lambda: classification_episodes(
            pool.x_train, pool.y_train, self.meta_batch, self.info.n_classes, self.k_support, self.k_query,
            self.generator, relabel=True), None, "in pre-training")
        self.opt = None

    def meta_train(self, steps: int, draw, on_step, where: str) -> None:
        """``steps`` outer steps, each on the episodes ``draw()`` returns, with a fresh outer optimizer;
        ``NonFiniteLoss`` if the meta-loss diverged."""
        self.opt = self.new_optimizer(self.meta_parameters())
        loss = None
        for _ in range(steps):
            loss = self.meta_step(draw())
            if on_step is not None:
                on_step(loss)
        if loss is not None and not torch.isfinite(loss):
            raise NonFiniteLoss(f"meta-loss became {loss.item()} {where}")

    def episode_pool(self, task):
        """The task's training samples, then the memory's (of the earlier tasks): inputs, labels, groups."""
        old = self.memory.stored()
        x, y, group = task.x_train, task.y_train, self.groups(task)
        if not old:
            return x, y, group
        old_group = old["g"] if "g" in old else old["y"]  # a class-balanced memory's group is the class
        return torch.cat([x, old["x"]]), torch.cat([y, old["y"]]), torch.cat([group, old_group])

    def groups(self, task) -> torch.Tensor:
        """Each training sample's group in the memory: its class, or its task in a regression stream."""
        if self.regression:
            return torch.full((task.n_train,), task.index, dtype=torch.long, device=self.device)
        return task.y_train

    def episodes(self, x, y, group):
        if self.regression:
            return regression_episodes(x, y, group, self.meta_batch, self.k_support, self.k_query, self.generator)
        return classification_episodes(x, y, self.meta_batch, self.n_way, self.k_support, self.k_query,
                                       self.generator)

    def meta_step(self, episodes) -> torch.Tensor:
        """``outer_step`` with every BatchNorm layer on its batch's statistics, then their running
        statistics updated on the episodes' inputs (``lifelong.models.batch_statistics``)."""
        with batch_statistics(self.net):
            loss = self.outer_step(episodes)
        xs, _, xq, _ = episodes
        track_statistics(self.net, torch.cat([xs.flatten(0, 1), xq.flatten(0, 1)]))
        return loss

    def outer_step(self, episodes) -> torch.Tensor:
        """One step of the outer optimizer on ``outer_loss``; returns that loss (non-finite on divergence)."""
        loss = self.outer_loss(dict(self.net.named_parameters()), episodes)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()

    def outer_loss(self, params, episodes) -> torch.Tensor:
        raise NotImplementedError

    def after_task(self, task):
        self.pool = None


class EpisodicStrategy(EpisodicLearner):
    """``epochs`` × ``meta_steps`` outer steps per task; a balanced memory that takes each task's share
    of ``buffer_size`` at the task's end.

    Online (``learn_batch``; OSAKA's MAML, ANIL and ProtoNets baselines, Caccia et al. 2020): the
    meta-learned parameters stay as they are; each incoming batch is a support set, and the copy adapted
    to it (``adapt``) predicts the batches that follow."""

    state_attrs = EpisodicLearner.state_attrs + ("support",)
    learns_online = True
    needs_boundaries = False

    def __init__(self, *, meta_steps: PositiveInt = 100, **kwargs):
        super().__init__(**kwargs)
        self.meta_steps = meta_steps

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.support, self.adapted = None, None  # the last incoming batch, and the copy adapted to it

    def learn_batch(self, x, y, t=None):
        """The batch becomes the support set; returns the adapted copy's error on it (the share of its
        samples predicted wrong, or the MSE)."""
        self.see_labels(y)
        self.support, self.adapted = (x, y), None
        out = self.adapted_copy().predict(x, TaskInfo())
        return F.mse_loss(out, y) if self.regression else (out != y).float().mean()

    def adapted_copy(self) -> "EpisodicStrategy":
        """The copy adapted to the last incoming batch (made again after a resume: adaptation draws nothing)."""
        if self.adapted is None:
            self.adapted = self.adapt(*self.support, TaskInfo())
        return self.adapted

    @torch.inference_mode()
    def predict(self, x, info):
        """Online, once a batch was learned: the copy adapted to it; otherwise ``own_predict``."""
        if self.support is not None:
            return self.adapted_copy().predict(x, info)
        return self.own_predict(x, info)

    def own_predict(self, x, info):
        """This learner's prediction with its meta-learned parameters: the network's outputs."""
        return NetworkStrategy.predict(self, x, info)

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.adapted = None

    def new_memory(self):
        return BalancedMemory(self.buffer_size)

    def outer_steps(self, task) -> int:
        return self.epochs * self.meta_steps

    def after_task(self, task):
        self.memory.add(self.generator, x=task.x_train, y=task.y_train, g=self.groups(task))
        super().after_task(task)

    def copy(self) -> "EpisodicStrategy":
        """A deep copy that shares the memory (an adapted copy only predicts: it never writes to it) and has
        no online support set (it predicts as itself)."""
        return copy.deepcopy(self, memo={id(self.memory): self.memory, id(self.support): None,
                                         id(self.adapted): None})


class InnerLoopStrategy(EpisodicStrategy):
    """The MAML family: an inner loop of SGD steps on each episode's support set."""

    def __init__(self, *, inner_steps: PositiveInt = 1, inner_lr: PositiveFloat = 0.01,
                 adapt_steps: PositiveInt | None = None, adapt_lr: PositiveFloat | None = None,
                 head_init: Annotated[str, Choice("learned", "prototypes")] = "learned", **kwargs):
        super().__init__(**kwargs)
        self.inner_steps, self.inner_lr, self.head_init = inner_steps, inner_lr, head_init
        self.adapt_steps, self.adapt_lr = adapt_steps, adapt_lr

    @property
    def episode_loss(self):
        """The loss of an episode's outputs, ``loss(out, y)``: a function of its arguments alone, which
        ``lifelong.meta.replay`` records with the network's forward."""
        return F.mse_loss if self.regression else episode_cross_entropy

    def task_init(self):
        """How a task's starting parameters are set from its support set before the inner loop: None
        (the meta-learned θ as is), or with ``head_init: prototypes`` Proto-MAML's output layer
        (Triantafillou et al. 2020): the row of each support class c is w_c = 2 p_c, b_c = −‖p_c‖², p_c the
        class's mean embedding, so the inner loop starts from the prototype classifier. Classification only."""
        if self.head_init != "prototypes" or self.regression:
            return None

        def prototype_head(params, xs, ys):
            emb = functional_call(self.net.features, feature_params(params), (xs,))
            protos, counts = class_means(emb, ys, self.info.n_classes)
            present = counts > 0
            return {**params, "head.weight": torch.where(present[:, None], 2 * protos, params["head.weight"]),
                    "head.bias": torch.where(present, -protos.square().sum(1), params["head.bias"])}

        return prototype_head

    # --- adaptation -------------------------------------------------------------------

    def inner_args(self) -> dict:
        """Extra arguments of ``lifelong.meta.core.adapt`` for this method's inner loop."""
        return {}

    def adapt(self, x, y, info):
        """A copy whose network took this method's inner loop on the support set, with the loss over the
        classes the copy predicts among (``prediction_mask``, once the support's classes are marked seen).
        This learner is left as it was."""
        adapted = self.copy()
        if not self.regression:
            adapted.seen[y.unique()] = True
        theta = {n: p.detach() for n, p in self.net.named_parameters()}
        init = self.task_init()
        if init is not None:  # every known class's row from its prototype, the support's from the support
            ref = self.reference()
            theta = init(theta, *(x, y) if ref is None else (torch.cat([ref[0], x]), torch.cat([ref[1], y])))
            adapted.support_head = True  # it predicts with its own adapted output layer
        fast = core.adapt(self.net, theta, x, y, adapted.masked_loss(adapted.prediction_mask(info)),
                          steps=self.adapt_steps or self.inner_steps, lr=self.adapt_lr or self.inner_lr,
                          first_order=True, **self.inner_args())
        with torch.no_grad():
            for n, p in adapted.net.named_parameters():
                p.copy_(fast[n])
        return adapted

    def reference(self):
        """The samples whose class means make the Proto-MAML output layer when no support is given: the
        task being learned and the memory, or the memory between tasks (None before any)."""
        if self.pool is not None:
            return self.pool[0], self.pool[1]
        m = self.memory.stored()
        return (m["x"], m["y"]) if m else None

    def own_predict(self, x, info):
        """With ``head_init: prototypes``, the output layer is the prototypes of ``reference()`` (as each
        task's inner loop starts from); otherwise, and in an adapted copy, the network as it is."""
        init, ref = self.task_init(), self.reference()
        if init is None or ref is None or self.__dict__.get("support_head"):
            return super().own_predict(x, info)
        theta = init({n: p.detach() for n, p in self.net.named_parameters()}, *ref)
        return self.decide(functional_call(self.net, theta, (x,)), info)
