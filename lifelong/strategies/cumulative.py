"""Cumulative: keep training the same network on the union of all tasks seen so far."""
import torch

from lifelong.strategies.base import SGDStrategy


class Cumulative(SGDStrategy):
    """At task k, trains (continuing from the current weights) on the data of tasks 1..k.

    Unbounded memory: a reference point, not a continual learner.
    """

    learns_online = False  # it trains on all the data seen so far, not the incoming batch

    state_attrs = SGDStrategy.state_attrs + ("past",)

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.past: list[tuple] = []  # (x, y, t) of every task seen, t None unless task-incremental

    def training_data(self, task):
        self.past.append(super().training_data(task))
        x = torch.cat([p[0] for p in self.past])
        y = torch.cat([p[1] for p in self.past])
        t = None if self.past[0][2] is None else torch.cat([p[2] for p in self.past])
        return x, y, t
