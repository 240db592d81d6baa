"""MIR, Maximally Interfered Retrieval (Aljundi, Caccia, Belilovsky, Caccia, Lin, Charlin & Tuytelaars,
NeurIPS 2019, "Online Continual Learning with Maximally Interfered Retrieval")."""
import torch
import torch.nn.functional as F
from torch.func import functional_call

from lifelong.config import PositiveInt
from lifelong.strategies.base import SGDStrategy
from lifelong.strategies.rehearsal import Rehearsal


class MIR(Rehearsal, SGDStrategy):
    """Experience Replay that replays the memory samples the coming update would hurt most.

    For an incoming batch: a virtual SGD step θ' = θ − lr ∇L(batch); among ``subsample`` candidates
    drawn from the reservoir (without replacement), the ``len(batch)`` whose loss rises most from θ
    to θ' are retrieved, and the step is taken on the incoming and retrieved samples together (the
    loss of ``Replay`` with its memory batch: only the retrieval differs). The batch then joins the
    reservoir. No task boundary is used (the paper's online setting); in a
    stream of several epochs every epoch offers the batches again, as in DER.
    """

    handles_regression = False
    needs_boundaries = False

    def __init__(self, *, subsample: PositiveInt = 50, **kwargs):
        super().__init__(**kwargs)
        self.subsample = subsample

    def training_step(self, x, y, t):
        loss = self.loss(self.logits(x, t), y)
        if len(self.memory):
            m = self.retrieve(loss, len(y))
            x_all, y_all = torch.cat([x, m["x"]]), torch.cat([y, m["y"]])
            loss = self.loss(self.logits(x_all, None if t is None else torch.cat([t, m["t"]])), y_all)
        self.remember(x, y, t)
        return loss

    def retrieve(self, loss, k: int) -> dict:
        """The ``k`` candidates whose loss the virtual step on ``loss`` raises most."""
        m = self.memory.sample(self.subsample, self.generator, replace=False)
        params = dict(self.net.named_parameters())
        grads = torch.autograd.grad(loss, list(params.values()), retain_graph=True)
        with torch.no_grad():
            virtual = {n: p - self.lr * g for (n, p), g in zip(params.items(), grads)}
            before = self.candidate_losses(self.net(m["x"]), m)
            after = self.candidate_losses(functional_call(self.net, virtual, (m["x"],)), m)
            top = (after - before).topk(min(k, len(before))).indices
        return {name: v[top] for name, v in m.items()}

    def candidate_losses(self, out, m) -> torch.Tensor:
        return F.cross_entropy(self.masked(out, m.get("t")), m["y"], reduction="none")
