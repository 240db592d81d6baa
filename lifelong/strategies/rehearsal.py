"""What the rehearsal strategies share: a bounded memory and the plumbing around it.

``Rehearsal`` is a mix-in for a ``MiniBatchStrategy`` (usually an ``SGDStrategy``): the field
``buffer_size``, a memory built by ``setup`` (``new_memory``: a reservoir unless the method keeps
another kind, ``lifelong.strategies.memory``) and saved with the learner's state, and the three ways
a method fills or reads it: ``remember_task`` (a finished task's samples), ``remember`` (a mini-batch)
and ``with_memory`` (a mini-batch joined by a batch drawn from the memory).

``OnlineRehearsal`` is the base of MER and La-MAML: an update rule of the method's own (``observe``)
on each incoming mini-batch, then the batch offered to the reservoir.
"""
from __future__ import annotations

import torch
from torch.func import functional_call

from lifelong.config import NonNegInt, PositiveFloat
from lifelong.models import batch_statistics, track_statistics
from lifelong.strategies.base import MiniBatchStrategy, NetworkStrategy
from lifelong.strategies.mixins import FineTuning
from lifelong.strategies.memory import ReservoirMemory


class Rehearsal:
    """A memory of at most ``buffer_size`` samples (a mix-in of ``MiniBatchStrategy``)."""

    state_attrs = NetworkStrategy.state_attrs + ("memory",)

    def __init__(self, *, buffer_size: NonNegInt = 200, **kwargs):
        super().__init__(**kwargs)
        self.buffer_size = buffer_size

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.memory = self.new_memory()

    def new_memory(self):
        return ReservoirMemory(self.buffer_size, self.device)

    def remember_task(self, task) -> None:
        """Offer the task's training samples to the memory, in a random order (none and no random draw
        when ``buffer_size`` is 0: an empty memory is exactly Naive)."""
        if self.buffer_size == 0:
            return
        order = torch.randperm(task.n_train, generator=self.generator, device=self.device)
        t = torch.full((task.n_train,), task.task_label, dtype=torch.long, device=self.device)
        self.memory.add(self.generator, x=task.x_train[order], y=task.y_train[order], t=t)

    def remember(self, x, y, t=None, **extra: torch.Tensor) -> None:
        """Offer a mini-batch to the memory (its task labels ``t`` when given, and e.g. DER's logits)."""
        self.memory.add(self.generator, x=x, y=y, **({} if t is None else {"t": t}), **extra)

    def with_memory(self, x, y, t):
        """The mini-batch joined by as many samples drawn from the memory (as it is while that is empty)."""
        if not len(self.memory):
            return x, y, t
        m = self.memory.sample(len(y), self.generator)
        return torch.cat([x, m["x"]]), torch.cat([y, m["y"]]), None if t is None else torch.cat([t, m["t"]])


class OnlineRehearsal(Rehearsal, FineTuning, MiniBatchStrategy):
    """Online learning over incoming and remembered mini-batches with an update rule of the method's
    own: ``observe(x, y, t)`` learns an incoming batch (functionally, ``torch.func``, writing the
    weights back to the network) and returns its loss; the batch is then offered to the reservoir, in
    the first epoch only so that no sample is offered twice. No torch optimizer trains the network,
    so there is no ``lr`` field: few-shot ``adapt`` takes plain SGD steps at ``adapt_lr``.
    """

    def __init__(self, *, adapt_lr: PositiveFloat = 0.01, **kwargs):
        super().__init__(adapt_lr=adapt_lr, **kwargs)

    def new_optimizer(self, params, lr: float | None = None) -> torch.optim.Optimizer:
        """Plain SGD at ``adapt_lr``, for ``fine_tune`` (the loop's ``self.opt`` is not used)."""
        return torch.optim.SGD(params, lr=lr or self.adapt_lr)

    def update(self, x, y, t, epoch):
        with batch_statistics(self.net):  # functional steps: BatchNorm on each batch's statistics
            loss = self.observe(x, y, t)
        track_statistics(self.net, x)
        if epoch == 0:  # offer each incoming sample to the memory once, after learning from it
            self.memory.add(self.generator, x=x, y=y, t=torch.full_like(y, self.task_label))
        return loss

    def observe(self, x, y, t) -> torch.Tensor:
        raise NotImplementedError

    def functional_loss(self, params, x, y, t):
        """The task loss of the network with weights ``params`` (a dict) on one batch."""
        return self.loss(self.masked(functional_call(self.net, params, (x,)), t), y)
