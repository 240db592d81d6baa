"""Dark Experience Replay (Buzzega et al. 2020, "Dark Experience for General Continual Learning:
a Strong, Simple Baseline")."""
import torch.nn.functional as F

from lifelong.config import NonNegFloat
from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.rehearsal import Rehearsal


class DER(Rehearsal, SGDStrategy):
    """Replay the network's own past outputs: loss + α · MSE(f(x_m), z_m) on a memory batch.

    The memory is a reservoir over the training mini-batches, each sample stored with the
    logits ``z`` the network gave it at that step (before the update): the targets are sampled
    along the optimisation trajectory. Every epoch offers the task's samples again, as the
    authors' code does. ``z`` are raw outputs over every class; task-incremental masks apply to
    the cross-entropy only. As in the paper (general continual learning), it uses no task boundary.
    """

    needs_boundaries = False

    def __init__(self, *, alpha: NonNegFloat = 5.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def training_step(self, x, y, t):
        out = self.net(x)
        loss = self.loss(self.masked(out, t), y)
        if len(self.memory):
            loss = loss + self.replay_loss(len(y))
        self.remember(x, y, t, logits=out.detach())
        return loss

    def replay_loss(self, n: int):
        m = self.memory.sample(n, self.generator)
        return self.alpha * F.mse_loss(self.net(m["x"]), m["logits"])
