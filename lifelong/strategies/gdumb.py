"""GDumb (Prabhu et al. 2020, "GDumb: A Simple Approach that Questions Our Progress in Continual
Learning")."""
import torch

from lifelong.config import NonNegInt
from lifelong.strategies.base import SGDStrategy


class GDumb(SGDStrategy):
    """A greedy class-balanced memory, and a network retrained from scratch on it alone.

    Sampler: a sample is stored while the memory has room; once it is full, a sample of a
    class holding fewer than ``buffer_size / (classes seen)`` slots replaces a random sample of
    the largest class. Each task's samples are offered in a random order. Learner: after
    sampling a task, a freshly initialised network (its seed drawn from the run's seed and the
    task's index alone) is trained for ``epochs`` on the memory, shuffled by a generator
    reseeded the same way, so the network depends on nothing but the memory and the seed.
    """

    handles_regression = False

    state_attrs = SGDStrategy.state_attrs + ("memory",)

    def __init__(self, *, buffer_size: NonNegInt = 200, **kwargs):
        super().__init__(**kwargs)
        self.buffer_size = buffer_size

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        shape = info.input_shape
        self.memory = {"x": torch.zeros(0, *shape, device=self.device),
                       "y": torch.zeros(0, dtype=torch.long, device=self.device),
                       "t": torch.zeros(0, dtype=torch.long, device=self.device)}

    def training_data(self, task):
        order = torch.randperm(task.n_train, generator=self.generator, device=self.device)
        t = torch.full((task.n_train,), task.task_label, dtype=torch.long, device=self.device)
        self.sample(x=task.x_train[order], y=task.y_train[order], t=t)
        seed = self.seed + 7919 * (task.index + 1)
        self.net = self.new_net(seed)
        self.generator.manual_seed(seed)
        m = self.memory
        return m["x"], m["y"], m["t"] if self.info.setting == "task-incremental" else None

    def sample(self, **batch):
        """Offer samples in order to the greedy class-balanced sampler."""
        pool = {k: torch.cat([self.memory[k], v.to(self.memory[k].dtype)]) for k, v in batch.items()}
        labels = pool["y"].tolist()
        keep = list(range(len(self.memory["y"])))  # rows of ``pool`` in memory
        counts: dict[int, int] = {}
        for row in keep:
            counts[labels[row]] = counts.get(labels[row], 0) + 1
        for row in range(len(keep), len(labels)):
            c = labels[row]
            counts.setdefault(c, 0)
            if len(keep) < self.buffer_size:
                keep.append(row)
            elif counts[c] < self.buffer_size / len(counts):
                largest = max(counts, key=counts.get)
                slots = [i for i, r in enumerate(keep) if labels[r] == largest]
                keep[slots[int(torch.randint(len(slots), (), generator=self.generator, device=self.device))]] = row
                counts[largest] -= 1
            else:
                continue
            counts[c] += 1
        rows = torch.tensor(keep, dtype=torch.long, device=self.device)
        self.memory = {k: v[rows] for k, v in pool.items()}
