"""Learning without Forgetting (Li & Hoiem 2016, "Learning without Forgetting", ECCV)."""
import copy

import torch
import torch.nn.functional as F

from lifelong.config import NonNegFloat, PositiveFloat
from lifelong.strategies.base import SGDStrategy


class LwF(SGDStrategy):
    """Keep the old tasks' outputs on the new data where the previous model put them:
    loss + α Σ_heads CE(softmax(z_old / T), softmax(z / T)), summed over the old tasks' heads,
    with z_old the outputs of a frozen copy of the network taken when the task begins.

    A head is a set of outputs: in a task-incremental stream, each earlier task's classes
    (the paper's multi-head network); otherwise the classes seen before the task (in a
    domain-incremental stream, all of them). Soft-target cross-entropy is the paper's loss:
    it differs from the KL divergence by the targets' entropy, so its gradient is the same.
    The paper's warm-up (training the new task's outputs alone before the whole network) is
    left out: here the new outputs share one layer with the old ones.

    The frozen copy and its heads are rebuilt in ``before_task`` from the network and the
    masks, which ``state_dict`` already holds, so they need no saving of their own.
    """

    handles_regression = False

    def __init__(self, *, alpha: NonNegFloat = 1.0, temperature: PositiveFloat = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha, self.temperature = alpha, temperature

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.old_net: torch.nn.Module | None = None  # none before the second task
        self.old_heads = torch.zeros(0, info.n_classes, dtype=torch.bool, device=self.device)

    def before_task(self, task):
        if bool(self.seen.any()):
            if self.info.setting == "task-incremental":
                heads = [m for label, m in enumerate(self.task_masks) if label != task.task_label and m.any()]
                self.old_heads = torch.stack(heads) if heads else self.old_heads[:0]
            else:
                self.old_heads = self.seen.clone()[None]
            self.old_net = copy.deepcopy(self.net).eval().requires_grad_(False)  # its recorded responses
        super().before_task(task)

    def training_step(self, x, y, t):
        out = self.net(x)  # one forward pass for both terms: the task loss masks it as ``logits`` does
        loss = F.cross_entropy(self.masked(out, t), y)
        if self.old_net is not None and len(self.old_heads):
            loss = loss + self.alpha * self.distillation(x, out)
        return loss

    def distillation(self, x, new) -> torch.Tensor:
        """Σ over the old heads of the cross-entropy between the old model's softened outputs on ``x``
        and the new ones, ``new``."""
        with torch.no_grad():
            old = self.old_net(x)
        total = new.new_zeros(())
        for head in self.old_heads:
            target = F.softmax(old[:, head] / self.temperature, dim=1)
            total = total + F.cross_entropy(new[:, head] / self.temperature, target)
        return total
