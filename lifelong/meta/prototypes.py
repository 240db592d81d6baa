"""Class prototypes: mean embeddings, the prototypical loss, and a bounded class-balanced exemplar memory.

Prototypical Networks (Snell, Swersky & Zemel 2017, "Prototypical Networks for Few-shot Learning"):
the prototype of class c is the mean embedding of its examples, p_c = (1/|S_c|) Σ_{x∈S_c} f(x), and
an input is classified by its nearest prototype under the squared Euclidean distance, i.e. by a
softmax over −‖f(x) − p_c‖². ``prototypical_loss`` is that softmax's cross-entropy; it takes global
labels (an episode's classes are a subset of the stream's ``n_classes``) and has no data-dependent
shapes, so it can be vmapped over episodes (``lifelong.meta.episodes``). ``metric="cosine"`` uses
L2-normalised embeddings and prototypes instead (the distance is then 1 − cos), as iCaRL does.

``PrototypeMemory`` keeps the prototypes of a continual learner: nearest-mean-of-exemplars
(Rebuffi et al. 2017, "iCaRL: Incremental Classifier and Representation Learning"). Its exemplars
are a class-balanced memory of at most ``size`` stored samples (the unit of a replay buffer), each
class holding an equal share, drawn uniformly from all the samples of that class offered so far (a
per-class reservoir). A prototype is computed from its class's exemplars with the embedding as it
is now (``refresh``): when the embedding changes, the prototypes follow it instead of drifting
away from the features they summarise, the failure CoPE (De Lange & Tuytelaars 2021, "Continual
Prototype Evolution: Learning Online from Non-Stationary Data Streams") guards against by evolving
its prototypes. A nearest-mean classifier has no output layer biased towards the latest classes.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

METRICS = ("euclidean", "cosine")


def class_means(emb: torch.Tensor, y: torch.Tensor, n_classes: int, metric: str = "euclidean"):
    """Prototypes and counts: the mean embedding of each class in ``y`` (a zero row where a class has
    no sample) and how many samples it averages. Shapes ``(n_classes, D)`` and ``(n_classes,)``.
    Cosine: the mean of the normalised embeddings, renormalised."""
    if metric == "cosine":
        emb = F.normalize(emb, dim=-1)
    onehot = (y.unsqueeze(-1) == torch.arange(n_classes, device=y.device)).to(emb.dtype)  # (N, C), vmappable
    counts = onehot.sum(0)
    means = (onehot.T @ emb) / counts.clamp(min=1).unsqueeze(1)
    return (F.normalize(means, dim=-1) if metric == "cosine" else means), counts


def distances(emb: torch.Tensor, prototypes: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """``(N, C)``: squared Euclidean distance of each embedding to each prototype, or 1 − cosine."""
    if metric == "cosine":
        return 1 - F.normalize(emb, dim=-1) @ prototypes.T
    return emb.pow(2).sum(-1, keepdim=True) - 2 * emb @ prototypes.T + prototypes.pow(2).sum(-1)


def prototypical_loss(emb_support, y_support, emb_query, y_query, n_classes: int, metric: str = "euclidean",
                      scale: float = 1.0) -> torch.Tensor:
    """Cross-entropy of the queries under a softmax over −scale · distance to the support's prototypes,
    restricted to the classes present in the support. With the support as its own query it is a
    loss on the support alone (the inner loop's)."""
    prototypes, counts = class_means(emb_support, y_support, n_classes, metric)
    logits = -scale * distances(emb_query, prototypes, metric)
    return F.cross_entropy(logits.masked_fill(counts == 0, float("-inf")), y_query)


class PrototypeMemory:
    """At most ``size`` exemplars, class-balanced, and the prototype of every class they hold.

    ``add`` offers a task's samples; ``refresh(embed)`` recomputes every prototype from the
    exemplars with the embedding function given; ``nearest`` classifies embeddings.
    """

    def __init__(self, size: int, n_classes: int, device, metric: str = "euclidean"):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        self.size, self.n_classes, self.metric, self.device = size, n_classes, metric, torch.device(device)
        self.x = self.y = None  # exemplars, grouped by class, each class in random order
        self.n_offered = torch.zeros(n_classes, dtype=torch.long, device=self.device)
        self.prototypes = None  # (n_classes, D), valid where counts > 0
        self.counts = torch.zeros(n_classes, dtype=torch.long, device=self.device)

    def __len__(self) -> int:
        return 0 if self.y is None else len(self.y)

    def quotas(self, classes: torch.Tensor) -> dict[int, int]:
        """Each class's share of the budget: ``size // C``, the remainder going one each to the
        lowest class labels."""
        q, r = divmod(self.size, max(len(classes), 1))
        return {c: q + (i < r) for i, c in enumerate(sorted(classes.tolist()))}

    def add(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> None:
        """Offer samples. Every class seen so far then holds its quota (or all it has) of exemplars,
        a uniform draw from every sample of that class offered so far; older classes give up
        exemplars to make room for new ones. Never more than ``size`` in all."""
        if self.x is None:
            self.x, self.y = x[:0].clone(), y[:0].clone()
        classes = torch.unique(torch.cat([self.y, y]))
        xs, ys = [], []
        for c, quota in self.quotas(classes).items():
            old, new = (self.y == c).nonzero().flatten(), (y == c).nonzero().flatten()
            n_old, n_new = int(self.n_offered[c]), len(new)
            # a draw of `quota` among n_old + n_new samples keeps about quota * n_old / (n_old + n_new) old ones
            keep_old = min(len(old), round(quota * n_old / max(n_old + n_new, 1)))
            keep_new = min(n_new, quota - keep_old)
            picked = new[torch.randperm(n_new, generator=generator, device=new.device)[:keep_new]]
            xc = torch.cat([self.x[old[:keep_old]], x[picked]])  # stored order is random: truncating is uniform
            order = torch.randperm(len(xc), generator=generator, device=xc.device)
            xs.append(xc[order])
            ys.append(torch.full((len(xc),), c, dtype=y.dtype, device=y.device))
            self.n_offered[c] += n_new
        self.x, self.y = torch.cat(xs), torch.cat(ys)

    @torch.no_grad()
    def refresh(self, embed: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Recompute every prototype from the exemplars, embedded by ``embed`` as it is now."""
        if not len(self):
            return
        self.prototypes, counts = class_means(embed(self.x), self.y, self.n_classes, self.metric)
        self.counts = counts.long()

    @torch.no_grad()
    def set_class_means(self, emb: torch.Tensor, y: torch.Tensor) -> None:
        """Replace the prototypes of the classes in ``y`` by the means of ``emb`` (a few-shot support);
        the exemplars are left as they are."""
        means, counts = class_means(emb, y, self.n_classes, self.metric)
        present = counts > 0
        if self.prototypes is None:
            self.prototypes = torch.zeros_like(means)
        self.prototypes = torch.where(present.unsqueeze(1), means, self.prototypes)
        self.counts = torch.where(present, counts.long(), self.counts)

    def nearest(self, emb: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        """The class of the nearest prototype for each embedding, among the classes that have one
        and are ``allowed`` (a boolean mask over classes)."""
        usable = self.counts > 0 if allowed is None else (self.counts > 0) & allowed
        return distances(emb, self.prototypes, self.metric).masked_fill(~usable, float("inf")).argmin(1)

    def state_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "n_offered": self.n_offered, "prototypes": self.prototypes,
                "counts": self.counts}

    def load_state_dict(self, state: dict) -> None:
        self.x, self.y, self.n_offered = state["x"], state["y"], state["n_offered"]
        self.prototypes, self.counts = state["prototypes"], state["counts"]
