"""``wandb``: a Weights & Biases run in the project named after the lifelong experiment.

Its files go to ``<folder>/wandb``. The mode is W&B's own (``WANDB_MODE``: ``offline`` keeps
everything on this machine, for ``wandb sync`` later). Runs are grouped by scenario and strategy
(``<scenario>/<label>``) and named ``<scenario>/<label>/seed<seed>``; the run's id is derived from
the experiment and that name, so a resumed run continues the same W&B run. The hyperparameters are
its config; scalars are logged at their optimisation step (W&B ignores points at a step it has
passed); the end-of-run metrics go to its summary; figures are images, ``figures/<name>``.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from lifelong.loggers.base import Logger


class WandbLogger(Logger):
    tool = "wandb"

    def open(self, name, params, resume_step):
        import wandb

        folder = self.folder / "wandb"
        folder.mkdir(parents=True, exist_ok=True)
        ident = hashlib.sha256(f"{self.experiment}/{name}".encode()).hexdigest()[:16]
        scenario, label, _ = self.cell
        self.run = wandb.init(project=self.experiment, group=f"{scenario}/{label}", name=name, id=ident,
                              resume="allow", dir=str(folder), config=params, reinit="create_new",
                              settings=wandb.Settings(silent=True, console="off", x_disable_stats=True))

    def scalars(self, values, step):
        self.run.log(dict(values), step=step)

    def metrics(self, values):
        for key, value in values.items():
            self.run.summary[f"metrics/{key}"] = value

    def artifacts(self, folder: Path):
        import wandb

        self.run.log({f"figures/{png.stem}": wandb.Image(str(png)) for png in sorted(folder.glob("*.png"))},
                     step=self.step)

    def close(self):
        if getattr(self, "run", None) is not None:
            self.run.finish(exit_code=0 if self.finished else 1)
            self.run = None
