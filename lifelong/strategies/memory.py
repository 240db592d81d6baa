"""The bounded memories of the rehearsal and episodic strategies, in one place.

Every memory holds at most ``size`` samples (a strategy's ``buffer_size`` field, counted in samples
whatever the method, so budgets compare), each sample a set of named tensors (``x``, ``y`` and e.g.
``t`` for task labels, ``logits`` for DER, ``g`` for a group). They offer the same few calls:
``add(generator, **batch)`` offers samples, drawing any random number from ``generator``;
``stored()`` is every stored sample; ``len()`` counts them; ``state_dict`` / ``load_state_dict``.

* ``ReservoirMemory``: a uniform sample of every sample offered (reservoir sampling), and ``sample``.
* ``BalancedMemory``: an equal share per group (class, or regression task), each a random subset.
* ``GreedyBalancedMemory``: GDumb's greedy class-balanced sampler.
* ``PrototypeMemory``: a per-class reservoir of exemplars and the prototypes computed from them.
* ``SlotMemory``: fills up in order, then changes only where its owner replaces a slot (GSS).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from lifelong.meta.episodes import positions
from lifelong.meta.prototypes import METRICS, class_means, distances

Batch = dict[str, torch.Tensor]


class ReservoirMemory:
    """Reservoir sampling (Vitter 1985): after ``n`` samples were offered, each one is held with
    probability size / n. The tensors are allocated on the first ``add``."""

    def __init__(self, size: int, device):
        self.size, self.device = size, torch.device(device)
        self.data: Batch = {}
        self.n_stored = self.n_seen = 0

    def __len__(self) -> int:
        return self.n_stored

    def add(self, generator: torch.Generator, **batch: torch.Tensor) -> None:
        """Offer a batch of samples, in order, to the reservoir."""
        n = len(next(iter(batch.values())))
        if self.size == 0 or n == 0:
            self.n_seen += n
            return
        if not self.data:
            self.data = {k: torch.zeros((self.size, *v.shape[1:]), dtype=v.dtype, device=self.device)
                         for k, v in batch.items()}
        position = torch.arange(self.n_seen, self.n_seen + n, device=self.device)
        draw = (torch.rand(n, generator=generator, device=self.device) * (position + 1)).long()
        slot = torch.where(position < self.size, position, draw)
        keep = slot < self.size
        chosen, slots = keep.nonzero().flatten(), slot[keep]
        if len(slots):
            # a later sample overwrites an earlier one drawn to the same slot, as in the sequential algorithm
            last = {s: i for i, s in zip(chosen.tolist(), slots.tolist())}
            rows = torch.tensor(list(last.values()), device=self.device)
            where = torch.tensor(list(last.keys()), device=self.device)
            for k, v in batch.items():
                self.data[k][where] = v[rows].to(self.data[k].dtype)
        self.n_seen += n
        self.n_stored = min(self.size, self.n_seen)

    def sample(self, n: int, generator: torch.Generator, replace: bool = True) -> Batch:
        """``n`` stored samples drawn uniformly with replacement, or without it (then at most all of them)."""
        if replace:
            idx = torch.randint(self.n_stored, (n,), generator=generator, device=self.device)
        else:
            idx = torch.randperm(self.n_stored, generator=generator, device=self.device)[:n]
        return {k: v[idx] for k, v in self.data.items()}

    def stored(self) -> Batch:
        return {k: v[: self.n_stored] for k, v in self.data.items()}

    def state_dict(self) -> dict:
        return {"data": dict(self.data), "n_stored": self.n_stored, "n_seen": self.n_seen}

    def load_state_dict(self, state: dict) -> None:
        self.data, self.n_stored, self.n_seen = dict(state["data"]), state["n_stored"], state["n_seen"]


class SlotMemory:
    """Samples in numbered slots: ``add`` fills the free ones in order (what does not fit is left out),
    ``replace`` overwrites chosen slots; the method decides which (GSS-greedy's gradient scores)."""

    def __init__(self, size: int, device):
        self.size, self.device = size, torch.device(device)
        self.data: Batch = {}
        self.n_stored = 0

    def __len__(self) -> int:
        return self.n_stored

    def add(self, generator: torch.Generator | None = None, **batch: torch.Tensor) -> int:
        """Store samples in the free slots, in order; returns how many were stored."""
        if not self.data:
            self.data = {k: torch.zeros((self.size, *v.shape[1:]), dtype=v.dtype, device=self.device)
                         for k, v in batch.items()}
        n = min(self.size - self.n_stored, len(next(iter(batch.values()))))
        for k, v in batch.items():
            self.data[k][self.n_stored:self.n_stored + n] = v[:n]
        self.n_stored += n
        return n

    def replace(self, slots: torch.Tensor, **batch: torch.Tensor) -> None:
        for k, v in batch.items():
            self.data[k][slots] = v.to(self.data[k].dtype)

    def sample(self, n: int, generator: torch.Generator) -> Batch:
        """``n`` stored samples drawn uniformly with replacement."""
        idx = torch.randint(self.n_stored, (n,), generator=generator, device=self.device)
        return {k: v[idx] for k, v in self.data.items()}

    def stored(self) -> Batch:
        return {k: v[: self.n_stored] for k, v in self.data.items()}

    def state_dict(self) -> dict:
        return {"data": dict(self.data), "n_stored": self.n_stored}

    def load_state_dict(self, state: dict) -> None:
        self.data, self.n_stored = dict(state["data"]), state["n_stored"]


class BalancedMemory:
    """Shared equally by the groups of its samples (``g``: a class, or a regression task): a task's
    samples, in a random order, join the stored ones, and every group keeps its first ``size // groups``."""

    def __init__(self, size: int):
        self.size, self.data = size, {}

    def __len__(self) -> int:
        return len(self.data["g"]) if self.data else 0

    def add(self, generator: torch.Generator, **batch: torch.Tensor) -> None:
        """Store a task's samples; ``batch`` holds ``g``, each sample's group."""
        order = torch.randperm(len(batch["g"]), generator=generator, device=batch["g"].device)
        pool = {k: torch.cat([self.data[k], v[order]]) if self.data else v[order] for k, v in batch.items()}
        groups = pool["g"].unique()
        quota = self.size // len(groups)
        keep = torch.cat([(pool["g"] == c).nonzero().flatten()[:quota] for c in groups]).sort().values
        self.data = {k: v[keep] for k, v in pool.items()}

    def stored(self) -> Batch:
        return self.data

    def state_dict(self) -> dict:
        return {"data": dict(self.data)}

    def load_state_dict(self, state: dict) -> None:
        self.data = dict(state["data"])


class GreedyBalancedMemory:
    """GDumb's sampler (Prabhu et al. 2020): a sample is stored while the memory has room; once it is
    full, a sample of a class holding fewer than ``size / (classes seen)`` slots replaces a random
    sample of the largest class."""

    def __init__(self, size: int):
        self.size, self.data = size, {}

    def __len__(self) -> int:
        return len(self.data["y"]) if self.data else 0

    def add(self, generator: torch.Generator, **batch: torch.Tensor) -> None:
        """Offer samples in order; ``batch`` holds ``y``, the class labels."""
        pool = {k: torch.cat([self.data[k], v.to(self.data[k].dtype)]) if self.data else v for k, v in batch.items()}
        labels = pool["y"].tolist()
        keep = list(range(len(self)))  # rows of ``pool`` in memory
        counts: dict[int, int] = {}
        for row in keep:
            counts[labels[row]] = counts.get(labels[row], 0) + 1
        for row in range(len(keep), len(labels)):
            c = labels[row]
            counts.setdefault(c, 0)
            if len(keep) < self.size:
                keep.append(row)
            elif counts[c] < self.size / len(counts):
                largest = max(counts, key=counts.get)
                slots = [i for i, r in enumerate(keep) if labels[r] == largest]
                keep[slots[int(torch.randint(len(slots), (), generator=generator, device=generator.device))]] = row
                counts[largest] -= 1
            else:
                continue
            counts[c] += 1
        rows = torch.tensor(keep, dtype=torch.long, device=pool["y"].device)
        self.data = {k: v[rows] for k, v in pool.items()}

    def stored(self) -> Batch:
        return self.data

    def state_dict(self) -> dict:
        return dict(self.data)

    def load_state_dict(self, state: dict) -> None:
        self.data = dict(state)


class PrototypeMemory:
    """Class-balanced exemplars and the prototype of every class they hold (nearest-mean-of-exemplars,
    Rebuffi et al. 2017). Each class holds an equal share of the ``size`` exemplars, drawn uniformly
    from all the samples of that class offered so far (a per-class reservoir). ``refresh(embed)``
    recomputes every prototype from the exemplars with the embedding as it is now, so that the
    prototypes follow a changing embedding instead of drifting away from the features they summarise;
    ``nearest`` classifies embeddings (see ``lifelong.meta.prototypes`` for the metrics)."""

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

    def stored(self) -> Batch:
        return {} if self.y is None else {"x": self.x, "y": self.y}

    def quotas(self, classes: torch.Tensor) -> dict[int, int]:
        """Each class's share of the budget: ``size // C``, the remainder going one each to the
        lowest class labels."""
        q, r = divmod(self.size, max(len(classes), 1))
        return {c: q + (i < r) for i, c in enumerate(sorted(classes.tolist()))}

    def add(self, generator: torch.Generator, *, x: torch.Tensor, y: torch.Tensor) -> None:
        """Offer samples. Every class seen so far then holds its quota (or all it has) of exemplars,
        a uniform draw from every sample of that class offered so far; older classes give up
        exemplars to make room for new ones. Never more than ``size`` in all."""
        if self.x is None:
            self.x, self.y = x[:0].clone(), y[:0].clone()
        classes = torch.unique(torch.cat([self.y, y]))
        stored, offered = positions(self.y, classes, self.n_classes), positions(y, classes, self.n_classes)
        xs, ys = [], []
        for (c, quota), old, new in zip(self.quotas(classes).items(), stored, offered):
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
