"""``mlflow``: a run in the MLflow experiment named after the lifelong experiment.

Where: ``$MLFLOW_TRACKING_URI`` when it is set (a server, or ``sqlite:///mlflow.db``), else a local
file store, ``<folder>/mlruns`` (``mlflow ui --backend-store-uri <folder>/mlruns``), which MLflow 3
keeps in maintenance mode: this logger allows it for its own process (``MLFLOW_ALLOW_FILE_STORE``).
The run is named ``<scenario>/<label>/seed<seed>`` and tagged with each part; a resumed run logs into
the same MLflow run (MLflow keeps every point, so the steps between the checkpoint and the kill
appear twice). Parameters, metrics at their step, the end-of-run metrics and the figures as
artifacts under ``figures/``.
"""
from __future__ import annotations

import os
from pathlib import Path

from lifelong.loggers.base import Logger

RUN_TAG = "lifelong.run"


class MLflowLogger(Logger):
    tool = "mlflow"

    def open(self, name, params, resume_step):
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = (self.folder / "mlruns").resolve().as_uri()
        self.client = MlflowClient(uri)
        found = self.client.get_experiment_by_name(self.experiment)
        experiment = found.experiment_id if found is not None else self.client.create_experiment(self.experiment)
        previous = self.client.search_runs([experiment], f"tags.`{RUN_TAG}` = '{name}'") if resume_step is not None \
            else []
        if previous:
            self.run_id = previous[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
            return
        scenario, strategy, seed = self.cell
        run = self.client.create_run(experiment, run_name=name, tags={RUN_TAG: name, "scenario": scenario,
                                                                      "strategy": strategy, "seed": str(seed)})
        self.run_id = run.info.run_id
        for key, value in params.items():
            self.client.log_param(self.run_id, key, value)

    def scalars(self, values, step):
        for key, value in values.items():
            self.client.log_metric(self.run_id, key, value, step=step)

    def metrics(self, values):
        for key, value in values.items():
            self.client.log_metric(self.run_id, f"metrics/{key}", value)

    def artifacts(self, folder: Path):
        self.client.log_artifacts(self.run_id, str(folder), "figures")

    def close(self):
        if getattr(self, "run_id", None) is not None:
            self.client.set_terminated(self.run_id, "FINISHED" if self.finished else "FAILED")
            self.run_id = None
