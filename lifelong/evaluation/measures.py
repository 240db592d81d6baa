"""The catalogue of measures: what a score is, how it reads, and which metrics follow from it.

A run scores its learner on test sets with one measure, chosen by the stream's setting: accuracy
(classification) or the test MSE (regression). The measure says how a score is computed, its unit
and display scale, whether higher is better, which end-of-stream metrics apply and how each of them
reads. The run, the evaluators, the statistics, the tables, the figures and the CLI ask it instead
of branching on a name; a new measure is one more entry here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch

from lifelong.evaluation import summaries


@dataclass(frozen=True)
class MetricInfo:
    """How one summary metric reads: its column label, display scale, direction and definition."""

    key: str
    label: str
    scale: float  # shown as value * scale (100: a fraction shown in percent)
    higher_is_better: bool
    description: str

    @property
    def percent(self) -> bool:
        return self.scale == 100.0


#: Samples predicted at once when a test set is scored: small enough for a CPU's caches (on one thread a
#: CNN predicts 128 MNIST images at a time about 2x faster than 2,048, to the same bits).
EVAL_BATCH = 128


@torch.inference_mode()
def _segment_sums(strategy, x, y, info, term: Callable, dtype, sizes) -> list[float]:
    """The sum of ``term(prediction, target)`` over each consecutive segment of ``(x, y)`` (of lengths
    ``sizes``): all predicted together, ``EVAL_BATCH`` at a time, each segment summed ``EVAL_BATCH``
    at a time from its start (so that one segment's sum does not depend on the others)."""
    pred = torch.cat([strategy.predict(x[s:s + EVAL_BATCH], info) for s in range(0, len(y), EVAL_BATCH)]) \
        if len(y) else y
    sums, start = [], 0
    for n in sizes:
        total = torch.zeros((), dtype=dtype, device=y.device)
        for s in range(start, start + n, EVAL_BATCH):
            e = min(s + EVAL_BATCH, start + n)
            total += term(pred[s:e], y[s:e])
        sums.append(float(total))
        start += n
    return sums


def accuracies(strategy, x: torch.Tensor, y: torch.Tensor, info, sizes) -> list[float]:
    """The accuracy on each consecutive segment of ``(x, y)``, of lengths ``sizes``."""
    sums = _segment_sums(strategy, x, y, info, lambda p, t: (p == t).sum(), torch.long, sizes)
    return [s / max(n, 1) for s, n in zip(sums, sizes)]


def squared_errors(strategy, x: torch.Tensor, y: torch.Tensor, info, sizes) -> list[float]:
    """The mean squared error, over samples and outputs, on each consecutive segment of ``(x, y)``."""
    term = lambda p, t: ((p - t) ** 2).sum(dtype=torch.float64)  # noqa: E731
    outputs = y[0].numel() if len(y) else 1
    return [s / max(n * outputs, 1) for s, n in zip(_segment_sums(strategy, x, y, info, term, torch.float64, sizes),
                                                    sizes)]


def accuracy(strategy, x: torch.Tensor, y: torch.Tensor, info) -> float:
    """Fraction of ``x`` whose predicted label is ``y``, predicted in batches."""
    return accuracies(strategy, x, y, info, [len(y)])[0]


def squared_error(strategy, x: torch.Tensor, y: torch.Tensor, info) -> float:
    """Mean squared error of the predicted targets of ``x`` against ``y``, over samples and outputs."""
    return squared_errors(strategy, x, y, info, [len(y)])[0]


@dataclass(frozen=True)
class Measure:
    """One way of scoring a learner on a test set, and how everything computed from it reads."""

    name: str  # as results store it (``RunResult.metric``)
    label: str  # what a score is called on an axis or in a caption
    symbol: str  # the score's name in a table's few-shot columns and in progress lines
    scale: float  # a score is shown as score * scale
    higher_is_better: bool
    headline: str  # the summary metric a report leads with
    core: tuple[str, ...]  # the summary metrics every report shows, in table order
    metrics: Mapping[str, MetricInfo]  # how each summary metric reads
    scorer: Callable[..., list]  # the scores of consecutive segments of one set of samples
    summarizer: Callable[..., dict]
    # How a report reads it (tables, figures, captions):
    kind: str = ""  # what its scenarios are called ("regression" scenarios)
    bounds: tuple[float, float] | None = None  # the range every score lies in; None: unbounded (axes follow the data)
    shots_axis: str = "Shots (K)"  # the axis of the few-shot K
    reading: str = ""  # how its summary metrics read, added to a summary figure's caption
    note: str = ""  # the same for a report's tables (empty: nothing to add)
    decimals: int = 1  # digits a score shows after the decimal point, once scaled
    legend: str = ""  # what the CLI says after a run's summary line

    def format(self, value, width: int = 6) -> str:
        """A score or metric as the CLI shows it: scaled, ``decimals`` digits, ``n/a`` for None."""
        return "n/a".rjust(width) if value is None else f"{value * self.scale:{width}.{self.decimals}f}"

    @property
    def unit(self) -> str:
        return "%" if self.scale == 100.0 else ""

    @property
    def axis_label(self) -> str:
        """A score's axis or colour-bar label, with its unit: ``Accuracy (%)``, ``Test MSE``."""
        return self.label[:1].upper() + self.label[1:] + (f" ({self.unit})" if self.unit else "")

    def counterpart(self, key: str) -> str:
        """This measure's metric in the role of ``key``: another measure's headline is this one's headline
        (``acc`` in a regression scenario is its ``mse``); other keys are themselves."""
        return self.headline if any(key == m.headline for m in MEASURES.values()) else key

    def score(self, strategy, x: torch.Tensor, y: torch.Tensor, info) -> float:
        """The learner's score on a test set (predicted in batches, under inference mode)."""
        return self.scorer(strategy, x, y, info, [len(y)])[0]

    def scores(self, strategy, x: torch.Tensor, y: torch.Tensor, info, sizes) -> list[float]:
        """The scores on consecutive segments of ``(x, y)`` (of lengths ``sizes``), predicted together:
        the same numbers as one ``score`` a segment, in fuller batches."""
        return self.scorer(strategy, x, y, info, sizes)

    def summary(self, R, b, *, fwt_applicable: bool = True, model_sizes=None) -> dict:
        """The end-of-stream metrics of a score matrix ``R`` and the random-initialisation scores ``b``."""
        return self.summarizer(R, b, fwt_applicable=fwt_applicable, model_sizes=model_sizes)

    def best(self, values):
        """The best of ``values`` in this measure's direction."""
        return max(values) if self.higher_is_better else min(values)

    def metric(self, key: str) -> MetricInfo:
        """How the summary metric ``key`` reads, including the few-shot columns
        ``fewshot_at_arrival_<K>`` and ``fewshot_held_out_<K>``, which are scores of this measure."""
        if key in self.metrics:
            return self.metrics[key]
        for prefix, where in ((ARRIVAL, "at each task's arrival, mean over tasks after the first"),
                              (HELD_OUT, "on the held-out tasks (never trained on) after the stream, mean over "
                                         "those tasks and the draws")):
            if key.startswith(prefix):
                k = key[len(prefix):]
                held = " held-out" if prefix == HELD_OUT else ""
                label = f"{k}-shot{held}" + ("" if self.scale == 100.0 else f" {self.symbol}")
                return MetricInfo(key, label, self.scale, self.higher_is_better,
                                  f"{self.symbol} after {k}-shot adaptation {where}")
        w = windowed_window(key)
        if w is not None:
            label, higher, what = WINDOWED[key[:2]]
            return MetricInfo(key, f"{label}{w}", self.scale, higher,
                              f"{what} between evaluations at most {w - 1} apart, mean over tasks "
                              "(De Lange et al. 2023)")
        return MetricInfo(key, key, 1.0, True, key)


ARRIVAL, HELD_OUT = "fewshot_at_arrival_", "fewshot_held_out_"  # prefixes of the few-shot metric columns
#: The windowed metrics of continual evaluation, ``wf<w>`` and ``wp<w>`` for a window of w evaluations.
WINDOWED = {"wf": ("WF", False, "windowed forgetting: per task, the largest drop of its accuracy"),
            "wp": ("WP", True, "windowed plasticity: per task, the largest rise of its accuracy")}


def windowed_window(key: str) -> int | None:
    """The window w of a windowed metric key ``wf<w>`` or ``wp<w>``, else None."""
    if key[:2] in WINDOWED and key[2:].isdigit() and int(key[2:]) >= 2:
        return int(key[2:])
    return None
#: Groups of a result's metrics, keyed by K or by name, and the prefix of their flat column keys.
NESTED = {"diaz_rodriguez": "dr_", "fewshot_at_arrival": ARRIVAL, "fewshot_held_out": HELD_OUT}


def flatten(metrics: Mapping) -> dict:
    """A result's metrics as flat column keys: ``{"diaz_rodriguez": {"a": x}}`` gives ``{"dr_a": x}``,
    ``{"fewshot_at_arrival": {"5": x}}`` gives ``{"fewshot_at_arrival_5": x}``; other entries stay."""
    out = {}
    for key, value in metrics.items():
        if key in NESTED:
            if isinstance(value, Mapping):
                out.update((f"{NESTED[key]}{k}", v) for k, v in value.items())
        else:
            out[key] = value
    return out


def _infos(rows: dict) -> dict[str, MetricInfo]:
    return {k: MetricInfo(k, *v) for k, v in rows.items()}


_DR = {
    "dr_a": ("DR A", 100.0, True, "accuracy over the run (Díaz-Rodríguez et al. 2018)"),
    "dr_bwt": ("DR BWT", 100.0, True, "backward transfer over all pairs (Díaz-Rodríguez et al. 2018)"),
    "dr_rem": ("DR REM", 100.0, True, "remembering (Díaz-Rodríguez et al. 2018)"),
    "dr_bwt_plus": ("DR BWT+", 100.0, True, "positive backward transfer (Díaz-Rodríguez et al. 2018)"),
    "dr_fwt": ("DR FWT", 100.0, True, "forward transfer, upper triangle (Díaz-Rodríguez et al. 2018)"),
    "dr_ms": ("DR MS", 100.0, True, "model-size efficiency (Díaz-Rodríguez et al. 2018)"),
}
_COMMON = {"train_s": ("Train (s)", 1.0, False, "training time in seconds, summed over tasks")}
#: Only in reports whose experiment names a Joint upper bound (``upper_bounds``): it is the reference a*_k.
_JOINT = "the experiment's Joint upper bound, trained jointly on tasks 1..k, on the same seed"

ACCURACY = Measure(
    name="accuracy", label="accuracy", symbol="accuracy", scale=100.0, higher_is_better=True, headline="acc",
    core=("acc", "bwt", "fwt", "forgetting", "forgetting_first_based", *_DR),
    metrics=_infos({
        "acc": ("ACC", 100.0, True, "average accuracy after the last task (GEM)"),
        "bwt": ("BWT", 100.0, True, "backward transfer (GEM)"),
        "fwt": ("FWT", 100.0, True, "forward transfer (GEM)"),
        "forgetting": ("Forgetting", 100.0, False, "average forgetting, max-based (Chaudhry et al. 2018)"),
        "forgetting_first_based": ("Forgetting (first)", 100.0, False,
                                   "average forgetting, first-based (Avalanche)"),
        **_DR, "lca": ("LCA", 100.0, True, "learning curve area (A-GEM, Chaudhry et al. 2019)"),
        "min_acc": ("min-ACC", 100.0, True, "continual evaluation: mean over the tasks before the last of their "
                                            "lowest accuracy once later tasks were learned (De Lange et al. 2023)"),
        "wc_acc": ("WC-ACC", 100.0, True, "continual evaluation: worst-case accuracy at the end, (1/T) of the last "
                                          "task's accuracy plus (1 - 1/T) of the earlier tasks' min-ACC "
                                          "(De Lange et al. 2023)"),
        "aaa": ("AAA", 100.0, True, "average anytime accuracy: mean over the continual evaluations of the accuracy "
                                    "on the test sets of the tasks begun so far (Koh et al. 2022)"),
        "online_acc": ("Online ACC", 100.0, True, "online cumulative accuracy: each incoming batch scored before "
                                                  "it is learned, mean over the stream's samples"),
        # the modes of lifelong.scenarios.osaka (MODES), each task's metadata["mode"]
        **{f"online_acc_{mode}": (f"Online ACC {mode}", 100.0, True, f"online cumulative accuracy over the samples "
                                  f"of the {what} tasks (OSAKA, Caccia et al. 2020)")
           for mode, what in (("pretrain", "pre-training classes'"), ("new", "new classes'"),
                              ("ood", "out-of-distribution"))},
        "intransigence": ("Intransigence", 100.0, False, "mean over tasks of a*_k - R[k,k], a*_k the accuracy on "
                                                          f"task k of {_JOINT} (Chaudhry et al. 2018)"),
        **_COMMON}),
    scorer=accuracies, summarizer=summaries.classification_summary, decimals=1, legend="GEM / Chaudhry, %",
    kind="classification", bounds=(0.0, 1.0), shots_axis="Shots per class (K)",
)

MSE = Measure(
    name="mse", label="test MSE", symbol="MSE", scale=1.0, higher_is_better=False, headline="mse",
    core=("mse", "bwt", "fwt", "forgetting", "forgetting_first_based"),
    metrics=_infos({
        "mse": ("MSE", 1.0, False, "mean test MSE over all tasks after the last task (regression; lower is better)"),
        "bwt": ("BWT", 1.0, True, "backward transfer in test MSE, mean over i<T of E[i,i] - E[T,i] "
                                  "(regression; negative when the error on earlier tasks grew)"),
        "fwt": ("FWT", 1.0, True, "forward transfer in test MSE, mean over i>1 of b[i] - E[i-1,i] "
                                  "(regression; positive when earlier tasks lowered the error before training)"),
        "forgetting": ("Forgetting", 1.0, False, "rise of the test MSE on each task from its best, mean over "
                                                 "the tasks before the last (regression, max-based)"),
        "forgetting_first_based": ("Forgetting (first)", 1.0, False, "rise of the test MSE on each task since it "
                                                                     "was trained (regression, first-based)"),
        "intransigence": ("Intransigence", 1.0, False, "mean over tasks of E[k,k] - E*_k, E*_k the test MSE on "
                                                        f"task k of {_JOINT} (regression; after Chaudhry et al. "
                                                        "2018, the sign turned: positive when the error is higher)"),
        **_COMMON}),
    scorer=squared_errors, summarizer=summaries.regression_summary, decimals=3,
    legend="test MSE; BWT < 0 means the error grew",
    kind="regression",
    reading=", in test-MSE units (lower MSE and forgetting are better; BWT < 0: the error on earlier tasks grew)",
    note="Regression scenarios show the test MSE instead of ACC, and their BWT, FWT and forgetting in MSE units "
         "(not percent): lower is better for MSE and forgetting, higher for BWT and FWT (BWT < 0: the error on "
         "earlier tasks grew).",
)

MEASURES = {m.name: m for m in (ACCURACY, MSE)}
DEFAULT = ACCURACY  # the measure of results written before measures were named


def measure(name: str | None) -> Measure:
    """The measure results name ``name`` (results written before measures were named: accuracy)."""
    if not name:
        return DEFAULT
    try:
        return MEASURES[name]
    except KeyError:
        raise ValueError(f"unknown measure {name!r} (known: {', '.join(MEASURES)})") from None


def for_setting(setting: str) -> Measure:
    """The measure a stream of this setting is scored with."""
    return MSE if setting == "regression" else ACCURACY


#: The metrics evaluators add, in table order after the few-shot columns (windowed ones follow these).
EVALUATOR_METRICS = ("online_acc", "online_acc_pretrain", "online_acc_new", "online_acc_ood", "lca", "aaa", "min_acc",
                     "wc_acc")


def from_evaluator(key: str) -> bool:
    """Whether ``key`` is a metric that an evaluator adds (few-shot, LCA, continual evaluation), shown in
    a report when some run has it."""
    return key.startswith((ARRIVAL, HELD_OUT)) or key in EVALUATOR_METRICS or windowed_window(key) is not None


def is_metric(key: str) -> bool:
    """Whether ``key`` names a summary metric of some measure, or a few-shot column ``fewshot_*_<K>``."""
    for prefix in (ARRIVAL, HELD_OUT):
        if key.startswith(prefix):
            return key[len(prefix):].isdigit() and int(key[len(prefix):]) > 0
    return windowed_window(key) is not None or any(key in m.metrics for m in MEASURES.values())
