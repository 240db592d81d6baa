"""Meta-Experience Replay (Riemer et al. 2019, "Learning to Learn without Forgetting by Maximizing
Transfer and Minimizing Interference", ICLR): Algorithm 1, "MER", with mini-batches.

The paper's stream arrives one example at a time, and each of the s batches B_i holds the current
example plus k−1 examples from a reservoir memory, learned with one SGD step per example. Here the
stream arrives in mini-batches of ``batch_size`` and every element of B_i is a mini-batch: the incoming
one first, then k−1 (``batch_steps`` − 1) batches of ``batch_size`` memory samples; with
``batch_size: 1`` this is the paper's algorithm (memory drawn with replacement). Everything else is
the paper's: within-batch Reptile (β) after each B_i, across-batch Reptile (γ) after the s batches,
then the incoming samples are offered to the reservoir (in the first epoch only, so that no sample
is offered twice). The inner loop is functional (``torch.func``): weights are a dict of tensors,
written back to the network once per incoming batch.
"""
from typing import Annotated

import torch
from torch.func import grad_and_value

from lifelong.config import PositiveFloat, PositiveInt, Range
from lifelong.strategies.rehearsal import OnlineRehearsal

Rate = Annotated[float, Range(0, 1, low_open=True)]


class MER(OnlineRehearsal):
    """Reptile over replayed batches: sequential SGD steps on the incoming and remembered samples,
    pulled back towards the starting weights, favour updates whose gradients agree across samples
    (the Reptile objective's implicit term −αβ ∂L_i·∂L_j), i.e. transfer over interference.

    ``inner_lr`` is the inner SGD rate α; the network trains with it alone (few-shot ``adapt`` takes
    plain SGD steps at ``adapt_lr``).
    """

    def __init__(self, *, beta: Rate = 0.1, gamma: Rate = 1.0, replay_batches: PositiveInt = 3,
                 batch_steps: PositiveInt = 2, inner_lr: PositiveFloat = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.beta, self.gamma = beta, gamma
        self.replay_batches, self.batch_steps, self.inner_lr = replay_batches, batch_steps, inner_lr

    def observe(self, x, y, t) -> torch.Tensor:
        """One MER update for an incoming batch; returns the loss on it before the update."""
        theta = start = {n: p.detach() for n, p in self.net.named_parameters()}
        first = None
        for _ in range(self.replay_batches):
            before = theta
            for xb, yb, tb in self.inner_batches(x, y, t):  # B_i: the incoming batch, then memory batches
                g, loss = grad_and_value(self.functional_loss)(theta, xb, yb, tb)
                theta = {n: theta[n] - self.inner_lr * g[n] for n in theta}
                first = loss if first is None else first
            theta = {n: before[n] + self.beta * (theta[n] - before[n]) for n in theta}  # within-batch Reptile
        theta = {n: start[n] + self.gamma * (theta[n] - start[n]) for n in theta}  # across-batch Reptile
        with torch.no_grad():
            for n, p in self.net.named_parameters():
                p.copy_(theta[n])
        return first

    def inner_batches(self, x, y, t):
        """The incoming batch, then ``batch_steps`` − 1 batches of as many memory samples (none while empty)."""
        chunks = [(x, y, t)]
        if len(self.memory) and self.batch_steps > 1:
            m = self.memory.sample(len(y) * (self.batch_steps - 1), self.generator)
            mt = None if t is None else m["t"]
            for i in range(self.batch_steps - 1):
                s = slice(i * len(y), (i + 1) * len(y))
                chunks.append((m["x"][s], m["y"][s], None if mt is None else mt[s]))
        return chunks
