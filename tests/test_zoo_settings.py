"""Every native strategy runs in every setting it supports and refuses the others in one line."""
import pytest

import lifelong as ll
from lifelong.config import ConfigError, list_presets
from lifelong.scenarios import SOURCES, build_stream

from conftest import fast

NATIVE = [name for name, _ in list_presets("strategies") if not name.startswith("avalanche-")]
REFUSED = {("icarl", "domain-incremental")}  # no new classes arrive after the first task


def stream(setting):
    spec = {"builder": "split", "n_tasks": 2, "setting": setting}
    if setting == "domain-incremental":
        spec = {"builder": "permute", "n_tasks": 2, "setting": setting}
    return build_stream(spec, data=SOURCES["digits"](), seed=0, name=f"digits-{setting}")


@pytest.mark.parametrize("setting", ["class-incremental", "task-incremental", "domain-incremental"])
@pytest.mark.parametrize("name", NATIVE)
def test_strategy_in_setting(name, setting):
    strategy = fast(name)  # 1 epoch, an MLP, 20 outer steps for the meta-learners
    if (name, setting) in REFUSED:
        with pytest.raises(ConfigError) as e:
            ll.run(strategy, stream(setting), seed=0)
        assert "setting" in str(e.value) and setting in str(e.value) and "\n" not in str(e.value)
        return
    result = ll.run(strategy, stream(setting), seed=0)
    assert result.status == "finished" and len(result.accuracy_matrix) == 2
    assert all(0.0 <= v <= 1.0 for row in result.accuracy_matrix for v in row)


def test_a_refused_pair_is_one_line_and_exit_2_on_the_cli(tmp_path, capsys):
    from lifelong.cli import main

    assert main(["run", "--scenario", "permuted-mnist", "--strategy", "icarl", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "domain-incremental" in err
    assert not (tmp_path / "o").exists()
