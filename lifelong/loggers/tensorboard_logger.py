"""``tensorboard``: event files under ``<folder>/tensorboard/<scenario>/<label>/seed<seed>/``
(``tensorboard --logdir <folder>/tensorboard``).

Scalars are TensorBoard scalars at their optimisation step; the hyperparameters are a text summary
and, with the end-of-run metrics, an entry of the HParams dashboard; figures are images. A resumed
run's writer purges what was logged after the step it resumes from.
"""
from __future__ import annotations

from pathlib import Path

from lifelong.loggers.base import Logger


class TensorBoardLogger(Logger):
    tool = "tensorboard"

    def open(self, name, params, resume_step):
        from torch.utils.tensorboard import SummaryWriter

        self.params = params
        self.writer = SummaryWriter(str(self.folder / "tensorboard" / name),
                                    purge_step=None if resume_step is None else resume_step + 1)
        table = "\n".join(f"| {k} | {v} |" for k, v in params.items())
        self.writer.add_text("hparams", "| parameter | value |\n|---|---|\n" + table, 0)

    def scalars(self, values, step):
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def metrics(self, values):  # add_hparams also writes each metric as a scalar, metrics/<name>
        self.writer.add_hparams({k: v for k, v in self.params.items() if v is not None},
                                {f"metrics/{k}": v for k, v in values.items()}, run_name=".")

    def artifacts(self, folder: Path):
        from matplotlib.image import imread

        for png in sorted(folder.glob("*.png")):
            self.writer.add_image(f"figures/{png.stem}", imread(png)[..., :3], 0, dataformats="HWC")

    def close(self):
        if getattr(self, "writer", None) is not None:
            self.writer.close()
            self.writer = None
