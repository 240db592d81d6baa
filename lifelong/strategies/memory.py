"""A bounded episodic memory filled by reservoir sampling (Vitter 1985), shared by the rehearsal strategies."""
from __future__ import annotations

import torch


class ReservoirBuffer:
    """Keeps at most ``size`` samples; after ``n`` samples were offered, each one is held with probability
    size / n. A sample is a set of named tensors (``x``, ``y``, ``t``, and e.g. ``logits`` for DER),
    allocated on the first ``add``."""

    def __init__(self, size: int, device):
        self.size, self.device = size, torch.device(device)
        self.data: dict[str, torch.Tensor] = {}
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

    def sample(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``n`` stored samples drawn uniformly with replacement."""
        idx = torch.randint(self.n_stored, (n,), generator=generator, device=self.device)
        return {k: v[idx] for k, v in self.data.items()}

    def stored(self) -> dict[str, torch.Tensor]:
        """Every stored sample."""
        return {k: v[: self.n_stored] for k, v in self.data.items()}

    def state_dict(self) -> dict:
        return {"data": dict(self.data), "n_stored": self.n_stored, "n_seen": self.n_seen}

    def load_state_dict(self, state: dict) -> None:
        self.data, self.n_stored, self.n_seen = dict(state["data"]), state["n_stored"], state["n_seen"]
