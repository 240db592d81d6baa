"""Files written by lifelong 0.1.0 before the architecture change (issue 9) still load and report.

``fixtures/main-0.1.0/`` holds what that version wrote: a result store of a small grid (split-digits,
naive / replay / joint, 2 seeds, few-shot and LCA on), its tables, and the ``result.json`` of
``lifelong run --scenario split-digits --strategy replay``.
"""
import shutil
from pathlib import Path

from lifelong.cli import format_result, main
from lifelong.experiment.result import RunResult

OLD = Path(__file__).parent / "fixtures" / "main-0.1.0"


def test_an_old_result_json_loads_and_prints():
    r = RunResult.load(OLD / "result.json")
    assert r.strategy == "replay" and r.metric == "accuracy" and len(r.accuracy_matrix) == 5
    text = format_result(r)
    assert "ACC" in text and f"{100 * r.metrics['acc']:.1f}" in text


def test_an_old_store_reports_the_same_tables(tmp_path, capsys):
    folder = tmp_path / "old"
    folder.mkdir()
    shutil.copy(OLD / "runs.sqlite", folder / "runs.sqlite")
    assert main(["report", str(folder)]) == 0
    for name in ("metrics.md", "metrics.csv", "metrics.tex"):
        assert (folder / "tables" / name).read_bytes() == (OLD / "tables" / name).read_bytes(), name
    assert "replay" in capsys.readouterr().out
