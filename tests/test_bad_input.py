"""Files a new user may point lifelong at by mistake, tried through the command: a damaged ``.npz`` named
by a scenario preset, and a preset or experiment file that is not text. Each is one line naming the
file, exit code 2, and nothing written."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lifelong.cli import main


def good_arrays(path: Path) -> bytes:
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 1, 4, 4)).astype(np.float32), np.arange(40) % 4
    np.savez(path, x_train=x, y_train=y, x_test=x, y_test=y)
    return path.read_bytes()


def damaged(kind: str, path: Path) -> None:
    """Write a damaged .npz of this kind at ``path``."""
    data = good_arrays(path)
    if kind == "random bytes":
        path.write_bytes(os.urandom(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "flipped bytes":  # the zip's directory is intact, an array's bytes are not
        flipped = bytearray(data)
        flipped[200:300] = bytes(b ^ 0xFF for b in flipped[200:300])
        path.write_bytes(bytes(flipped))
    elif kind == "compressed, flipped bytes":
        x = np.random.default_rng(0).random((40, 1, 4, 4)).astype(np.float32)
        np.savez_compressed(path, x_train=x, y_train=np.arange(40) % 4, x_test=x, y_test=np.arange(40) % 4)
        flipped = bytearray(path.read_bytes())
        flipped[200:600] = bytes(b ^ 0xFF for b in flipped[200:600])
        path.write_bytes(bytes(flipped))
    elif kind == "strings":
        np.savez(path, x_train=np.array(["a"] * 40), y_train=np.arange(40) % 4, x_test=np.zeros((40, 2)),
                 y_test=np.arange(40) % 4)
    elif kind == "pickled objects":
        np.savez(path, x_train=np.array([None] * 40, dtype=object), y_train=np.arange(40) % 4,
                 x_test=np.zeros((40, 2)), y_test=np.arange(40) % 4)
    elif kind == "an .npy":
        np.save(path.with_suffix(".npy"), np.zeros(3))
        path.with_suffix(".npy").rename(path)
    else:
        raise AssertionError(kind)


KINDS = ["random bytes", "empty", "truncated", "flipped bytes", "compressed, flipped bytes", "strings",
         "pickled objects", "an .npy"]


def assert_one_line(err: str, *words) -> None:
    err = err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("lifelong: error:") and "Traceback" not in err, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_npz_is_one_line(kind, tmp_path, capsys):
    data = tmp_path / "my-data.npz"
    damaged(kind, data)
    preset = tmp_path / "my-stream.yaml"
    preset.write_text("source: my-data.npz\nbuilder: split\nn_tasks: 2\n")
    out = tmp_path / "out"
    assert main(["run", "--scenario", str(preset), "--strategy", "naive", "--out", str(out)]) == 2
    assert_one_line(capsys.readouterr().err, str(data))
    assert not out.exists()


def test_an_intact_npz_still_loads(tmp_path):
    import lifelong as ll

    good_arrays(tmp_path / "my-data.npz")
    (tmp_path / "my-stream.yaml").write_text("source: my-data.npz\nbuilder: split\nn_tasks: 2\n")
    stream = ll.load_scenario(str(tmp_path / "my-stream.yaml"))
    assert len(stream) == 2 and stream.info.input_shape == (1, 4, 4)


def not_text(path: Path) -> Path:
    path.write_bytes(b"strategy: naive\n" + bytes(range(128, 256)) + os.urandom(512))
    return path


@pytest.mark.parametrize("which", ["strategy", "scenario"])
def test_a_preset_that_is_not_text_is_one_line(which, tmp_path, capsys):
    bad = str(not_text(tmp_path / "binary.yaml"))
    args = {"strategy": ["--scenario", "split-digits", "--strategy", bad],
            "scenario": ["--scenario", bad, "--strategy", "naive"]}[which]
    out = tmp_path / "out"
    assert main(["run", *args, "--out", str(out)]) == 2
    assert_one_line(capsys.readouterr().err, bad, "UTF-8")
    assert not out.exists()


def test_an_experiment_file_that_is_not_text_is_one_line(tmp_path, capsys):
    bad = str(not_text(tmp_path / "experiment.yaml"))
    assert main(["compare", bad, "--out", str(tmp_path / "out")]) == 2
    assert_one_line(capsys.readouterr().err, bad, "UTF-8")
    assert not (tmp_path / "out").exists()


def test_lifelong_list_survives_a_preset_that_is_not_text(tmp_path, monkeypatch, capsys):
    """A binary file among the presets shows as invalid in `lifelong list`, which still lists the rest."""
    import lifelong.config as config

    folder = tmp_path / "strategies"
    folder.mkdir()
    not_text(folder / "binary.yaml")
    (folder / "mine.yaml").write_text("description: mine\nstrategy: naive\n")
    monkeypatch.setattr(config, "preset_dirs", lambda kind: [folder] if kind == "strategies" else [])
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "binary" in out and "invalid" in out and "UTF-8" in out and "mine" in out


@pytest.mark.parametrize("what", ["npz", "preset"])
def test_the_console_script_gives_no_traceback(what, tmp_path):
    """As a new user types it: the installed `lifelong` command, in an empty folder."""
    if what == "npz":
        damaged("truncated", tmp_path / "my-data.npz")
        (tmp_path / "my-stream.yaml").write_text("source: my-data.npz\nbuilder: split\nn_tasks: 2\n")
        args = ["--scenario", "my-stream.yaml", "--strategy", "naive"]
    else:
        not_text(tmp_path / "my-method.yaml")
        args = ["--scenario", "split-digits", "--strategy", "my-method.yaml"]
    before = set(tmp_path.iterdir())
    script = Path(sys.executable).with_name("lifelong")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lifelong.cli"]
    proc = subprocess.run([*command, "run", *args, "--out", "out"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert_one_line(proc.stderr)
    assert set(tmp_path.iterdir()) == before
