"""Tests for lifelong.reporting: numbers checked by hand, files checked by content.

The synthetic grid: one scenario ("split-toy", 3 tasks, class-incremental so
FWT is None), two strategies ("naive", the reference, and "replay_er") × seeds
0, 1, 2; replay_er's seed 2 failed. Hand-made accuracy matrices below.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math

import numpy as np
import pytest
from scipy import stats as sps

from lifelong.evaluation import summaries
from lifelong.evaluation import metrics as M
from lifelong.config import ConfigError
from lifelong.evaluation.measures import ACCURACY, MSE
from lifelong.experiment.result import RunResult
from lifelong.reporting import aggregate, build_report, paired_test, summarize
from lifelong.reporting.figures import slug
from lifelong.reporting.runs import run_metrics
from lifelong.reporting.style import PALETTE, paper_style, strategy_styles
from lifelong.reporting.tables import (latex_escape, main_tables, make_tables, markdown_escape, render_csv,
                                       render_latex, render_main_latex, render_main_markdown, render_markdown)

SCEN = "split-toy"
ERROR = "RuntimeError: loss became NaN at task 2 & 50% done"


def _matrix(first: float, drop: float, seed: int) -> list[list[float]]:
    """A 3-task class-incremental matrix: accuracy ``first`` on the task just trained, old tasks fall by ``drop``."""
    e = 0.01 * ((7 * seed + round(10 * drop)) % 5)  # a seed effect that differs between strategies
    return [
        [first + e, 0.0, 0.0],
        [first - drop + e, first + e, 0.0],
        [first - 2 * drop + e, first - drop + e, first - e],
    ]


def _fewshot(base: float, seed: int) -> dict:
    tasks = []
    for t in range(3):
        tasks.append({"task": t, "k": {"1": {"mean": base + 0.02 * t + 0.01 * seed, "std": 0.05},
                                       "5": {"mean": base + 0.2 + 0.02 * t, "std": 0.04},
                                       "10": {"mean": base + 0.3 + 0.01 * seed, "std": 0.03}}})
    return {"metric": "accuracy", "shots": [1, 5, 10], "tasks": tasks}


def make_result(strategy, seed, first, drop, *, scenario=SCEN, fewshot=None, failed=False, T=3) -> RunResult:
    if failed:
        return RunResult(scenario=scenario, strategy=strategy, seed=seed, setting="class-incremental",
                         stream_fingerprint="f", config={}, versions={}, accuracy_matrix=[[0.5, 0.0, 0.0]],
                         random_init_accuracy=[0.1] * T, metrics={}, timings={"train_s": [1.0], "eval_s": [0.1],
                                                                              "total_s": 1.1},
                         status="failed", error=ERROR)
    R = _matrix(first, drop, seed)
    if T == 1:
        R = [[first + 0.01 * seed]]
    metrics = summaries.classification_summary(R, None, fwt_applicable=False, model_sizes=[100] * T)
    extra = {}
    if fewshot is not None:
        extra["fewshot"] = _fewshot(fewshot, seed)
        metrics["fewshot_at_arrival"] = {"1": fewshot + 0.03 + 0.01 * seed, "5": fewshot + 0.22,
                                         "10": fewshot + 0.3 + 0.01 * seed}
        metrics["lca"] = 0.3 + 0.01 * seed
    return RunResult(scenario=scenario, strategy=strategy, seed=seed, setting="class-incremental",
                     stream_fingerprint="f", config={}, versions={}, accuracy_matrix=R,
                     random_init_accuracy=[0.1] * T, metrics=metrics,
                     timings={"train_s": [1.0 + seed, 2.0, 3.0][:T], "eval_s": [0.1] * T, "total_s": 7.0},
                     status="finished", extra=extra)


def grid(fewshot: bool = False) -> list[RunResult]:
    out = []
    for seed in range(3):
        out.append(make_result("naive", seed, 0.9, 0.4, fewshot=0.3 if fewshot else None))
        out.append(make_result("replay_er", seed, 0.9, 0.1, fewshot=0.35 if fewshot else None, failed=seed == 2))
    return out


EXPERIMENT = {"name": "toy_grid", "scenarios": [SCEN], "strategies": ["naive", "replay_er"], "seeds": [0, 1, 2],
              "reference": "naive"}


# ---------------------------------------------------------------------------
# stats
# ---------------------------------------------------------------------------


def test_summarize_by_hand():
    s = summarize([0.8, 0.9, 1.0])
    assert s.n == 3
    assert s.mean == pytest.approx(0.9)
    assert s.std == pytest.approx(0.1)
    # t(0.975, 2) = 4.303; 4.303 * 0.1 / sqrt(3) = 0.2484
    assert s.ci95 == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-6)
    assert s.ci95 == pytest.approx(0.2484, abs=1e-4)


def test_summarize_drops_missing_and_single_value():
    s = summarize([None, 0.5, float("nan")])
    assert (s.n, s.mean, s.std, s.ci95) == (1, 0.5, 0.0, None)
    assert summarize([]).mean is None


def test_paired_test_matches_scipy():
    a, b = [0.81, 0.86, 0.90, 0.84], [0.78, 0.80, 0.88, 0.79]
    r = paired_test(a, b)
    assert r.p == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert r.n == 4 and "t-test" in r.test
    w = paired_test(a, b, test="wilcoxon")
    assert w.p == pytest.approx(sps.wilcoxon(a, b).pvalue)
    assert "Wilcoxon" in w.test


def test_paired_test_matches_by_seed_and_refuses_degenerate_cases():
    r = paired_test({0: 0.9, 1: 0.8, 2: 0.7, 5: 0.1}, {2: 0.6, 1: 0.75, 0: 0.85})
    assert r.n == 3
    assert r.p == pytest.approx(sps.ttest_rel([0.9, 0.8, 0.7], [0.85, 0.75, 0.6]).pvalue)
    one = paired_test([0.9], [0.8])
    assert one.p is None and one.n == 1 and "fewer than 2" in one.note
    same = paired_test([0.9, 0.8], [0.9, 0.8])
    assert same.p is None and "zero" in same.note
    with pytest.raises(ValueError):
        paired_test([1, 2], [1, 2], test="anova")


def test_aggregate_numbers_failed_runs_and_pvalues():
    agg = aggregate(grid(), reference="naive")
    naive, er = agg.group(SCEN, "naive"), agg.group(SCEN, "replay_er")
    assert (naive.n_finished, naive.n_failed) == (3, 0)
    assert (er.n_finished, er.n_failed) == (2, 1)
    assert er.failed == [(2, ERROR)]
    accs = [M.acc(_matrix(0.9, 0.1, s)) for s in (0, 1)]
    assert er.summary("acc").mean == pytest.approx(np.mean(accs))
    assert er.summary("acc").n == 2
    assert er.summary("fwt").n == 0  # class-incremental: not applicable
    assert er.summary("dr_a").n == 2
    assert "train_s" not in er.values  # training time varies between runs: it stays in each run's result
    ref_accs = [M.acc(_matrix(0.9, 0.4, s)) for s in (0, 1)]
    assert er.tests["acc"].p == pytest.approx(sps.ttest_rel(accs, ref_accs).pvalue)
    assert er.tests["acc"].n == 2
    assert "acc" not in naive.tests
    # the mean matrix and the average over seen tasks
    mats = np.array([_matrix(0.9, 0.4, s) for s in range(3)])
    np.testing.assert_allclose(naive.matrix_mean, mats.mean(0))
    seen = np.array([[m[i, : i + 1].mean() for i in range(3)] for m in mats])
    np.testing.assert_allclose(naive.avg_seen_mean, seen.mean(0))
    assert naive.avg_seen_ci95[0] == pytest.approx(summarize(seen[:, 0]).ci95)
    assert naive.fewshot is None and "lca" not in agg.metrics


def test_aggregate_fewshot_and_lca():
    agg = aggregate(grid(fewshot=True), reference="naive")
    g = agg.group(SCEN, "naive")
    assert g.fewshot["shots"] == ["1", "5", "10"]
    # K=1, seed 0: tasks 1 and 2 (after the first) -> 0.3 + 0.02, 0.3 + 0.04 -> 0.33
    per_seed = [np.mean([0.3 + 0.02 * t + 0.01 * s for t in (1, 2)]) for s in range(3)]
    assert g.fewshot["vs_k"]["1"].mean == pytest.approx(np.mean(per_seed))
    tasks, mean, _ = g.fewshot["arrival"]["5"]
    assert tasks == [0, 1, 2] and mean[1] == pytest.approx(0.52)
    assert "fewshot_at_arrival_5" in agg.metrics and "lca" in agg.metrics
    assert g.summary("fewshot_at_arrival_5").mean == pytest.approx(0.52)


def test_strategy_colours_are_fixed_by_experiment_order():
    s = strategy_styles(["a", "b", "c"])
    assert s["a"].color == PALETTE[0] and s["c"].color == PALETTE[2]
    assert strategy_styles(["a", "b"])["b"] == s["b"]
    assert len({st.color for st in strategy_styles([str(i) for i in range(8)]).values()}) == 8


def test_paper_style_does_not_leak():
    import matplotlib

    before = matplotlib.rcParams["pdf.fonttype"], matplotlib.rcParams["font.size"]
    with paper_style():
        assert matplotlib.rcParams["pdf.fonttype"] == 42
    assert (matplotlib.rcParams["pdf.fonttype"], matplotlib.rcParams["font.size"]) == before


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------


def test_markdown_bolds_best_marks_na_and_failed_run():
    agg = aggregate(grid(), reference="naive")
    md = render_markdown(agg)
    lines = {ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| ")}
    naive, er = lines["naive"], lines["replay\\_er"]
    # replay_er forgets less: higher ACC and BWT, lower forgetting -> bold there
    er_acc = 100 * np.mean([M.acc(_matrix(0.9, 0.1, s)) for s in (0, 1)])
    assert f"**{er_acc:.1f} ± " in er
    er_forg = 100 * np.mean([M.forgetting(_matrix(0.9, 0.1, s)) for s in (0, 1)])
    assert f"**{er_forg:.1f} ± " in er  # lower is better for forgetting
    naive_cells = [c.strip() for c in naive.split("|")[1:-1]]
    assert not any(c.startswith("**") for c in naive_cells[2:6])
    # training time varies between runs: it stays out of the tables, so a resumed experiment's match
    assert "Train" not in md and "6.5 ± 0.7" not in er
    assert "n/a" in naive_cells  # FWT in class-incremental
    assert "ref." in naive_cells
    assert "2/3†" in er
    assert f"replay\\_er, seed 2: {ERROR}" in md


def test_latex_booktabs_escaping_and_bold():
    agg = aggregate(grid(), reference="naive")
    tex = render_latex(agg)
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}", r"\end{tabular}"):
        assert rule in tex
    assert r"replay\_er" in tex and "replay_er" not in tex
    assert r"ACC (\%)" in tex
    assert r"\textbf{" in tex
    assert r"50\% done" in tex and r"\& " in tex
    expected = r"a\_b \& 5\% \#1 \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{}"
    assert latex_escape("a_b & 5% #1 {x} ~ ^ \\") == expected
    assert r"$^\dagger$" in tex


def test_csv_columns_and_values():
    agg = aggregate(grid(), reference="naive")
    build = {r["strategy"]: r for r in csv.DictReader(io.StringIO(render_csv(agg)))}
    er = build["replay_er"]
    assert "train_s_mean" not in er
    for col in ("acc_mean", "acc_std", "acc_ci95", "acc_p", "bwt_mean", "forgetting_mean"):
        assert col in er
    assert float(er["acc_mean"]) == pytest.approx(agg.group(SCEN, "replay_er").summary("acc").mean)
    assert er["fwt_mean"] == "" and er["n_failed"] == "1" and er["n_finished"] == "2"
    assert build["naive"]["acc_p"] == "" and er["acc_p"] != ""


def test_all_failed_strategy_and_single_seed_and_one_task(tmp_path):
    results = [make_result("naive", 0, 0.9, 0.4, T=1), make_result("ewc", 0, 0.0, 0.0, failed=True, T=1)]
    exp = {"name": "tiny", "scenarios": [SCEN], "strategies": ["naive", "ewc"], "seeds": [0]}
    out = build_report(results, exp, tmp_path / "r")
    names = {p.name for p in out["figures"]}
    assert "heatmap_split-toy_naive.png" in names
    assert not any("ewc" in n for n in names)  # no finished run: not drawn
    md = (tmp_path / "r" / "tables" / "metrics.md").read_text()
    assert "| ewc | 0/1† |" in md and "n/a" in md
    assert "ref." not in md  # no reference


# ---------------------------------------------------------------------------
# the main table
# ---------------------------------------------------------------------------


def _with_joint() -> list[RunResult]:
    """The few-shot grid plus joint training, which beats both on every metric."""
    return grid(fewshot=True) + [make_result("joint", s, 0.95, 0.0, fewshot=0.5) for s in range(3)]


def test_main_table_default_columns_fit_one_paper_column():
    agg = aggregate(_with_joint(), reference="naive")
    assert [k for k, _ in main_tables(agg)[0].columns] == ["acc", "forgetting", "bwt", "fewshot_at_arrival_5"]
    tex = render_main_latex(agg)
    assert tex.count(r"\begin{tabular}{lcccc}") == 1  # the strategy and four metrics: no seeds, no p-values
    assert r"Strategy & ACC $\uparrow$ & Forgetting $\downarrow$ & BWT $\uparrow$ & 5-shot $\uparrow$ \\" in tex
    assert "Seeds" not in tex and "$p$" not in tex and r"\small" in tex
    joint = next(ln for ln in tex.splitlines() if ln.startswith("joint &"))
    assert joint.count(r"\textbf{") == 4  # without upper bounds, joint is the best everywhere
    # the 5-shot column needs few-shot runs: without them it is left out
    assert [k for k, _ in main_tables(aggregate(grid()))[0].columns] == ["acc", "forgetting", "bwt"]


def test_main_table_columns_and_upper_bounds_come_from_the_experiment(tmp_path):
    exp = dict(EXPERIMENT, strategies=["naive", "replay_er", "joint"], main_table=["acc", "lca"],
               upper_bounds=["joint"])
    out = build_report(_with_joint(), exp, tmp_path / "r")
    folder = tmp_path / "r" / "tables"
    assert {p.name for p in out["tables"]} == {"metrics.md", "metrics.csv", "metrics.tex", "main.md", "main.tex"}
    head, rows = _md_rows((folder / "main.md").read_text(), SCEN)
    assert head == ["Strategy", "ACC (%)", "LCA (%)"]
    assert not any(c.startswith("**") for c in rows["joint"])  # the best ACC, but an upper bound: never bold
    assert rows["replay\\_er†"][1].startswith("**")  # the best of the others (its failed seed marked)
    tex = (folder / "main.tex").read_text()
    assert r"\textbf" not in next(ln for ln in tex.splitlines() if ln.startswith("joint &"))
    assert r"\begin{tabular}{lcc}" in tex
    # the full table follows the same rule
    md = (folder / "metrics.md").read_text()
    _, full = _md_rows(md, SCEN)
    assert not any(c.startswith("**") for c in full["joint"]) and "Upper bounds (joint)" in md


def test_main_table_of_a_regression_scenario_shows_the_counterparts():
    agg = aggregate(regression_grid(fewshot=True), reference="naive")
    head, rows = _md_rows(render_main_markdown(agg), REG)
    assert head == ["Strategy", "MSE", "Forgetting", "BWT", "5-shot MSE"]
    assert rows["replay\\_er"][1] == "**0.0661 ± 0.0011**"  # lower is better
    assert r"MSE $\downarrow$" in render_main_latex(agg)


def test_experiment_fields_for_the_main_table(tmp_path):
    from lifelong.experiment.spec import load_experiment

    base = "name: t\nscenarios: [split-mnist]\nstrategies: [naive, joint]\nseeds: 1\n"
    f = tmp_path / "e.yaml"
    f.write_text(base)
    # unset: absent from the definition, which stored experiments are compared with on resume
    assert not {"main_table", "upper_bounds"} & set(load_experiment(f).definition())
    f.write_text(base + "main_table: [acc, fewshot_at_arrival_10]\nupper_bounds: [joint]\n")
    d = load_experiment(f).definition()
    assert d["main_table"] == ["acc", "fewshot_at_arrival_10"] and d["upper_bounds"] == ["joint"]
    for bad in ("main_table: [accuracy]", "main_table: []", "upper_bounds: [ewc]", "upper_bounds: joint"):
        f.write_text(base + bad + "\n")
        with pytest.raises(ConfigError):
            load_experiment(f)


# ---------------------------------------------------------------------------
# intransigence against a Joint upper bound
# ---------------------------------------------------------------------------

JOINT_CONFIG = {"strategy": {"name": "joint", "class": "lifelong.strategies.joint.Joint", "params": {}}}


def _as_joint(results: list) -> list:
    return [dataclasses.replace(r, config=JOINT_CONFIG) if r.strategy == "joint" else r for r in results]


def test_intransigence_against_the_joint_run_of_the_same_seed():
    results = _as_joint(_with_joint())
    # Diagonals (the score right after learning each task), from _matrix's seed effect e:
    #   joint     seed 0: .95 .95 .95   seed 1: .97 .97 .93   seed 2: .99 .99 .91
    #   naive     seed 0: .94 .94 .86   seed 1: .91 .91 .89   seed 2: .93 .93 .87
    #   replay_er seed 0: .91 .91 .89   seed 1: .93 .93 .87   (seed 2 failed)
    # I_k = joint[k,k] - R[k,k], mean over k: naive .11/3, .16/3, .16/3; replay_er .14/3, .14/3; joint 0.
    agg = aggregate(results, reference="naive", upper_bounds=["joint"])
    assert agg.joint == {SCEN: "joint"}
    naive = agg.group(SCEN, "naive")
    assert naive.values["intransigence"] == pytest.approx({0: 0.11 / 3, 1: 0.16 / 3, 2: 0.16 / 3})
    assert naive.values["intransigence"][0] == pytest.approx(np.mean(M.intransigence(
        results[0].accuracy_matrix, np.diag(results[6].accuracy_matrix))))
    assert agg.group(SCEN, "replay_er").values["intransigence"] == pytest.approx({0: 0.14 / 3, 1: 0.14 / 3})
    assert agg.group(SCEN, "joint").values["intransigence"] == pytest.approx({0: 0.0, 1: 0.0, 2: 0.0})
    assert naive.summary("intransigence").mean == pytest.approx(0.43 / 9)
    # a column of the full table (lower is better; joint, an upper bound, never bold), with its definition
    md = render_markdown(agg)
    head, rows = _md_rows(md, SCEN)
    col = head.index("Intransigence (%)")
    assert rows["naive"][col] == "4.8 ± 1.0"  # std of (.11, .16, .16)/3: 0.96 points
    assert rows["replay\\_er"][col] == "**4.7 ± 0.0**" and rows["joint"][col] == "0.0 ± 0.0"
    assert "Intransigence: how much worse" in md and "Chaudhry et al. 2018" in md
    assert "intransigence_mean" in render_csv(agg) and "Intransigence" in render_latex(agg)
    # the reference's paired test covers it too: replay_er's differences to naive on seeds 0 and 1
    assert agg.group(SCEN, "replay_er").tests["intransigence"].n == 2


def test_intransigence_pairs_by_seed_and_needs_a_joint_upper_bound():
    results = _as_joint(_with_joint())
    without_seed_1 = [r for r in results if not (r.strategy == "joint" and r.seed == 1)]
    agg = aggregate(without_seed_1, upper_bounds=["joint"])
    assert agg.group(SCEN, "naive").values["intransigence"] == pytest.approx({0: 0.11 / 3, 2: 0.16 / 3})
    # no upper bounds, an upper bound that is not the Joint class, or joint runs whose config does not say so:
    # no column, and the tables stay as they were
    for res, bounds in ((results, ()), (results, ["naive"]), (_with_joint(), ["joint"])):
        agg = aggregate(res, reference="naive", upper_bounds=bounds)
        assert "intransigence" not in agg.metrics and not agg.joint
        assert "Intransigence" not in render_markdown(agg) + render_csv(agg) + render_latex(agg)
    # the first Joint among the upper bounds is the reference
    twice = results + [dataclasses.replace(r, strategy="joint2") for r in results if r.strategy == "joint"]
    assert aggregate(twice, upper_bounds=["naive", "joint2", "joint"]).joint == {SCEN: "joint2"}


def test_intransigence_of_a_regression_scenario_is_the_excess_mse():
    joint = [dataclasses.replace(make_regression_result("joint", s, 0.03, 0.0), config=JOINT_CONFIG) for s in range(3)]
    agg = aggregate(regression_grid() + joint, upper_bounds=["joint"])
    # E[k,k] = first + 0.001 * seed * (1 + 10 * rise): naive 0.05 + 0.0014 s, joint 0.03 + 0.001 s;
    # I_k = E[k,k] - E*_k = 0.02 + 0.0004 s on every task
    assert agg.group(REG, "naive").values["intransigence"] == pytest.approx({0: 0.02, 1: 0.0204, 2: 0.0208})
    head, rows = _md_rows(render_markdown(agg), REG)
    assert rows["naive"][head.index("Intransigence")] == "0.0204 ± 0.0004"  # MSE units, not percent


def test_intransigence_in_the_main_table_only_with_a_joint_upper_bound(tmp_path):
    from lifelong.experiment.spec import load_experiment

    exp = dict(EXPERIMENT, strategies=["naive", "replay_er", "joint"], main_table=["acc", "intransigence"],
               upper_bounds=["joint"])
    build_report(_as_joint(_with_joint()), exp, tmp_path / "r")
    head, rows = _md_rows((tmp_path / "r" / "tables" / "main.md").read_text(), SCEN)
    assert head == ["Strategy", "ACC (%)", "Intransigence (%)"] and rows["naive"][2] == "4.8 ± 1.0"
    assert r"Intransigence $\downarrow$" in (tmp_path / "r" / "tables" / "main.tex").read_text()
    base = "name: t\nscenarios: [split-mnist]\nstrategies: [naive, joint]\nseeds: 1\nmain_table: [acc, intransigence]\n"
    f = tmp_path / "e.yaml"
    f.write_text(base + "upper_bounds: [joint]\n")
    assert load_experiment(f).definition()["main_table"] == ["acc", "intransigence"]
    for bad in ("", "upper_bounds: [naive]\n"):
        f.write_text(base + bad)
        with pytest.raises(ConfigError, match="Joint"):
            load_experiment(f)


# ---------------------------------------------------------------------------
# the whole report
# ---------------------------------------------------------------------------

KINDS = ("forgetting", "avg_acc", "summary")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    a = build_report(grid(), EXPERIMENT, root / "a", reference="naive")
    b = build_report(grid(), EXPERIMENT, root / "b", reference="naive")
    fs = build_report(grid(fewshot=True), EXPERIMENT, root / "fs")  # reference from the experiment
    return root, a, b, fs


def test_figures_written_as_pdf_and_png(reports):
    root, a, _, _ = reports
    figs = root / "a" / "figures"
    expected = [f"{k}_{slug(SCEN)}" for k in KINDS] + [f"heatmap_{SCEN}_naive", f"heatmap_{SCEN}_replay_er"]
    for name in expected:
        for ext in (".pdf", ".png"):
            p = figs / (name + ext)
            assert p.exists() and p.stat().st_size > 1000, p
    assert sorted(p.name for p in a["figures"]) == sorted(n + e for n in expected for e in (".pdf", ".png"))
    assert not list(figs.glob(".*"))  # no temporary files left behind


def test_pdf_embeds_truetype_fonts(reports):
    root = reports[0]
    data = (root / "a" / "figures" / f"summary_{SCEN}.pdf").read_bytes()
    assert b"/FontFile2" in data
    assert b"/FontFile3" not in data and b"/Subtype /Type3" not in data


def test_tables_and_pages_are_byte_identical_across_builds(reports):
    root = reports[0]
    for rel in ("tables/metrics.md", "tables/metrics.csv", "tables/metrics.tex", "index.html", "README.md"):
        assert (root / "a" / rel).read_bytes() == (root / "b" / rel).read_bytes(), rel
    for name in (f"summary_{SCEN}.png", f"summary_{SCEN}.pdf"):
        assert (root / "a" / "figures" / name).read_bytes() == (root / "b" / "figures" / name).read_bytes()


def test_index_html_shows_everything(reports):
    root, a, _, _ = reports
    page = a["index"].read_text()
    assert page.startswith("<!DOCTYPE html>")
    for p in a["figures"]:
        if p.suffix == ".png":
            assert f'src="figures/{p.name}"' in page
    assert "<table>" in page and "<strong>" in page
    assert "RuntimeError: loss became NaN at task 2 &amp; 50% done" in page  # escaped
    assert "name: toy_grid" in page and "<pre>" in page
    readme = a["readme"].read_text()
    assert "![" in readme and "(figures/summary_split-toy.png)" in readme
    assert "name: toy_grid" in readme and "| Strategy |" in readme


def test_html_escapes_names(tmp_path):
    results = [make_result("<b>x</b>", s, 0.9, 0.2) for s in range(2)]
    out = build_report(results, {"name": "a&b <i>"}, tmp_path / "r", reference=None)
    page = out["index"].read_text()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<i>" not in page


def test_fewshot_figures_only_with_fewshot_data(reports):
    _, a, _, fs = reports
    plain = {p.name for p in a["figures"]}
    with_fs = {p.name for p in fs["figures"]}
    for name in (f"fewshot_k_{SCEN}", f"fewshot_arrival_{SCEN}"):
        assert name + ".pdf" not in plain and name + ".png" not in plain
        assert name + ".pdf" in with_fs and name + ".png" in with_fs
    md = (fs["tables"][0]).read_text()
    assert "5-shot (%)" in md and "LCA (%)" in md
    assert "ref." in md  # reference taken from the experiment


def test_make_tables_union_columns():
    results = grid() + [make_result("naive", s, 0.8, 0.3, scenario="other", fewshot=0.2) for s in range(2)]
    agg = aggregate(results, reference="naive")
    per = {t.scenario: [k for k, _ in t.columns] for t in make_tables(agg)}
    assert "lca" in per["other"] and "lca" not in per[SCEN]
    union = make_tables(agg, union_columns=True)
    assert union[0].columns == union[1].columns


# ---------------------------------------------------------------------------
# regression streams (RunResult.metric == "mse") and held-out few-shot
# ---------------------------------------------------------------------------

REG = "sine-toy"


def _mse_matrix(T: int, first: float, rise: float, seed: int) -> list[list[float]]:
    """Test MSE E[i][j]: ``first`` on a task just trained, growing by ``rise`` per later task; 1.0 + j/T on tasks
    not trained yet (lower is better)."""
    e = 0.001 * seed * (1 + 10 * rise)  # a seed effect that differs between strategies
    return [[first + e + rise * (i - j) if j <= i else 1.0 + j / T for j in range(T)] for i in range(T)]


def _reg_fewshot(base: float, seed: int, T: int, held_out: bool) -> dict:
    tasks = [{"task": t, "k": {"5": {"mean": base + 0.01 * t + 0.002 * seed, "std": 0.01},
                               "20": {"mean": base / 2 + 0.005 * t, "std": 0.01}}} for t in range(T)]
    held = None
    if held_out:
        held = {"n_tasks": 3, "k": {"5": {"mean": base + 0.1 + 0.002 * seed, "std": 0.02},
                                    "20": {"mean": base / 2 + 0.1, "std": 0.02}}}
    return {"metric": "mse", "shots": [5, 20], "draws": 2, "tasks": tasks, "held_out": held}


def make_regression_result(strategy, seed, first, rise, *, T=4, scenario=REG, fewshot=None,
                           held_out=True) -> RunResult:
    E = _mse_matrix(T, first, rise, seed)
    b = [1.2] * T
    metrics = summaries.regression_summary(E, b)
    extra = {}
    if fewshot is not None:
        fs = _reg_fewshot(fewshot, seed, T, held_out)
        extra["fewshot"] = fs
        metrics["fewshot_at_arrival"] = {k: float(np.mean([t["k"][k]["mean"] for t in fs["tasks"][1:]]))
                                         for k in ("5", "20")}
        if held_out:
            metrics["fewshot_held_out"] = {k: v["mean"] for k, v in fs["held_out"]["k"].items()}
    return RunResult(scenario=scenario, strategy=strategy, seed=seed, setting="domain-incremental",
                     stream_fingerprint="f", config={}, versions={}, accuracy_matrix=E, random_init_accuracy=b,
                     metrics=metrics, timings={"train_s": [1.0] * T, "eval_s": [0.1] * T, "total_s": 1.0},
                     metric="mse", status="finished", extra=extra)


def regression_grid(T: int = 4, fewshot: bool = False) -> list[RunResult]:
    out = []
    for seed in range(3):
        out.append(make_regression_result("naive", seed, 0.05, 0.04, T=T, fewshot=0.3 if fewshot else None))
        out.append(make_regression_result("replay_er", seed, 0.05, 0.01, T=T, fewshot=0.25 if fewshot else None))
    return out


def _md_rows(md: str, scenario: str) -> tuple[list, dict]:
    """The header cells and {strategy: cells} of ``scenario``'s Markdown table."""
    section = md.split(f"# {markdown_escape(scenario)}\n", 1)[1].split("\n#", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("| ")]
    cells = [[c.strip() for c in ln.split("|")[1:-1]] for ln in lines]
    return cells[0], {c[0]: c for c in cells[1:]}


def test_regression_table_shows_mse_unscaled_with_lower_is_better_bold():
    agg = aggregate(regression_grid(), reference="naive")
    assert agg.measure(REG) is MSE
    head, rows = _md_rows(render_markdown(agg), REG)
    assert head == ["Strategy", "Seeds", "MSE", "p (MSE)", "BWT", "FWT", "Forgetting", "Forgetting (first)"]
    assert not any("ACC" in h or "DR" in h or "%" in h for h in head)
    col = {h: i for i, h in enumerate(head)}
    by_strategy = {s: [summaries.regression_summary(_mse_matrix(4, 0.05, rise, seed), [1.2] * 4)
                       for seed in range(3)] for s, rise in (("naive", 0.04), ("replay\\_er", 0.01))}
    for strategy, sums in by_strategy.items():
        for key, label in (("mse", "MSE"), ("bwt", "BWT"), ("forgetting", "Forgetting")):
            mean = np.mean([m[key] for m in sums])
            cell = rows[strategy][col[label]].strip("*")
            assert float(cell.split(" ± ")[0]) == pytest.approx(mean, abs=5e-4)  # as it is, not x100
    # replay_er has the lower MSE and forgetting and the higher (less negative) BWT: bold there, not on naive
    for label in ("MSE", "BWT", "Forgetting"):
        assert rows["replay\\_er"][col[label]].startswith("**"), label
        assert not rows["naive"][col[label]].startswith("**"), label
    assert rows["replay\\_er"][col["MSE"]] == "**0.0661 ± 0.0011**"
    assert rows["naive"][col["p (MSE)"]] == "ref."
    mse = {s: [m["mse"] for m in sums] for s, sums in by_strategy.items()}
    p = agg.group(REG, "replay_er").tests["mse"].p
    assert p == pytest.approx(sps.ttest_rel(mse["replay\\_er"], mse["naive"]).pvalue)
    assert "Regression scenarios show the test MSE" in render_markdown(agg)


def test_regression_run_metrics_and_old_results_default_to_accuracy():
    r = make_regression_result("naive", 0, 0.05, 0.04)
    m = run_metrics(r)
    assert m["mse"] == pytest.approx(r.metrics["mse"]) and "acc" not in m
    assert not any(k.startswith("dr_") for k in m)
    old = make_result("naive", 0, 0.9, 0.4).to_dict()
    del old["metric"]  # results written before regression streams existed
    assert run_metrics(old)["acc"] == pytest.approx(old["metrics"]["acc"])
    assert aggregate([old]).measure(SCEN) is ACCURACY
    with pytest.raises(ValueError, match="mix accuracy and MSE"):
        aggregate([make_result("ewc", 0, 0.9, 0.4, scenario=REG), r])


def test_mixed_report_keeps_classification_tables_and_splits_latex():
    alone = make_tables(aggregate(grid(), reference="naive"))[0]
    agg = aggregate(grid() + regression_grid(), reference="naive")
    tables = {t.scenario: t for t in make_tables(agg)}
    assert tables[SCEN] == alone  # the classification scenario is shown as without the regression one
    assert "acc" not in [k for k, _ in tables[REG].columns] and "mse" in [k for k, _ in tables[REG].columns]
    tex = render_latex(agg)
    assert tex.count(r"\begin{tabular}") == 2 and "$p$ (MSE)" in tex and "$p$ (ACC)" in tex
    reg_block = tex.split(r"\begin{tabular}")[2]
    assert "ACC" not in reg_block and r"\%" not in reg_block
    rows = {(r["scenario"], r["strategy"]): r for r in csv.DictReader(io.StringIO(render_csv(agg)))}
    assert rows[REG, "naive"]["metric"] == "mse" and rows[SCEN, "naive"]["metric"] == "accuracy"
    assert rows[REG, "naive"]["acc_mean"] == "" and float(rows[REG, "naive"]["mse_mean"]) == pytest.approx(0.1114)


def _with_held_out(results, values):
    """Classification results with held-out few-shot accuracies ``values[K] + 0.01 * seed``."""
    for r in results:
        if r.status != "finished":
            continue
        k = {key: {"mean": v + 0.01 * r.seed, "std": 0.02} for key, v in values.items()}
        r.extra["fewshot"]["held_out"] = {"n_tasks": 4, "k": k}
        r.metrics["fewshot_held_out"] = {key: cell["mean"] for key, cell in k.items()}
    return results


def test_held_out_fewshot_columns_follow_the_arrival_ones():
    agg = aggregate(_with_held_out(grid(fewshot=True), {"1": 0.4, "5": 0.6, "10": 0.7}), reference="naive")
    t = make_tables(agg)[0]
    keys = [k for k, _ in t.columns]
    assert keys.index("fewshot_at_arrival_10") + 1 == keys.index("fewshot_held_out_1")
    assert keys[keys.index("fewshot_held_out_1"):][:3] == ["fewshot_held_out_1", "fewshot_held_out_5",
                                                           "fewshot_held_out_10"]
    head, rows = _md_rows(render_markdown(agg), SCEN)
    assert "5-shot held-out (%)" in head
    cell = rows["naive"][head.index("5-shot held-out (%)")]
    assert cell.strip("*").split(" ± ")[0] == "61.0"  # mean of 0.60, 0.61, 0.62 in percent
    g = agg.group(SCEN, "naive")
    assert g.fewshot["held_out"]["5"].mean == pytest.approx(0.61)
    assert g.fewshot["held_out_tasks"] == [4]
    # the numbers are the evaluator's metrics, computed once: the raw per-task data is not averaged again
    results = _with_held_out(grid(fewshot=True), {"1": 0.4, "5": 0.6, "10": 0.7})
    for r in results:
        r.metrics.pop("fewshot_held_out", None)
    assert "fewshot_held_out_5" not in aggregate(results).metrics


def test_regression_held_out_columns_are_mse():
    agg = aggregate(regression_grid(fewshot=True), reference="naive")
    head, rows = _md_rows(render_markdown(agg), REG)
    i = head.index("5-shot held-out MSE")
    assert head[i - 2:i + 2] == ["5-shot MSE", "20-shot MSE", "5-shot held-out MSE", "20-shot held-out MSE"]
    # naive: 0.3 + 0.1 + 0.002 * seed -> 0.402, as it is; replay_er lower -> bold
    assert rows["naive"][i] == "0.402 ± 0.002"
    assert rows["replay\\_er"][i] == "**0.352 ± 0.002**"


@pytest.fixture(scope="module")
def long_regression(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    return root, build_report(regression_grid(T=100, fewshot=True), {"name": "long", "reference": "naive"},
                              root / "r")


def test_regression_figures_for_a_100_task_stream(long_regression):
    root, out = long_regression
    figs = root / "r" / "figures"
    names = [f"{k}_{REG}" for k in ("forgetting", "avg_acc", "summary", "fewshot_k", "fewshot_arrival")]
    names += [f"heatmap_{REG}_naive", f"heatmap_{REG}_replay_er"]
    for name in names:
        for ext in (".pdf", ".png"):
            assert (figs / (name + ext)).stat().st_size > 1000, name + ext
    readme = out["readme"].read_text()
    # the per-task figure shows 10 of the 100 tasks and says which
    assert "tasks 1, 12, 23, 34, 45, 56, 67, 78, 89, 100 of 100" in readme
    assert "test MSE (lower is better)" in readme and "accuracy (%)" not in readme
    assert "held-out tasks" in readme  # the few-shot vs K figure also shows them
    from PIL import Image

    with Image.open(figs / f"forgetting_{REG}.png") as im:  # 2 rows of 5 panels, not 20 rows
        assert im.size[1] < im.size[0]


def test_regression_report_is_byte_identical_across_builds(tmp_path):
    a = build_report(regression_grid(fewshot=True), EXPERIMENT, tmp_path / "a")
    b = build_report(regression_grid(fewshot=True), EXPERIMENT, tmp_path / "b")
    for rel in ("tables/metrics.md", "tables/metrics.csv", "tables/metrics.tex", "index.html", "README.md",
                f"figures/heatmap_{REG}_naive.png", f"figures/summary_{REG}.pdf"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert a["aggregate"].measure(REG) is MSE and b["aggregate"].measure(REG) is MSE


def test_a_matrix_measured_every_k_tasks_is_reported_on_its_measured_entries(tmp_path):
    """``matrix_every: 2`` on 3 tasks: row 0 measured tasks 0 and 1 only (None: not measured)."""
    results = grid()
    for r in results:
        if r.status == "finished":
            r.accuracy_matrix[0][2] = None
    g = aggregate(results, reference="naive").group(SCEN, "naive")
    assert np.isnan(g.matrix_mean[0, 2]) and g.matrix_mean[0, 1] == pytest.approx(0.0)
    assert g.avg_seen_mean[0] == pytest.approx(np.mean([_matrix(0.9, 0.4, s)[0][0] for s in range(3)]))
    out = build_report(results, EXPERIMENT, tmp_path / "r", reference="naive")
    assert {f"heatmap_{SCEN}_naive.png", f"summary_{slug(SCEN)}.png"} <= {p.name for p in out["figures"]}
