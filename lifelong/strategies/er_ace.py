"""ER-ACE, Experience Replay with asymmetric cross-entropy (Caccia et al. 2022, "New Insights on
Reducing Abrupt Representation Change in Online Continual Learning")."""
import torch
import torch.nn.functional as F

from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.rehearsal import Rehearsal


class ERACE(Rehearsal, SGDStrategy):
    """Replay with the incoming and memory losses kept apart and masked differently.

    The incoming batch's cross-entropy is taken over the classes present in that batch only,
    so the arrival of new classes does not push the old classes' logits down (the abrupt
    change of old representations); the memory batch's cross-entropy is taken over every class
    seen so far (task-incremental: its task's classes), where old and new classes compete.
    As in the paper, every incoming batch is then offered to the reservoir, so the memory
    holds the current task too. It needs no task boundary: in a task-free stream the classes seen
    so far are those of the batches learned.
    """

    handles_regression = False
    needs_boundaries = False

    def training_step(self, x, y, t):
        present = torch.zeros(self.info.n_classes, dtype=torch.bool, device=self.device)
        present[y] = True
        loss = F.cross_entropy(self.logits(x, t).masked_fill(~present, float("-inf")), y)
        if len(self.memory):
            m = self.memory.sample(len(y), self.generator)
            out = self.logits(m["x"], None if t is None else m["t"]).masked_fill(~self.seen, float("-inf"))
            loss = loss + F.cross_entropy(out, m["y"])
        self.remember(x, y, t)
        return loss
