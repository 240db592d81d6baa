"""``csv``: plain files, one folder per run under ``<folder>/csv/<scenario>/<label>/seed<seed>/``.

* ``params.json``: the hyperparameters;
* ``scalars.csv``: ``step,name,value`` rows, appended as they come (a resumed run first drops the rows
  after the step it resumes from, so each point is there once);
* ``metrics.json``: the end-of-run metrics;
* ``figures/``: the run's figures.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from lifelong.atomic import atomic_write_text
from lifelong.loggers.base import Logger


class CSVLogger(Logger):
    tool = "csv"

    def open(self, name, params, resume_step):
        self.dir = self.folder / "csv" / name
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.dir / "params.json", json.dumps(params, indent=1, sort_keys=True) + "\n")
        path = self.dir / "scalars.csv"
        rows = []
        if resume_step is not None and path.exists():
            with path.open(newline="") as f:
                rows = [r for r in csv.reader(f) if r and r[0] != "step" and int(r[0]) <= resume_step]
        text = io.StringIO()  # a fresh run starts the file again
        csv.writer(text).writerows([["step", "name", "value"], *rows])
        atomic_write_text(path, text.getvalue())
        self._file = path.open("a", newline="")
        self._writer = csv.writer(self._file)

    def scalars(self, values, step):
        self._writer.writerows([step, k, repr(float(v))] for k, v in values.items())
        self._file.flush()

    def metrics(self, values):
        atomic_write_text(self.dir / "metrics.json", json.dumps(values, indent=1, sort_keys=True) + "\n")

    def artifacts(self, folder: Path):
        shutil.copytree(folder, self.dir / "figures", dirs_exist_ok=True)

    def close(self):
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None
