"""Experience Replay with a reservoir buffer (Chaudhry et al. 2019, "On Tiny Episodic Memories in
Continual Learning")."""
import torch

from lifelong.config import NonNegInt
from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.memory import ReservoirBuffer


class Replay(SGDStrategy):
    """Each mini-batch is joined by an equally large batch drawn from a fixed-size memory.

    The memory is a reservoir over every training sample seen so far, offered at
    the end of each task in a random order, so every past sample has the same
    chance of being kept.
    """

    state_attrs = SGDStrategy.state_attrs + ("memory",)

    def __init__(self, *, buffer_size: NonNegInt = 200, **kwargs):
        super().__init__(**kwargs)
        self.buffer_size = buffer_size

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.memory = ReservoirBuffer(self.buffer_size, self.device)

    def training_step(self, x, y, t):
        if len(self.memory):
            m = self.memory.sample(len(y), self.generator)
            x, y = torch.cat([x, m["x"]]), torch.cat([y, m["y"]])
            t = None if t is None else torch.cat([t, m["t"]])
        return super().training_step(x, y, t)

    def after_task(self, task):
        if self.buffer_size == 0:  # draw no random numbers: an empty memory is exactly Naive
            self.memory.add(self.generator, x=task.x_train)
            return
        order = torch.randperm(task.n_train, generator=self.generator, device=self.device)
        t = torch.full((task.n_train,), task.task_label, dtype=torch.long, device=self.device)
        self.memory.add(self.generator, x=task.x_train[order], y=task.y_train[order], t=t)
