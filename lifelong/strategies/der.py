"""Dark Experience Replay (Buzzega et al. 2020, "Dark Experience for General Continual Learning:
a Strong, Simple Baseline")."""
import torch.nn.functional as F

from lifelong.config import NonNegFloat, NonNegInt
from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.memory import ReservoirBuffer


class DER(SGDStrategy):
    """Replay the network's own past outputs: loss + α · MSE(f(x_m), z_m) on a memory batch.

    The memory is a reservoir over the training mini-batches, each sample stored with the
    logits ``z`` the network gave it at that step (before the update): the targets are sampled
    along the optimisation trajectory. Every epoch offers the task's samples again, as the
    authors' code does. ``z`` are raw outputs over every class; task-incremental masks apply to
    the cross-entropy only.
    """

    state_attrs = SGDStrategy.state_attrs + ("memory",)

    def __init__(self, *, buffer_size: NonNegInt = 200, alpha: NonNegFloat = 5.0, **kwargs):
        super().__init__(**kwargs)
        self.buffer_size, self.alpha = buffer_size, alpha

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.memory = ReservoirBuffer(self.buffer_size, self.device)

    def training_step(self, x, y, t):
        out = self.net(x)
        loss = self.loss(self.masked(out, t), y)
        if len(self.memory):
            loss = loss + self.replay_loss(len(y))
        task = {} if t is None else {"t": t}
        self.memory.add(self.generator, x=x, y=y, logits=out.detach(), **task)
        return loss

    def replay_loss(self, n: int):
        m = self.memory.sample(n, self.generator)
        return self.alpha * F.mse_loss(self.net(m["x"]), m["logits"])
