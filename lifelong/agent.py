"""The lifelong agent: a meta-learned embedding initialisation and a prototype memory.

The network's ``features`` are an embedding f_θ; classes are represented by prototypes, the mean
embeddings of a class-balanced exemplar memory (``lifelong.strategies.memory.PrototypeMemory``), and an input is
predicted as the class of its nearest prototype (Snell et al. 2017; nearest-mean-of-exemplars,
Rebuffi et al. 2017), among the classes the setting allows.

Training on a task is meta-training on episodes, in the episodic loop of the meta-learners
(``lifelong.strategies.episodic``; MAML, Finn et al. 2017; first-order by default, as
in its §5.2). The task's training data are pooled with the exemplars of the earlier tasks (every
class seen so far, in equal shares), and each meta-step draws ``meta_batch`` N-way episodes of
``k_support`` support and ``k_query`` query examples per class from that pool, so the meta-objective
covers the old classes as much as the new ones. For one episode, vmapped over the batch (torch.func):
    θ' = θ − α ∇_θ L_proto(S; S)        (``inner_steps`` times: the support against its own prototypes)
    meta-loss = L_proto(Q; S) at θ'     (the queries against the prototypes of the adapted support)
where L_proto is the prototypical loss (cross-entropy of −squared distance to each prototype); the
mean over episodes updates θ with the outer optimizer (``optimizer``, ``lr``), ``epochs × ⌈n / batch_size⌉`` times
for a task of n training samples. With ``inner_steps: 0`` this is a Prototypical Network trained on
class-balanced episodes. When a task begins the memory takes a random share of its samples (the
budget ``buffer_size`` is counted in samples, as in every memory); whenever the embedding has
changed, the next prediction first recomputes every prototype from the exemplars.

``adapt`` (few-shot): a copy takes ``adapt_steps`` inner steps on the support set from the
meta-learned θ, at ``adapt_lr`` (default: ``inner_lr``), recomputes its prototypes from its
exemplars, and takes the support's class means as the prototypes of the support's classes.

Measured (split-mnist, CNN, seeds 0-2, ``make demo``): ACC 93.0 ± 1.4 and forgetting 5.9 against
Replay's 88.8 and 10.7 with the same 200 samples, at 1.2-1.5x Replay's training time (one CPU thread,
``benchmarks/agent_cost.py``) with episodes of 4 support and 3 query examples per class, chosen on
held-out training samples within that budget (5 + 5: 93.3 ± 1.0 at about 1.7x; on fewshot-mnist1d the
smaller episodes cost 3.8 points of held-out 5-shot accuracy, 83.4 → 79.6). With ``inner_steps: 0``
ACC was 93.7 ± 0.4: on split-mnist, and in 5-shot accuracy on fewshot-mnist1d, the inner loop adds
nothing measurable to the prototypes. Nor does it under unannounced shifts of task and domain (OSAKA,
``benchmarks/README.md``, seeds 0-4, ``predict_steps: 5``): online accuracy 86.3 ± 4.5 against 86.1 ± 4.6
without it at p_statio 0.98 (paired p = 0.54), 78.4 against 77.9 at 0.9 (p = 0.19). There the shift
detection below does the work: with it both beat ProtoNets, C-MAML and MAML (ProtoNets 72.7 and 69.2).

Online (``learn_batch``): one meta-step per incoming batch, its episodes drawn from the batch and the
exemplars together; the batch is then offered to the memory. So the agent learns a task-free stream
with no boundary: the classes it knows are those of the batches it has learned (the memory's
per-class quotas follow them), and the embedding's meta-objective always covers the old classes
through the exemplars (the online meta-learning of Finn et al. 2019, on a bounded memory). In an
online stream that announces boundaries, a task's samples still join the memory only as they arrive.
With ``shift_threshold`` set, a task switch is detected as in C-MAML (Caccia et al. 2020), when the
incoming batch's prototypical loss against the prototypes exceeds the previous batch's by more than the
threshold, and the memory is emptied: in a stream that relabels its classes at each switch (OSAKA,
``lifelong.scenarios.osaka``) the old exemplars' labels name other classes. Before an incoming batch
is learned it is scored (the run predicted it), so this uses no label early. Pre-training
(``pretrain``): the episodic loop's meta-training on the pool, relabelled N-way episodes.

With ``predict_steps`` (default 0), predictions use θ' rather than θ: whenever the embedding or the
memory changed, θ takes that many inner steps on the exemplars (the memory is the support, as in
meta-training's inner loop), and the prototypes and the nearest-prototype search use f_θ'; θ itself
is not trained by it. On osaka-mnist1d-validation (seeds 100-102) it moved online accuracy from 77.3
to 79.2 (1 step), 79.8 (3) and 80.9 (5); with 1 step the ablation trained without the inner loop
scored 80.0, so the meta-learned θ still adds nothing over prototype training there. The OSAKA preset
takes 5; on the test streams it raised the agent from 82.4 to 86.3 (p_statio 0.98) and from 68.6 to
78.4 (0.9), and its ablation with the same 5 steps about as much (85.2 to 86.1, 74.6 to 77.9).

With ``learn_inner_lr`` the inner loop's rate is Meta-SGD's (Li et al. 2017): one learned rate per
entry of the embedding's parameters, starting at ``inner_lr`` and meta-learned with θ, used for every
inner step (meta-training, ``predict_steps``, ``adapt``). On osaka-mnist1d-validation it changed
nothing: 80.3 (80.1 second order) against 80.4 without and 81.1 for the ablation without the inner loop.

The head of the network is not trained; before the first task (no prototype yet) predictions come
from the network's outputs, the random-initialisation reference of the accuracy matrix.
"""
from __future__ import annotations

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from torch.func import functional_call

from lifelong.config import Choice, NonNegFloat, NonNegInt, PositiveFloat, PositiveInt
from lifelong.meta.core import adapt, adapt_tasks, learned_rates, over_tasks
from lifelong.meta.prototypes import prototype_logits, prototypical_loss
from lifelong.strategies.base import NetworkStrategy
from lifelong.strategies.mixins import FineTuning
from lifelong.strategies.episodic import EpisodicLearner, feature_params
from lifelong.strategies.memory import PrototypeMemory


class Agent(FineTuning, EpisodicLearner):
    """Meta-learned embedding + class-balanced exemplars + nearest-prototype prediction."""

    handles_regression = False
    needs_boundaries = False
    learns_online = True
    state_attrs = EpisodicLearner.state_attrs + ("last_loss", "shifts", "alpha")

    def __init__(self, *, buffer_size: PositiveInt = 200, n_way: PositiveInt = 10, k_support: PositiveInt = 4,
                 k_query: PositiveInt = 3, meta_batch: PositiveInt = 1, batch_size: PositiveInt = 32,
                 inner_steps: NonNegInt = 1, inner_lr: PositiveFloat = 0.05, first_order: bool = True,
                 metric: Annotated[str, Choice("euclidean", "cosine")] = "euclidean",
                 shift_threshold: NonNegFloat | None = None, predict_steps: NonNegInt = 0,
                 learn_inner_lr: bool = False, **kwargs):
        super().__init__(buffer_size=buffer_size, n_way=n_way, k_support=k_support, k_query=k_query,
                         meta_batch=meta_batch, **kwargs)
        self.batch_size, self.inner_steps, self.inner_lr = batch_size, inner_steps, inner_lr
        self.first_order, self.metric, self.shift_threshold = first_order, metric, shift_threshold
        self.predict_steps, self.learn_inner_lr = predict_steps, learn_inner_lr

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.stale = False  # whether the embedding changed since the prototypes were computed
        self.fast = None  # θ' adapted to the exemplars (``predict_steps``), else None: predictions use θ
        self.last_loss, self.shifts = None, 0  # online shift detection: the previous batch's loss, switches seen
        self.alpha = (learned_rates(dict(self.net.features.named_parameters()), self.inner_lr)
                      if self.learn_inner_lr else None)  # Meta-SGD's rates, one per entry of the embedding

    def meta_parameters(self):
        return [*super().meta_parameters(), *(self.alpha or {}).values()]

    def inner_rate(self, learning: bool = False):
        """The inner loop's step size: ``inner_lr``, or the learned rates (``learn_inner_lr``), as the leaves
        the meta-loss differentiates when ``learning``, else detached (adaptation, prediction)."""
        if self.alpha is None:
            return self.inner_lr
        return self.alpha if learning else {n: a.detach() for n, a in self.alpha.items()}

    def new_memory(self):
        return PrototypeMemory(self.buffer_size, self.info.n_classes, self.device, self.metric)

    # --- training: episodes over the task and the memory ------------------------------------

    def outer_steps(self, task) -> int:
        return self.epochs * math.ceil(task.n_train / self.batch_size)

    def before_task(self, task):
        super().before_task(task)  # the episodes' pool already holds the earlier tasks' exemplars
        self.memory.add(self.generator, x=task.x_train, y=task.y_train)  # random: the embedding plays no part
        self.stale = True

    def outer_step(self, episodes):
        self.stale = True
        return super().outer_step(episodes)

    def learn_batch(self, x, y, t=None):
        """Online: a meta-step on episodes from the incoming batch and the exemplars, then the batch
        is offered to the memory."""
        self.see_labels(y)
        if self.shift_threshold is not None and self.shifted(x, y):
            self.memory, self.stale = self.new_memory(), True
            self.shifts += 1
        self.online_optimizer(self.meta_parameters())
        old = self.memory.stored()
        pool = (torch.cat([x, old["x"]]), torch.cat([y, old["y"]])) if old else (x, y)
        loss = self.meta_step(self.episodes(*pool, None))
        self.memory.add(self.generator, x=x, y=y)
        return loss

    @torch.no_grad()
    def shifted(self, x, y) -> bool:
        """Whether the batch's prototypical loss against the exemplars' prototypes exceeds the previous
        batch's by more than ``shift_threshold`` (C-MAML's detection of a task switch, Caccia et al. 2020)."""
        usable = self.memory.counts > 0
        if not bool(usable[y].all()):  # a class without a prototype: no loss to compare
            self.last_loss = None
            return False
        if self.stale:
            self.refresh()
        loss = F.cross_entropy(prototype_logits(self.embed(x), self.memory.prototypes, usable, self.metric), y).item()
        jumped = self.last_loss is not None and loss - self.last_loss > self.shift_threshold
        self.last_loss = loss
        return jumped

    def begin_task(self, task):
        NetworkStrategy.before_task(self, task)  # the task's classes; its samples join the memory as they come
        self.opt = self.opt_state = None

    def outer_loss(self, params, episodes):
        """The mean query loss over a batch of episodes, the inner loop on their supports vmapped."""
        xs, ys, xq, yq = episodes
        fast = adapt_tasks(self.net.features, feature_params(params), xs, ys, self.support_loss,
                           steps=self.inner_steps, lr=self.inner_rate(learning=True), first_order=self.first_order)
        return over_tasks(self.query_loss, fast, xs, ys, xq, yq).mean()

    def query_loss(self, fast, xs, ys, xq, yq):
        """One episode's query loss against its support's prototypes, with the episode's adapted θ'."""
        emb = functional_call(self.net.features, fast, (torch.cat([xs, xq]),))
        return prototypical_loss(emb[:len(ys)], ys, emb[len(ys):], yq, self.info.n_classes, self.metric)

    def inner_loop(self, params, x, y, steps, lr):
        """θ' after ``steps`` SGD steps of the support's prototypical loss on itself."""
        return adapt(self.net.features, params, x, y, self.support_loss, steps=steps, lr=lr,
                     first_order=self.first_order)

    def support_loss(self, emb, y):
        return prototypical_loss(emb, y, emb, y, self.info.n_classes, self.metric)

    # --- predicting: the nearest prototype ------------------------------------------------

    @torch.no_grad()
    def embed(self, x):
        """f_θ(x), or f_θ'(x) with θ' adapted to the exemplars when ``predict_steps`` is set."""
        return self.net.features(x) if self.fast is None else functional_call(self.net.features, self.fast, (x,))

    def refresh(self):
        """Every prototype recomputed from the exemplars. With ``predict_steps``, θ first takes that many
        inner steps on the exemplars (the support of meta-training's inner loop is the memory here), and
        the prototypes and predictions use θ': MAML's test-time procedure, matched to its training."""
        self.fast = None
        if self.predict_steps and len(self.memory):
            stored = self.memory.stored()
            fast = self.inner_loop(dict(self.net.features.named_parameters()), stored["x"], stored["y"],
                                   self.predict_steps, self.inner_rate())
            self.fast = {n: t.detach() for n, t in fast.items()}
        self.memory.refresh(self.embed)
        self.stale = False

    @torch.inference_mode()
    def predict(self, x, info):
        if self.stale:
            self.refresh()
        mask = self.prediction_mask(info)
        usable = self.memory.counts > 0 if mask is None else (self.memory.counts > 0) & mask
        if not usable.any():  # no prototype yet for these classes: the network's outputs
            return super().predict(x, info)
        return self.memory.nearest(self.embed(x), usable)

    def fine_tune(self, x, y, info):
        """``adapt`` = a copy, then this: inner steps on the support from the meta-learned θ, then
        prototypes (the support's class means for its classes, the exemplars' for the others)."""
        self.see_labels(y)
        net = self.net.features
        lr = self.inner_rate() if self.adapt_lr is None else self.adapt_lr
        fast = self.inner_loop(dict(net.named_parameters()), x, y, self.adapt_steps, lr)
        with torch.no_grad():
            for name, p in net.named_parameters():
                p.copy_(fast[name])
        self.fast = None  # the adapted copy's own θ is the embedding now
        self.memory.refresh(self.embed)
        self.memory.set_class_means(self.embed(x), y)
        self.stale = False

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.stale = True
