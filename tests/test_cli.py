"""The `lifelong` command: tables, result files, and one-line errors with exit code 2."""
import json
import subprocess
import sys

import pytest

from lifelong.cli import main
from lifelong.config import list_presets


def test_run_prints_the_matrix_and_writes_the_result(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--scenario", "split-digits", "--strategy", "replay", "--seed", "0", "--out", str(out),
                 "--set", "epochs=1", "--set", "model=mlp"]) == 0
    printed = capsys.readouterr()
    assert "after 5" in printed.out and "ACC" in printed.out and "n/a" in printed.out  # FWT not applicable
    assert "task 5/5" in printed.err  # progress goes to stderr
    data = json.loads((out / "result.json").read_text())
    assert data["strategy"] == "replay" and data["scenario"] == "split-digits"
    assert data["config"]["strategy"]["params"]["epochs"] == 1
    assert f"{100 * data['metrics']['acc']:.1f}" in printed.out


def test_run_on_a_regression_stream_speaks_of_test_mse(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--scenario", "sine-stream", "--strategy", "naive", "--shots", "5", "--draws", "1",
                 "--set", "epochs=1", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "test MSE" in printed.out and "after 100" in printed.out and "ACC" not in printed.out
    assert "mean test MSE on tasks seen" in printed.err and "%" not in printed.err
    data = json.loads((out / "result.json").read_text())
    assert data["metric"] == "mse" and f"{data['metrics']['mse']:.3f}" in printed.out
    assert data["extra"]["fewshot"]["held_out"]["n_tasks"] == 50


def test_list_names_every_preset(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for kind in ("scenarios", "strategies"):
        for name, description in list_presets(kind):
            assert name in out and description in out
    assert "split-mnist" in out and "replay" in out


BAD = [
    (["--scenario", "no-such-scenario", "--strategy", "naive"], ["scenario", "no-such-scenario"]),
    (["--scenario", "split-digits", "--strategy", "no-such-strategy"], ["strategy", "no-such-strategy"]),
    (["--scenario", "split-digits", "--strategy", "replay", "--set", "buffer_size=-5"], ["buffer_size", "-5"]),
    (["--scenario", "split-digits", "--strategy", "naive", "--set", "epochs=zero"], ["epochs", "zero"]),
    (["--scenario", "split-digits", "--strategy", "naive", "--set", "epochs"], ["--set", "epochs"]),
    (["--scenario", "split-digits", "--strategy", "naive", "--set", "colour=red"], ["colour", "unknown field"]),
    (["--scenario", "split-digits", "--strategy", "naive", "--set", "lr=[0.1"], ["--set lr", "not valid YAML"]),
    (["--scenario", "sine-stream", "--strategy", "lwf"], ["strategy", "lwf", "classification", "regression"]),
    (["--scenario", "sine-stream", "--strategy", "agent"], ["strategy", "agent", "regression"]),
    (["--scenario", "split-digits", "--strategy", "naive", "--shots", "0,5"], ["--shots", "0,5"]),
    (["--scenario", "split-digits", "--strategy", "naive", "--draws", "0"], ["--draws", "0"]),
]


@pytest.mark.parametrize("args, words", BAD)
def test_bad_input_is_one_line_exit_2_and_nothing_written(args, words, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("lifelong: error:")
    for w in words:
        assert w in err
    assert not out.exists()


@pytest.mark.parametrize("field, value, words", [
    ("n_tasks", "0", ["n_tasks", "0", ">= 1"]),
    ("n_tasks", "11", ["n_tasks", "11", "more tasks than"]),
    ("n_tasks", "five", ["n_tasks", "five", "integer"]),
])
def test_bad_scenario_file_names_file_field_and_value(field, value, words, tmp_path, capsys):
    preset = tmp_path / "my-stream.yaml"
    preset.write_text(f"source: digits\nbuilder: split\n{field}: {value}\n")
    assert main(["run", "--scenario", str(preset), "--strategy", "naive", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    for w in [str(preset), *words]:
        assert w in err
    assert not (tmp_path / "out").exists()


def test_malformed_yaml_is_one_line(tmp_path, capsys):
    preset = tmp_path / "broken.yaml"
    preset.write_text("strategy: naive\nlr: [0.1\n")
    assert main(["run", "--scenario", "split-digits", "--strategy", str(preset)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(preset) in err and "line" in err


def test_console_script_exits_2_without_a_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lifelong.cli", "run", "--scenario", "nope", "--strategy", "naive"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
