"""CoPE, Continual Prototype Evolution (De Lange & Tuytelaars, ICCV 2021, "Continual Prototype
Evolution: Learning Online from Non-Stationary Data Streams")."""
import copy

import torch
import torch.nn.functional as F

from lifelong.config import Fraction, PositiveFloat
from lifelong.models import evaluating
from lifelong.strategies.base import MiniBatchStrategy, SGDStrategy
from lifelong.strategies.mixins import MixedPrecision, WithOptimizer
from lifelong.strategies.memory import PrototypeMemory
from lifelong.strategies.rehearsal import Rehearsal


def ppp_loss(z: torch.Tensor, y: torch.Tensor, prototypes: torch.Tensor, temperature: float) -> torch.Tensor:
    """The pseudo-prototypical proxy loss (CoPE §4.2) of unit embeddings ``z`` with labels ``y``.

    For each class c of the batch, with p(c | x) = e^{x·p_c/T} / (e^{x·p_c/T} + Σ_k e^{x·p_k/T}) over
    the prototypes p_k of the batch's other classes, and the same with another sample x_j of class c
    in place of p_c (a pseudo-prototype): the attractor −Σ_{x in c} log of the mean of p(c | x) over
    p_c and the pseudo-prototypes other than x, and the repellor −Σ_{x not in c} log(1 − E) with E the
    mean of p(c | x) by p_c and by the pseudo-prototypes, each half. Summed over the classes, divided
    by the batch size. Prototypes and pseudo-prototypes are constants: the gradient flows through
    the samples scored against them."""
    classes = y.unique()
    batch_prototypes = prototypes[classes]
    total = z.new_zeros(())
    for i, c in enumerate(classes):
        own = y == c
        anchors = torch.cat([z[own].detach(), batch_prototypes[i:i + 1]])  # pseudo-prototypes, then p_c
        others = batch_prototypes[torch.arange(len(classes), device=y.device) != i]

        def p(x):
            near = torch.exp(x @ anchors.T / temperature)
            return near / (near + torch.exp(x @ others.T / temperature).sum(1, keepdim=True))

        members = z[own]
        attract = p(members).masked_fill(torch.eye(len(members), len(anchors), dtype=torch.bool,
                                                   device=y.device), 0).sum(1) / len(members)
        total = total - attract.log().sum()
        if (~own).any():
            q = p(z[~own])
            total = total - (1 - (q[:, :-1].mean(1) + q[:, -1]) / 2).clamp(min=1e-12).log().sum()
    return total / len(y)


class CoPE(Rehearsal, WithOptimizer, MixedPrecision, MiniBatchStrategy):
    """Unit embeddings trained against class prototypes that evolve online; prediction by the nearest
    prototype (cosine).

    A class's prototype is a random unit vector when the class first appears. Each step takes the
    incoming batch and as many samples drawn from a class-balanced memory, the PPP loss
    (``ppp_loss``) at ``temperature`` on their normalised features, and one optimizer step; then each
    class of the batch moves its prototype to ``momentum`` · p + (1 − ``momentum``) · (the mean of its
    embeddings in the batch, taken before the step), renormalised, and the incoming batch joins the
    memory (each class an equal share of ``buffer_size``, a uniform draw of its samples). The
    network's head is not trained. No task boundary is used (the paper's setting). ``adapt`` takes
    the support's mean embeddings as its classes' prototypes.
    """

    handles_regression = False
    needs_boundaries = False
    state_attrs = Rehearsal.state_attrs + ("prototypes", "known")
    update = SGDStrategy.update  # an optimizer step on training_step's loss

    def __init__(self, *, momentum: Fraction = 0.99, temperature: PositiveFloat = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.temperature = momentum, temperature

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.prototypes = torch.zeros(info.n_classes, self.net.embedding_dim, device=self.device)
        self.known = torch.zeros(info.n_classes, dtype=torch.bool, device=self.device)  # classes with a prototype

    def new_memory(self):
        return PrototypeMemory(self.buffer_size, self.info.n_classes, self.device)  # its exemplars only

    def embed(self, x):
        return F.normalize(self.net.features(x), dim=1)

    def training_step(self, x, y, t):
        new = torch.zeros_like(self.known)
        new[y] = True
        new &= ~self.known
        if new.any():
            draw = torch.rand(int(new.sum()), self.prototypes.shape[1], generator=self.generator, device=self.device)
            self.prototypes[new], self.known[new] = F.normalize(draw, dim=1), True
        bx, by = x, y
        if len(self.memory):
            pick = torch.randint(len(self.memory), (len(y),), generator=self.generator, device=self.device)
            bx, by = torch.cat([x, self.memory.x[pick]]), torch.cat([y, self.memory.y[pick]])
        z = self.embed(bx)
        loss = ppp_loss(z, by, self.prototypes, self.temperature)
        self.evolve(z.detach(), by)
        self.memory.add(self.generator, x=x, y=y)
        return loss

    @torch.no_grad()
    def evolve(self, z, y) -> None:
        """Each class of the batch moves its prototype towards its mean embedding, by 1 − momentum."""
        for c in y.unique():
            mean = z[y == c].mean(0)
            self.prototypes[c] = F.normalize(self.momentum * self.prototypes[c] + (1 - self.momentum) * mean, dim=0)

    @torch.inference_mode()
    def predict(self, x, info):
        mask = self.prediction_mask(info)
        usable = self.known if mask is None else self.known & mask
        if not usable.any():  # no prototype yet: the network's outputs
            return super().predict(x, info)
        with evaluating(self.net):
            return (self.embed(x) @ self.prototypes.T).masked_fill(~usable, float("-inf")).argmax(1)

    def adapt(self, x, y, info):
        adapted = copy.deepcopy(self)
        adapted.see_labels(y)
        with torch.no_grad(), evaluating(adapted.net):
            z = adapted.embed(x)
        for c in y.unique():
            adapted.prototypes[c] = F.normalize(z[y == c].mean(0), dim=0)
            adapted.known[c] = True
        return adapted
