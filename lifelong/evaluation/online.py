"""Online cumulative accuracy: every incoming batch of an online stream scored before it is learned.

In online continual learning the learner meets each sample once, so its prediction on a batch it has
not yet trained on is a test (continuum's ``online_cumulative_performance``; the protocol of Caccia
et al. 2020's OSAKA). The score is the mean over every sample of the stream, in the stream's measure.
The run adds this evaluator to every online stream. In a stream whose tasks name their ``mode`` in
their metadata (OSAKA, ``lifelong.scenarios.osaka``) the score is also given per mode, over the samples
of that mode's tasks (``online_acc_<mode>``).
"""
from __future__ import annotations

from lifelong.evaluation.evaluators import Evaluator
from lifelong.events import Output


class OnlineAccuracy(Evaluator):
    """The learner's score on each incoming batch before it learns it. Output: ``online`` in the
    result's ``extra`` (per task, the samples scored and their mean score) and the metric
    ``online_acc`` (over the whole stream) where the measure defines it (accuracy), and
    ``online_acc_<mode>`` per mode of the tasks' metadata (with ``modes`` in ``online``)."""

    def __init__(self):
        self.samples: list[int] = []  # per task
        self.totals: list[float] = []  # per task: the sum over its batches of score x batch size
        self.modes: list[str | None] = []  # per task: its metadata's mode, if any
        self.scored = True

    def on_stream_start(self, ctx):
        self.scored = "online_acc" in ctx.measure.metrics

    def on_task_start(self, ctx, task):
        self.samples.append(0)
        self.totals.append(0.0)
        self.modes.append(ctx.stream[task].metadata.get("mode"))

    def on_batch(self, ctx, task, x, y):
        self.samples[-1] += len(y)
        self.totals[-1] += ctx.score(task, (x, y)) * len(y)

    def output(self) -> Output:
        data = {"online": {"samples": list(self.samples),
                           "scores": [t / n if n else None for t, n in zip(self.totals, self.samples)],
                           **({"modes": list(self.modes)} if any(self.modes) else {})}}
        if not self.scored or not sum(self.samples):
            return Output(data)
        metrics = {"online_acc": sum(self.totals) / sum(self.samples)}
        for mode in sorted({m for m in self.modes if m is not None}):
            n = sum(k for k, m in zip(self.samples, self.modes) if m == mode)
            if n:
                metrics[f"online_acc_{mode}"] = sum(t for t, m in zip(self.totals, self.modes) if m == mode) / n
        return Output(data, metrics)
