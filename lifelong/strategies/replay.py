"""Experience Replay with a reservoir buffer (Chaudhry et al. 2019, "On Tiny Episodic Memories in
Continual Learning"; reservoir sampling: Vitter 1985)."""
import torch

from lifelong.config import NonNegInt
from lifelong.strategies.base import SGDStrategy


class Replay(SGDStrategy):
    """Each mini-batch is joined by an equally large batch drawn from a fixed-size memory.

    The memory is a reservoir over every training sample seen so far, filled at
    the end of each task, so every past sample has the same chance of being kept.
    """

    state_attrs = SGDStrategy.state_attrs + ("buffer_x", "buffer_y", "buffer_t", "n_stored", "n_seen")

    def __init__(self, *, buffer_size: NonNegInt = 200, **kwargs):
        super().__init__(**kwargs)
        self.buffer_size = buffer_size

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.buffer_x = torch.zeros((self.buffer_size, *info.input_shape), device=self.device)
        self.buffer_y = torch.zeros(self.buffer_size, dtype=torch.long, device=self.device)
        self.buffer_t = torch.zeros(self.buffer_size, dtype=torch.long, device=self.device)
        self.n_stored = self.n_seen = 0

    def training_step(self, x, y, t):
        if self.n_stored:
            idx = torch.randint(self.n_stored, (len(y),), generator=self.generator, device=self.device)
            x, y = torch.cat([x, self.buffer_x[idx]]), torch.cat([y, self.buffer_y[idx]])
            t = None if t is None else torch.cat([t, self.buffer_t[idx]])
        return super().training_step(x, y, t)

    def after_task(self, task):
        """Reservoir sampling over the task's samples, in a random order."""
        if self.buffer_size == 0:
            self.n_seen += task.n_train
            return
        order = torch.randperm(task.n_train, generator=self.generator, device=self.device).tolist()
        draws = torch.rand(len(order), generator=self.generator, device=self.device).tolist()
        for i, u in zip(order, draws):
            self.n_seen += 1
            slot = self.n_stored if self.n_stored < self.buffer_size else int(u * self.n_seen)
            if slot < self.buffer_size:
                self.buffer_x[slot], self.buffer_y[slot] = task.x_train[i], task.y_train[i]
                self.buffer_t[slot] = task.task_label
                self.n_stored = max(self.n_stored, slot + 1)
