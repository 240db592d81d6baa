"""iCaRL, incremental classifier and representation learning (Rebuffi et al. 2017, "iCaRL:
Incremental Classifier and Representation Learning")."""
import copy

import torch
import torch.nn.functional as F

from lifelong.config import ConfigError, NonNegInt
from lifelong.models import evaluating
from lifelong.strategies.base import SGDStrategy


def herding(features: torch.Tensor, m: int) -> torch.Tensor:
    """Indices of ``m`` rows of ``features``, picked one at a time so that the mean of those picked
    so far comes as close as possible to the mean of all rows (iCaRL's Algorithm 4)."""
    mean, total = features.mean(0), torch.zeros_like(features[0])
    free = torch.ones(len(features), dtype=torch.bool, device=features.device)
    chosen = []
    for k in range(1, min(m, len(features)) + 1):
        gap = (mean - (total + features) / k).norm(dim=1).masked_fill(~free, float("inf"))
        i = int(gap.argmin())
        chosen.append(i)
        total, free[i] = total + features[i], False
    return torch.tensor(chosen, dtype=torch.long, device=features.device)


class ICaRL(SGDStrategy):
    """Exemplars chosen by herding, a distillation loss, and nearest-mean-of-exemplars prediction.

    Training set of a task: its data and the exemplars. Loss: a sigmoid BCE per class seen so
    far, whose target is the label for the task's new classes and the outputs of the network
    as it was before the task for the old ones (distillation). After the task, each old class
    keeps the first ``buffer_size // classes seen`` of its exemplars (herding order is priority
    order) and each new class gets that many, herded in the normalised feature space. Prediction:
    the class whose exemplars' mean normalised feature is nearest (within the prediction mask).
    Task-incremental streams train the same way and predict among the task's classes; domain-
    incremental ones bring no new classes after the first task, so iCaRL refuses them.
    """

    learns_online = False  # it trains on each task's data and the exemplars, not the incoming batch

    handles_regression = False

    state_attrs = SGDStrategy.state_attrs + ("exemplars", "class_means")

    def __init__(self, *, buffer_size: NonNegInt = 200, **kwargs):
        super().__init__(**kwargs)
        self.buffer_size = buffer_size

    def check_setting(self, info):
        super().check_setting(info)
        if info.setting == "domain-incremental":
            raise ConfigError("iCaRL learns new classes task by task: it needs a class- or task-incremental "
                              "stream", field="setting", value=info.setting)

    def setup(self, info, *, seed=0, device="cpu"):
        super().setup(info, seed=seed, device=device)
        # exemplars: grouped by class, each class's in herding order
        self.exemplars = {"x": torch.zeros(0, *info.input_shape, device=self.device, dtype=info.input_dtype),
                          "y": torch.zeros(0, dtype=torch.long, device=self.device)}
        self.class_means = torch.zeros(info.n_classes, self.net.embedding_dim, device=self.device)  # 0: none
        self.old_net = None

    def before_task(self, task):
        self.old_classes = self.seen.clone()  # seen before this task
        super().before_task(task)
        self.old_net = copy.deepcopy(self.net).eval().requires_grad_(False) if self.old_classes.any() else None

    def training_data(self, task):
        return torch.cat([task.x_train, self.exemplars["x"]]), torch.cat([task.y_train, self.exemplars["y"]]), None

    def training_step(self, x, y, t):
        target = F.one_hot(y, self.info.n_classes).float()
        if self.old_net is not None:
            with torch.no_grad():
                target[:, self.old_classes] = torch.sigmoid(self.old_net(x)[:, self.old_classes])
        out = self.net(x)[:, self.seen]
        return F.binary_cross_entropy_with_logits(out, target[:, self.seen], reduction="sum") / len(y)

    def after_task(self, task):
        self.old_net = None
        per_class = self.buffer_size // int(self.seen.sum())
        x, y = self.exemplars["x"], self.exemplars["y"]
        keep = [torch.nonzero(y == c).flatten()[:per_class] for c in y.unique().tolist()]
        xs, ys = [x[i] for i in keep], [y[i] for i in keep]
        for c in task.classes:
            xc = task.x_train[task.y_train == c]
            chosen = herding(self.embed(xc), per_class)
            xs.append(xc[chosen])
            ys.append(torch.full((len(chosen),), c, dtype=torch.long, device=self.device))
        self.exemplars = {"x": torch.cat([x[:0], *xs]), "y": torch.cat([y[:0], *ys])}
        self.class_means = self.means(self.exemplars["x"], self.exemplars["y"])

    @torch.no_grad()
    def embed(self, x):
        """L2-normalised features."""
        with evaluating(self.net):
            return F.normalize(self.net.features(x), dim=1)

    def means(self, x, y):
        """Per class, the renormalised mean of its samples' normalised features (zero rows: no sample)."""
        total = torch.zeros(self.info.n_classes, self.net.embedding_dim, device=self.device)
        total.index_add_(0, y, self.embed(x))
        return F.normalize(total, dim=1)

    @torch.inference_mode()
    def predict(self, x, info):
        mask = self.prediction_mask(info)
        allowed = self.class_means.any(1) if mask is None else mask & self.class_means.any(1)
        if not allowed.any():  # nothing learned yet for these classes: the network's outputs
            return super().predict(x, info)
        distance = torch.cdist(self.embed(x), self.class_means)
        return distance.masked_fill(~allowed, float("inf")).argmin(1)

    def adapt(self, x, y, info):
        """Fine-tunes a copy, then takes class means over the exemplars and the support set."""
        adapted = super().adapt(x, y, info)
        ex = adapted.exemplars
        adapted.class_means = adapted.means(torch.cat([ex["x"], x]), torch.cat([ex["y"], y]))
        return adapted
