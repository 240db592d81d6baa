"""The field groups a network strategy mixes in beside its base class (``lifelong.strategies.base``):
``WithOptimizer`` (``optimizer``, ``lr``, ``momentum``, ``weight_decay``), ``MixedPrecision`` (``precision``) and ``FineTuning``
(``adapt_steps``, ``adapt_lr``)."""
from __future__ import annotations

import copy
from typing import Annotated

import torch

from lifelong.config import Choice, Fraction, NonNegFloat, PositiveFloat, PositiveInt
from lifelong.scenarios.stream import TaskInfo


class WithOptimizer:
    """The torch optimizer a method trains with (a mix-in of ``NetworkStrategy``)."""

    def __init__(self, *, optimizer: Annotated[str, Choice("sgd", "adam")] = "sgd", lr: PositiveFloat = 0.01,
                 momentum: Fraction = 0.0, weight_decay: NonNegFloat = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.optimizer, self.lr, self.momentum, self.weight_decay = optimizer, lr, momentum, weight_decay

    def new_optimizer(self, params, lr: float | None = None) -> torch.optim.Optimizer:
        lr = lr or self.lr
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(params, lr=lr, momentum=self.momentum, weight_decay=self.weight_decay)


class FineTuning:
    """Few-shot adaptation by fine-tuning a copy (a mix-in of ``NetworkStrategy``; ``new_optimizer``
    comes from ``WithOptimizer`` or the method)."""

    def __init__(self, *, adapt_steps: PositiveInt = 20, adapt_lr: PositiveFloat | None = None, **kwargs):
        super().__init__(**kwargs)
        self.adapt_steps, self.adapt_lr = adapt_steps, adapt_lr

    def adapt(self, x, y, info: TaskInfo) -> "NetworkStrategy":
        """A copy fine-tuned on the support set (``fine_tune``); this learner is left as it was."""
        adapted = copy.deepcopy(self)
        adapted.fine_tune(x, y, info)
        return adapted

    def fine_tune(self, x, y, info: TaskInfo) -> None:
        """``adapt_steps`` full-batch steps of ``new_optimizer`` at ``adapt_lr`` (None: the training
        ``lr``) on a support set, whose classes become predictable."""
        self.see_labels(y)
        loss_fn = self.masked_loss(self.prediction_mask(info))
        opt = self.new_optimizer(self.net.parameters(), lr=self.adapt_lr)
        for _ in range(self.adapt_steps):
            loss = loss_fn(self.net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


class MixedPrecision:
    """The field of the methods whose step is ``SGDStrategy.update``: ``precision: bf16`` computes the
    training steps' forward passes in bfloat16 where PyTorch's autocast does (matrix products and
    convolutions), on a GPU or a CPU; the weights, their gradients and the optimizer stay in float32,
    and predictions are in float32."""

    def __init__(self, *, precision: Annotated[str, Choice("fp32", "bf16")] = "fp32", **kwargs):
        super().__init__(**kwargs)
        self.precision = precision

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
