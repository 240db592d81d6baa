"""Experience Replay with a reservoir buffer (Chaudhry et al. 2019, "On Tiny Episodic Memories in
Continual Learning")."""
from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.rehearsal import Rehearsal


class Replay(Rehearsal, SGDStrategy):
    """Each mini-batch is joined by an equally large batch drawn from a fixed-size memory.

    The memory is a reservoir over every training sample seen so far, offered at
    the end of each task in a random order, so every past sample has the same
    chance of being kept. In an online stream this is online ER (Chaudhry et al.
    2019, Alg. 1 with a reservoir): each incoming batch is offered to the reservoir
    right after its step, so no task boundary is needed.
    """

    needs_boundaries = False

    def training_step(self, x, y, t):
        return super().training_step(*self.with_memory(x, y, t))

    def after_task(self, task):
        self.remember_task(task)

    def learn_batch(self, x, y, t=None):
        loss = super().learn_batch(x, y, t)
        self.remember(x, y, t)
        return loss

    def end_task(self, task):
        pass  # online: the task's samples were offered batch by batch
