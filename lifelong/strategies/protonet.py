"""Prototypical Networks (Snell, Swersky & Zemel 2017, "Prototypical Networks for Few-shot Learning",
NeurIPS), trained on the episodes of a stream (``lifelong.strategies.episodic``)."""
import torch
from torch.func import vmap

from lifelong.meta.prototypes import class_means, prototype_logits, prototypical_loss
from lifelong.strategies.episodic import EpisodicStrategy


class ProtoNet(EpisodicStrategy):
    """Learn an embedding (``net.features``) in which each class clusters around its mean.

    Outer step: for each episode, prototypes are the mean embeddings of the support's classes and the
    query is classified by a softmax over negative squared distances; Adam on the mean cross-entropy.
    There is no inner loop, and the head is not used. ``predict``: the nearest prototype among the
    known classes, a prototype being the mean embedding of a class's samples: while a task is learned,
    of the task's data and the memory; at the end of the task they are computed once and kept until the
    next (before any exists, the network's own outputs decide). ``adapt``: the support's class means
    become those classes' prototypes, the others stay. Classification only.
    """

    handles_regression = False
    state_attrs = EpisodicStrategy.state_attrs + ("prototypes", "known")

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        self.prototypes = torch.zeros(info.n_classes, self.net.embedding_dim, device=self.device)
        self.known = torch.zeros(info.n_classes, dtype=torch.bool, device=self.device)

    def outer_loss(self, params, episodes):
        xs, ys, xq, yq = episodes
        es, eq = self.net.features(xs.flatten(0, 1)), self.net.features(xq.flatten(0, 1))
        losses = vmap(prototypical_loss, in_dims=(0, 0, 0, 0, None))(
            es.unflatten(0, xs.shape[:2]), ys, eq.unflatten(0, xq.shape[:2]), yq, self.info.n_classes)
        return losses.mean()

    def class_means(self, x, y):
        """Mean embedding of each class in ``(x, y)`` and which classes are present."""
        means, counts = class_means(self.net.features(x), y, self.info.n_classes)
        return means, counts > 0

    def current_prototypes(self):
        if self.pool is None:
            return self.prototypes, self.known
        x, y, _ = self.pool
        return self.class_means(x, y)

    def own_predict(self, x, info):
        protos, known = self.current_prototypes()
        if not bool(known.any()):
            return super().own_predict(x, info)
        return self.decide(prototype_logits(self.net.features(x), protos, known), info)

    def after_task(self, task):
        with torch.no_grad():
            self.prototypes, self.known = self.current_prototypes()
        super().after_task(task)

    def adapt(self, x, y, info):
        with torch.no_grad():
            protos, known = self.current_prototypes()
            means, present = self.class_means(x, y)
        adapted = self.copy()
        adapted.pool = None
        adapted.prototypes, adapted.known = torch.where(present[:, None], means, protos), known | present
        adapted.seen[y.unique()] = True
        return adapted
