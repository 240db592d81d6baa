"""OML, online-aware meta-learning (Javed & White 2019, "Meta-Learning Representations for Continual
Learning", NeurIPS), its meta-training objective (Algorithm 1) run online on the stream.

The network is a representation φ_θ (``net.features``) and a prediction head W (``net.head``). Each
incoming batch of the current task is a trajectory, split into ``inner_steps`` small batches S_1..S_k;
the inner loop adapts the head alone, functionally, from W:
    W_0 = W,  W_j = W_{j−1} − α ∇_W ℓ(W_{j−1} φ_θ(S_j))                       (α = ``inner_lr``)
and the outer (meta) loss is ℓ(W_k φ_θ(S_traj ∪ S_rand)) on the whole trajectory plus as many random
samples from a reservoir memory of past tasks (``buffer_size``; filled at the end of each task). Its
gradient, through the inner loop (second order, cheap since only the linear head adapts), updates
both θ and the head's initialisation W with the base class's optimizer (``optimizer``, ``lr``): the
representation is trained so that online SGD on the head does not interfere with what was learned.

Simplifications: the paper meta-trains on a pre-training set and then freezes φ for the continual
phase; here meta-training is the continual phase (each batch of the stream is one meta-step) and
prediction uses the network as it is, with the meta-learned W (the adapted heads are discarded).
The paper's resetting of the head's rows for the trajectory's classes is not done. Task-incremental
streams mask the logits of both loops to each sample's task.

Behaviour to expect on class-incremental streams: W under-predicts the classes of the task being
learned, since the outer loss is taken after head steps on current-task data alone, which raise
those classes' logits (in the paper those online steps happen before prediction; here they are
discarded). A task is caught up once it has left the stream for the memory, so the last task of a
stream scores low; a smaller ``inner_lr`` narrows the gap and weakens the meta-learning.
"""
import torch
from torch.func import functional_call, grad

from lifelong.config import PositiveFloat, PositiveInt
from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.rehearsal import Rehearsal


class OML(Rehearsal, SGDStrategy):
    """Meta-learn a representation under which fast online updates of the head do not interfere."""

    def __init__(self, *, inner_lr: PositiveFloat = 0.1, inner_steps: PositiveInt = 5, **kwargs):
        super().__init__(**kwargs)
        self.inner_lr, self.inner_steps = inner_lr, inner_steps

    def training_step(self, x, y, t):
        n = len(y)
        x, y, t = self.with_memory(x, y, t)  # the trajectory, then S_rand: as many random samples of past tasks
        h = self.net.features(x)
        head = self.adapt_head(h[:n], y[:n], None if t is None else t[:n])  # inner loop on the trajectory
        return self.head_loss(head, h, y, t)

    def adapt_head(self, h, y, t) -> dict:
        """W_k: ``inner_steps`` SGD steps of the head alone, on consecutive pieces of the trajectory's
        embeddings ``h``; differentiable with respect to W and to h (so to θ). The network is untouched."""
        head = dict(self.net.head.named_parameters())
        parts = [torch.tensor_split(v, self.inner_steps) if v is not None else [None] * self.inner_steps
                 for v in (h, y, t)]
        for hc, yc, tc in zip(*parts):
            if len(yc):
                g = grad(self.head_loss)(head, hc, yc, tc)
                head = {k: head[k] - self.inner_lr * g[k] for k in head}
        return head

    def head_loss(self, head, h, y, t):
        return self.loss(self.masked(functional_call(self.net.head, head, (h,)), t), y)

    def after_task(self, task):
        self.remember_task(task)
