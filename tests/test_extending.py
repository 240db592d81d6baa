"""The README's "Extending lifelong" section, executed: its code blocks become a package outside lifelong
(``mypackage``) and presets in a temporary folder, and its commands run there as a user would type them.
A strategy class, a network factory and a stream builder named by import path work through
``lifelong run`` and ``lifelong compare`` (whose spawned workers import them too); a mistyped path is
one line and exit code 2."""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lifelong.cli import main
from lifelong.experiment.store import Store

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "Extending lifelong"


def section_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block of the README's section."""
    text = README.read_text()
    assert f"\n## {SECTION}\n" in text, f"README.md has no '## {SECTION}' section"
    section = text.split(f"\n## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```(\w+)\n(.*?)^```", section, re.S | re.M)


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory):
    """The section's files, each written where its first line (``# path``) says; and its commands."""
    root = tmp_path_factory.mktemp("user")
    commands = []
    for language, code in section_blocks():
        first = code.splitlines()[0]
        if language == "bash":
            commands.append(code.strip())
        else:
            assert first.startswith("# "), f"a {language} block of the section does not name its file: {first}"
            path = root / first[2:].strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(code)
    assert {"mypackage/methods.py", "mypackage/nets.py", "mypackage/streams.py", "mypackage/observers.py",
            "track.py", "my-anchor.yaml", "noisy-digits.yaml", "my-experiment.yaml"} <= {str(p.relative_to(root)) for p in root.rglob("*.*")}
    return root, commands


def lifelong_command(root: Path, command: str, *extra: str):
    """Run a README command (``PYTHONPATH=. lifelong ...``) in ``root``: the same arguments, with this
    interpreter's lifelong; ``PYTHONPATH=.`` puts ``root`` first on the path, before what the tests use."""
    words = shlex.split(command)
    assert words[:2] == ["PYTHONPATH=.", "lifelong"], command
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "lifelong.cli", *words[2:], *extra], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)


def command(commands, verb: str) -> str:
    (found,) = [c for c in commands if shlex.split(c)[2:3] == [verb]]
    return found


WIDE_MLP_128_ON_DIGITS = (64 * 128 + 128) + (128 * 10 + 10)  # wide_mlp(width=128) on 8x8 inputs, 10 classes


def test_run_uses_the_users_strategy_network_and_stream(user_folder):
    root, commands = user_folder
    proc = lifelong_command(root, command(commands, "run"), "--out", "run-out", "--shots", "none")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "my-anchor on noisy-digits (domain-incremental)" in proc.stdout
    result = json.loads((root / "run-out" / "result.json").read_text())
    assert len(result["accuracy_matrix"]) == 3  # the builder's n_tasks
    assert set(result["n_parameters"]) == {WIDE_MLP_128_ON_DIGITS}  # the factory's network, with model_args
    assert result["config"]["strategy"]["params"]["strength"] == 0.1
    assert result["metrics"]["acc"] > 0.5  # it learned: the digits are easy at this noise


def test_compare_runs_them_in_its_workers(user_folder):
    root, commands = user_folder
    proc = lifelong_command(root, command(commands, "compare"), "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "failed" not in proc.stderr.replace("0 failed", "")
    folder = root / "reports" / "my-experiment"
    table = (folder / "tables" / "metrics.md").read_text()
    assert "my-anchor" in table and "strong-anchor" in table
    results = Store(folder / "runs.sqlite").results()
    assert sorted(r.strategy for r in results) == ["my-anchor", "strong-anchor"]
    assert {r.status for r in results} == {"finished"}
    assert {n for r in results for n in r.n_parameters} == {WIDE_MLP_128_ON_DIGITS}
    # the override reached the user's class: different strengths, different numbers
    assert len({json.dumps(r.accuracy_matrix) for r in results}) == 2


def test_the_users_evaluator_listens_to_the_run(user_folder):
    """``python track.py``: the evaluator's curve and metric reach the result; steps are counted per task."""
    root, commands = user_folder
    (script,) = [c for c in commands if shlex.split(c)[1:2] == ["python"]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, *shlex.split(script)[2:]], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    n_points, first_task_min, acc = proc.stdout.split()
    # noisy-digits: 3 tasks of the 1,437 training digits, batches of 32, 1 epoch: 45 steps, 4 points a task
    assert int(n_points) == 3 * (45 // 10)
    assert 0.0 <= float(first_task_min) <= 1.0 and 0.5 < float(acc) <= 1.0


# --- typos in import paths: one line, exit 2, nothing written ------------------------------------


@pytest.fixture
def on_path(user_folder, monkeypatch):
    root, _ = user_folder
    monkeypatch.syspath_prepend(str(root))
    return root


def bad_preset(root: Path, tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (root / name).read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


TYPOS = [  # (preset, text, replacement, words the error line holds)
    ("my-anchor.yaml", "mypackage.methods:L2Anchor", "mypackage.methodz:L2Anchor",
     ["strategy", "mypackage.methodz", "no module"]),
    ("my-anchor.yaml", "mypackage.methods:L2Anchor", "mypackage.methods:L2Ancor", ["strategy", "no L2Ancor"]),
    ("my-anchor.yaml", "mypackage.methods:L2Anchor", "mypackage.nets:wide_mlp", ["strategy", "not a Strategy"]),
    ("my-anchor.yaml", "mypackage.methods:L2Anchor", "mypackage.methods.L2Anchor",
     ["strategy", "unknown strategy", "module:Class"]),
    ("my-anchor.yaml", "strength:", "strenght:", ["strenght", "unknown field", "strength"]),
    ("my-anchor.yaml", "mypackage.nets:wide_mlp", "mypackage.nets:wide_mpl", ["model", "no wide_mpl"]),
    ("my-anchor.yaml", "mypackage.nets:wide_mlp", "mypackage.nets:math", ["model", "not a function"]),
    ("my-anchor.yaml", "{width: 128}", "{widht: 128}", ["model_args.widht", "unknown field", "width"]),
    ("noisy-digits.yaml", "mypackage.streams:noisier", "mypackage.streams:noisy", ["builder", "no noisy"]),
    ("noisy-digits.yaml", "mypackage.streams:noisier", "mypackage.nets:wide_mlp", ["builder", "setting"]),
    ("noisy-digits.yaml", "n_tasks: 3", "n_task: 3", ["n_task", "unknown field", "max_noise"]),
]


@pytest.mark.parametrize("preset, old, new, words", TYPOS)
def test_a_typo_is_one_line_and_exit_2(on_path, tmp_path, capsys, preset, old, new, words):
    path = bad_preset(on_path, tmp_path, preset, old, new)
    other = {"my-anchor.yaml": ["--scenario", str(on_path / "noisy-digits.yaml"), "--strategy", str(path)],
             "noisy-digits.yaml": ["--scenario", str(path), "--strategy", str(on_path / "my-anchor.yaml")]}
    out = tmp_path / "out"
    assert main(["run", *other[preset], "--out", str(out), "--shots", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("lifelong: error:") and str(path) in err, err
    for w in words:
        assert w in err, err
    assert not out.exists()


def test_a_factory_that_returns_no_features_and_head_is_one_line(on_path, tmp_path, capsys):
    (tmp_path / "plain_nets.py").write_text("from torch import nn\n\n\ndef plain(input_shape, n_outputs):\n"
                                           "    return nn.Sequential(nn.Flatten(), nn.LazyLinear(n_outputs))\n")
    sys.path.insert(0, str(tmp_path))
    try:
        path = bad_preset(on_path, tmp_path, "my-anchor.yaml", "model: mypackage.nets:wide_mlp\nmodel_args: {width: 128}",
                          "model: plain_nets:plain")
        assert main(["run", "--scenario", str(on_path / "noisy-digits.yaml"), "--strategy", str(path),
                     "--out", str(tmp_path / "out")]) == 2
    finally:
        sys.path.remove(str(tmp_path))
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "plain_nets:plain" in err and "features" in err and "head" in err, err
    assert not (tmp_path / "out").exists()


def test_a_typo_in_an_experiments_preset_stops_compare_before_anything_is_written(user_folder, tmp_path):
    root, commands = user_folder
    work = tmp_path / "work"
    work.mkdir()
    bad_preset(root, work, "my-anchor.yaml", "mypackage.methods:L2Anchor", "mypackage.method:L2Anchor")
    for name in ("noisy-digits.yaml", "my-experiment.yaml"):
        (work / name).write_text((root / name).read_text())
    (work / "mypackage").symlink_to(root / "mypackage")
    proc = lifelong_command(work, command(commands, "compare"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "mypackage.method" in proc.stderr and "strategy" in proc.stderr
    assert not (work / "reports").exists()
