"""Class prototypes: mean embeddings, distances to them, and the prototypical loss.

Prototypical Networks (Snell, Swersky & Zemel 2017, "Prototypical Networks for Few-shot Learning"):
the prototype of class c is the mean embedding of its examples, p_c = (1/|S_c|) Σ_{x∈S_c} f(x), and
an input is classified by its nearest prototype under the squared Euclidean distance, i.e. by a
softmax over −‖f(x) − p_c‖². ``prototypical_loss`` is that softmax's cross-entropy; it takes global
labels (an episode's classes are a subset of the stream's ``n_classes``) and has no data-dependent
shapes, so it can be vmapped over episodes (``lifelong.meta.episodes``). ``metric="cosine"`` uses
L2-normalised embeddings and prototypes instead (the distance is then 1 − cos), as iCaRL does.

``lifelong.strategies.memory.PrototypeMemory`` keeps the prototypes of a continual learner from a
class-balanced exemplar memory (nearest-mean-of-exemplars, Rebuffi et al. 2017, "iCaRL: Incremental
Classifier and Representation Learning"), recomputing them whenever the embedding changes: the
failure CoPE (De Lange & Tuytelaars 2021, "Continual Prototype Evolution: Learning Online from
Non-Stationary Data Streams") guards against by evolving its prototypes. A nearest-mean classifier
has no output layer biased towards the latest classes.
"""
from __future__ import annotations

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


def prototype_logits(emb: torch.Tensor, prototypes: torch.Tensor, usable: torch.Tensor, metric: str = "euclidean",
                     scale: float = 1.0) -> torch.Tensor:
    """``(N, C)``: −scale · distance of each embedding to each prototype, −inf for the classes not
    ``usable`` (a boolean mask over classes): the logits of a prototype classifier."""
    return (-scale * distances(emb, prototypes, metric)).masked_fill(~usable, float("-inf"))


def prototypical_loss(emb_support, y_support, emb_query, y_query, n_classes: int, metric: str = "euclidean",
                      scale: float = 1.0) -> torch.Tensor:
    """Cross-entropy of the queries under a softmax over −scale · distance to the support's prototypes,
    restricted to the classes present in the support. With the support as its own query it is a
    loss on the support alone (the inner loop's)."""
    prototypes, counts = class_means(emb_support, y_support, n_classes, metric)
    return F.cross_entropy(prototype_logits(emb_query, prototypes, counts > 0, metric, scale), y_query)
