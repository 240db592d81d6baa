"""SCR, Supervised Contrastive Replay (Mai, Li, Kim & Sanner, CVPR Workshops 2021, "Supervised
Contrastive Replay: Revisiting the Nearest Class Mean Classifier in Online Class-Incremental
Continual Learning")."""
import copy

import torch
import torch.nn.functional as F
from torch import nn

from lifelong.augmentation import random_resized_crop
from lifelong.config import PositiveFloat, PositiveInt
from lifelong.meta.prototypes import class_means, distances
from lifelong.models import evaluating
from lifelong.strategies.base import MiniBatchStrategy, SGDStrategy
from lifelong.strategies.mixins import MixedPrecision, WithOptimizer
from lifelong.strategies.rehearsal import Rehearsal


def supervised_contrastive_loss(z: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon (Khosla et al. 2020): for each anchor, the mean over its positives (the other samples of
    its class) of −log softmax of its similarity to them against every other sample. ``z``: unit rows."""
    eye = torch.eye(len(y), dtype=torch.bool, device=y.device)
    sim = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    log_prob = sim - sim.logsumexp(1, keepdim=True)
    positives = (y[:, None] == y[None]) & ~eye
    return -(log_prob.masked_fill(~positives, 0).sum(1) / positives.sum(1).clamp(min=1)).mean()


class SCR(Rehearsal, WithOptimizer, MixedPrecision, MiniBatchStrategy):
    """An embedding learned by supervised contrastive loss over the incoming and a replayed batch;
    prediction by the nearest class mean of the memory.

    Each step: the incoming batch and ``mem_batch`` samples drawn from the reservoir (without
    replacement), each with one random-resized-crop view; the loss is SupCon at ``temperature`` on
    a projection (two layers, ``projection_dim`` outputs) of the network's features, normalised. The
    batch then joins the reservoir. Prediction: the class whose mean normalised feature over the
    memory is nearest (nearest class mean, recomputed when the network has changed). The network's
    head is not trained. No task boundary is used; the paper's review trick (a pass over the memory
    at each task's end) is left out for that reason. ``adapt`` adds the support set to the memory's
    samples for the class means.
    """

    handles_regression = False
    needs_boundaries = False
    state_attrs = Rehearsal.state_attrs + ("projection",)

    def __init__(self, *, mem_batch: PositiveInt = 100, temperature: PositiveFloat = 0.1,
                 projection_dim: PositiveInt = 128, **kwargs):
        super().__init__(**kwargs)
        self.mem_batch, self.temperature, self.projection_dim = mem_batch, temperature, projection_dim

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        d = self.net.embedding_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.projection = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, self.projection_dim))
        self.projection.to(self.device)
        self.support = None  # an adapted copy's support set, joining the memory for the class means
        self.means = None  # (prototypes, counts) of the network as it is, or None when it changed

    update = SGDStrategy.update  # an optimizer step on training_step's loss

    def new_optimizer(self, params, lr=None):
        return super().new_optimizer([*params, *self.projection.parameters()], lr)

    def training_step(self, x, y, t):
        bx, by = x, y
        if len(self.memory):
            m = self.memory.sample(self.mem_batch, self.generator, replace=False)
            bx, by = torch.cat([x, m["x"]]), torch.cat([y, m["y"]])
        views = torch.cat([bx, random_resized_crop(bx, self.generator)])
        z = F.normalize(self.projection(self.net.features(views)), dim=1)
        self.remember(x, y, t)
        self.means = None
        return supervised_contrastive_loss(z, torch.cat([by, by]), self.temperature)

    @torch.inference_mode()
    def predict(self, x, info):
        if self.means is None:
            stored = self.memory.stored()
            mx, my = (stored["x"], stored["y"]) if stored else (x[:0], torch.zeros(0, dtype=torch.long))
            if self.support is not None:
                mx, my = torch.cat([mx, self.support[0]]), torch.cat([my.to(self.device), self.support[1]])
            with evaluating(self.net):
                self.means = class_means(self.net.features(mx), my.to(self.device), self.info.n_classes, "cosine")
        means, counts = self.means
        mask = self.prediction_mask(info)
        usable = counts > 0 if mask is None else (counts > 0) & mask
        if not usable.any():  # nothing stored yet: the network's outputs
            return super().predict(x, info)
        with evaluating(self.net):
            return distances(self.net.features(x), means, "cosine").masked_fill(~usable, float("inf")).argmin(1)

    def adapt(self, x, y, info):
        adapted = copy.deepcopy(self)
        adapted.see_labels(y)
        adapted.support, adapted.means = (x, y), None
        return adapted

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.means = None
