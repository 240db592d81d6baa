"""The episodic loop shared by the meta-learners (MAML, FOMAML, Reptile, Meta-SGD, ANIL, ProtoNets).

On each arriving task a learner meta-trains for ``epochs`` × ``meta_steps`` outer steps. Each step
draws ``meta_batch`` episodes (``lifelong.meta.episodes``) from a pool: the task's training data plus
a bounded memory of earlier tasks' samples, so the meta-batch holds old tasks too (FTML samples from
every task seen: Finn, Rajeswaran, Kakade & Levine 2019, "Online Meta-Learning"). Classification
episodes are ``n_way``-way with ``k_support`` / ``k_query`` examples per class, global labels, and the
cross-entropy restricted to the episode's classes; regression episodes are one task's function with
``k_support`` / ``k_query`` points and the MSE. The outer optimizer is ``optimizer`` (Adam by default)
at ``lr``; ``batch_size`` is not used.

A method writes ``outer_loss`` (or ``outer_step``) and, for ``adapt``, ``inner_args``: its native
adaptation is ``adapt_steps`` (default ``inner_steps``) SGD steps at ``adapt_lr`` (default
``inner_lr``) on the support set from the meta-learned parameters, run by ``lifelong.meta.core.adapt``,
on the loss over the classes the adapted copy predicts among (the support's classes join those seen,
as in the base class's ``fine_tune``): in task-incremental streams that is the episode loss; in
class-incremental ones new classes must also outscore the old.
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
from lifelong.strategies.base import NonFiniteLoss, SGDStrategy


class BalancedMemory:
    """At most ``size`` samples, shared equally by their groups (a class, or a regression task): after
    each task its samples, in a random order, join the stored ones, and every group keeps its first
    ``size // groups``."""

    def __init__(self, size: int):
        self.size, self.data = size, {}

    def __len__(self) -> int:
        return len(self.data["g"]) if self.data else 0

    def add(self, generator: torch.Generator, **batch: torch.Tensor) -> None:
        """Store a task's samples; ``batch`` holds ``x``, ``y`` and ``g`` (each sample's group)."""
        order = torch.randperm(len(batch["g"]), generator=generator, device=batch["g"].device)
        pool = {k: torch.cat([self.data[k], v[order]]) if self.data else v[order] for k, v in batch.items()}
        groups = pool["g"].unique()
        quota = self.size // len(groups)
        keep = torch.cat([(pool["g"] == c).nonzero().flatten()[:quota] for c in groups]).sort().values
        self.data = {k: v[keep] for k, v in pool.items()}

    def state_dict(self) -> dict:
        return {"data": dict(self.data)}

    def load_state_dict(self, state: dict) -> None:
        self.data = dict(state["data"])


class EpisodicStrategy(SGDStrategy):
    """Meta-training on episodes of the current task and a balanced memory of the earlier ones."""

    state_attrs = SGDStrategy.state_attrs + ("memory",)

    def __init__(self, *, n_way: PositiveInt = 5, k_support: PositiveInt = 5, k_query: PositiveInt = 10,
                 meta_batch: PositiveInt = 25, meta_steps: PositiveInt = 100, inner_steps: PositiveInt = 1,
                 inner_lr: PositiveFloat = 0.01, lr: PositiveFloat = 0.001, memory_size: NonNegInt = 500,
                 optimizer: Annotated[str, Choice("sgd", "adam")] = "adam", adapt_steps: PositiveInt | None = None,
                 adapt_lr: PositiveFloat | None = None,
                 head_init: Annotated[str, Choice("learned", "prototypes")] = "learned", **kwargs):
        super().__init__(optimizer=optimizer, lr=lr, adapt_steps=adapt_steps, adapt_lr=adapt_lr, **kwargs)
        self.n_way, self.k_support, self.k_query, self.meta_batch = n_way, k_support, k_query, meta_batch
        self.meta_steps, self.inner_steps, self.inner_lr = meta_steps, inner_steps, inner_lr
        self.memory_size, self.head_init = memory_size, head_init

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.memory = BalancedMemory(self.memory_size)
        self.pool = None  # (x, y, group) episodes are drawn from, while a task is learned

    def episode_loss(self, out, y) -> torch.Tensor:
        return F.mse_loss(out, y) if self.regression else episode_cross_entropy(out, y)

    def task_init(self):
        """How a task's starting parameters are set from its support set before the inner loop: None
        (the meta-learned θ as is), or with ``head_init: prototypes`` Proto-MAML's output layer
        (Triantafillou et al. 2020): the row of each support class c is w_c = 2 p_c, b_c = −‖p_c‖², p_c the
        class's mean embedding, so the inner loop starts from the prototype classifier. Classification only."""
        if self.head_init != "prototypes" or self.regression:
            return None

        def prototype_head(params, xs, ys):
            features = {n[len("features."):]: p for n, p in params.items() if n.startswith("features.")}
            protos, counts = class_means(functional_call(self.net.features, features, (xs,)), ys, self.info.n_classes)
            present = counts > 0
            return {**params, "head.weight": torch.where(present[:, None], 2 * protos, params["head.weight"]),
                    "head.bias": torch.where(present, -protos.square().sum(1), params["head.bias"])}

        return prototype_head

    def meta_parameters(self) -> list[torch.Tensor]:
        """What the outer optimizer learns."""
        return list(self.net.parameters())

    # --- meta-training ----------------------------------------------------------------

    def fit_task(self, task, on_step=None):
        self.before_task(task)
        group = self.groups(task)
        m = self.memory.data or {"x": task.x_train[:0], "y": task.y_train[:0], "g": group[:0]}
        self.pool = (torch.cat([task.x_train, m["x"]]), torch.cat([task.y_train, m["y"]]), torch.cat([group, m["g"]]))
        self.opt = self.new_optimizer(self.meta_parameters())
        for _ in range(self.epochs * self.meta_steps):
            loss = self.outer_step(self.episodes(*self.pool))
            if on_step is not None:
                on_step(loss)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"meta-loss became {loss.item()} on task {task.index}")
        self.after_task(task)

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
        self.memory.add(self.generator, x=task.x_train, y=task.y_train, g=self.groups(task))
        self.pool = None

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
        return (self.memory.data["x"], self.memory.data["y"]) if self.memory.data else None

    @torch.inference_mode()
    def predict(self, x, info):
        """With ``head_init: prototypes``, the output layer is the prototypes of ``reference()`` (as each
        task's inner loop starts from); otherwise, and in an adapted copy, the network as it is."""
        init, ref = self.task_init(), self.reference()
        if init is None or ref is None or self.__dict__.get("support_head"):
            return super().predict(x, info)
        theta = init({n: p.detach() for n, p in self.net.named_parameters()}, *ref)
        return self.decide(functional_call(self.net, theta, (x,)), info)

    def copy(self) -> "EpisodicStrategy":
        """A deep copy that shares the memory (an adapted copy only predicts: it never writes to it)."""
        return copy.deepcopy(self, memo={id(self.memory): self.memory})
