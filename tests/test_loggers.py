"""Experiment loggers: what each tool holds after a run, read back with the tool's own reader; the
resume of a logged run; the choice from YAML and the command line; ``ll.results``."""
import csv
import glob
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import lifelong as ll
from lifelong.cli import main
from lifelong.config import ConfigError
from lifelong.evaluation import ContinualEvaluation
from lifelong.experiment.checkpoint import MemoryCheckpointer
from lifelong.experiment.compare import prepare, record
from lifelong.experiment.executors import execute
from lifelong.experiment.spec import load_experiment
from lifelong.experiment.store import Store
from lifelong.loggers import build_loggers, check_loggers

from conftest import fast

EVERY = 3  # steps between training-loss points


@pytest.fixture(scope="module")
def stream():
    return ll.load_scenario("split-digits", seed=0, n_tasks=2)


def logged_run(stream, folder, names, checkpointer=None):
    strategy = fast("replay")
    strategy.name = "replay"
    return ll.run(strategy, stream, seed=0, evaluators=[ContinualEvaluation(every=4, subset=50)],
                  loggers=build_loggers(names, folder, every=EVERY, experiment="tests"), checkpointer=checkpointer)


def expected_points(result) -> dict:
    """(name, step) -> value of the score rows and continual points, from the result itself."""
    ends = result.extra["continual"]["task_ends"]
    points = {(f"score/task{j + 1}", ends[i]): v for i, row in enumerate(result.accuracy_matrix)
              for j, v in enumerate(row)}
    points.update({(f"continual/task{t + 1}", s): v for s, t, v in result.extra["continual"]["curve"]})
    return points


@pytest.fixture(scope="module")
def logged(stream, tmp_path_factory):
    """One run logged to all four tools (W&B offline), and the same run without loggers."""
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    folder = tmp_path_factory.mktemp("logs")
    try:
        result = logged_run(stream, folder, ["csv", "tensorboard", "mlflow", "wandb"])
    finally:
        mp.undo()
    plain = fast("replay")
    plain.name = "replay"
    return folder, result, ll.run(plain, stream, seed=0, evaluators=[ContinualEvaluation(every=4, subset=50)])


def read_csv(folder, cell="split-digits/replay/seed0") -> list[tuple[int, str, float]]:
    with open(Path(folder) / "csv" / cell / "scalars.csv", newline="") as f:
        return [(int(s), n, float(v)) for s, n, v in list(csv.reader(f))[1:]]


def test_loggers_leave_the_numbers_unchanged(logged):
    _, result, plain = logged
    assert result.accuracy_matrix == plain.accuracy_matrix and result.metrics == plain.metrics


def test_csv_holds_the_loss_every_n_steps_the_score_rows_and_the_continual_points(logged):
    folder, result, _ = logged
    rows = read_csv(folder)
    loss_steps = [s for s, n, _ in rows if n == "train/loss"]
    total = result.extra["continual"]["task_ends"][-1]
    assert loss_steps == list(range(EVERY, total + 1, EVERY))
    assert {(n, s): v for s, n, v in rows if n != "train/loss"} == pytest.approx(expected_points(result))
    run_dir = folder / "csv/split-digits/replay/seed0"
    params = json.loads((run_dir / "params.json").read_text())
    assert params["scenario"] == "split-digits" and params["seed"] == 0 and params["buffer_size"] == 200
    assert json.loads((run_dir / "metrics.json").read_text())["acc"] == pytest.approx(result.metrics["acc"])
    assert {p.name for p in (run_dir / "figures").glob("*.png")} >= {"heatmap_split-digits_replay.png",
                                                                    "stability_split-digits.png"}


def test_tensorboard_event_files_read_back_with_tensorboards_reader(logged):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder, result, _ = logged
    acc = EventAccumulator(str(folder / "tensorboard/split-digits/replay/seed0"), size_guidance={"images": 0})
    acc.Reload()
    tags = acc.Tags()
    got = {(tag, e.step): e.value for tag in tags["scalars"] if "/task" in tag for e in acc.Scalars(tag)}
    assert got == pytest.approx(expected_points(result))
    assert [e.step for e in acc.Scalars("train/loss")][:2] == [EVERY, 2 * EVERY]
    assert "figures/heatmap_split-digits_replay" in tags["images"]
    assert "hparams" in " ".join(tags["tensors"])
    hp = EventAccumulator(str(folder / "tensorboard/split-digits/replay/seed0"))
    hp.Reload()
    assert hp.Scalars("metrics/acc")[0].value == pytest.approx(result.metrics["acc"])


def test_mlflow_file_store_reads_back_with_its_client(logged):
    from mlflow.tracking import MlflowClient

    folder, result, _ = logged
    client = MlflowClient((folder / "mlruns").resolve().as_uri())
    runs = client.search_runs([client.get_experiment_by_name("tests").experiment_id])
    assert [r.info.run_name for r in runs] == ["split-digits/replay/seed0"]
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.tags["strategy"] == "replay"
    assert run.data.params["buffer_size"] == "200"
    assert run.data.metrics["metrics/acc"] == pytest.approx(result.metrics["acc"])
    history = client.get_metric_history(run.info.run_id, "score/task1")
    assert {m.step: m.value for m in history} == pytest.approx(
        {s: v for (n, s), v in expected_points(result).items() if n == "score/task1"})
    assert len(history) == len(result.accuracy_matrix)
    assert any(a.path.endswith(".png") for a in client.list_artifacts(run.info.run_id, "figures"))


def wandb_records(folder):
    """The records of W&B's offline run file (its LevelDB-style log of protobuf ``Record`` messages:
    32 KiB blocks, each chunk a 7-byte header of CRC, length and type after the file's own 7 bytes)."""
    from wandb.proto import wandb_internal_pb2

    (path,) = glob.glob(str(folder / "wandb/wandb/offline-run-*/run-*.wandb"))
    data, pos, chunk, records = Path(path).read_bytes(), 7, b"", []
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:
            pos += 32768 - pos % 32768
            continue
        _, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = chunk + data[pos + 7:pos + 7 + n], pos + 7 + n
        if kind in (1, 4):  # a full record, or a record's last chunk
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
    return records


def key(item) -> str:
    """A W&B record item's name (one with a slash is stored as its parts)."""
    return item.key or "/".join(item.nested_key)


def test_wandb_offline_run_holds_the_config_history_and_summary(logged):
    folder, result, _ = logged
    records = wandb_records(folder)
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run.display_name == "split-digits/replay/seed0" and run.run_group == "split-digits/replay"
    assert run.project == "tests"
    config = {key(u): json.loads(u.value_json) for u in run.config.update}
    assert config["buffer_size"] == 200 and config["scenario"] == "split-digits"
    history = [{key(i): json.loads(i.value_json) for i in r.history.item} for r in records
               if r.WhichOneof("record_type") == "history"]
    got = {(k, h["_step"]): v for h in history for k, v in h.items() if "/task" in k}
    assert got == pytest.approx(expected_points(result))
    summary = {key(u): json.loads(u.value_json) for r in records if r.WhichOneof("record_type") == "summary"
               for u in r.summary.update}
    assert summary["metrics/acc"] == pytest.approx(result.metrics["acc"])


def test_a_resumed_run_logs_each_point_once(stream, tmp_path):
    """The worst case of a kill: the whole run was logged, then it resumes from its first checkpoint."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    checkpoints = MemoryCheckpointer()
    whole = logged_run(stream, tmp_path, ["csv", "tensorboard"], checkpoints)
    uninterrupted = read_csv(tmp_path)
    checkpoints.resume_after = 0
    resumed = logged_run(stream, tmp_path, ["csv", "tensorboard"], checkpoints)
    assert resumed.accuracy_matrix == whole.accuracy_matrix
    killed = read_csv(tmp_path)
    assert [r[:2] for r in killed] == [r[:2] for r in uninterrupted]  # each (step, name) once, in order
    assert [r[2] for r in killed] == pytest.approx([r[2] for r in uninterrupted])
    acc = EventAccumulator(str(tmp_path / "tensorboard/split-digits/replay/seed0"))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("score/task1")]
    assert steps == sorted(set(steps)) == list(whole.extra["continual"]["task_ends"])


def test_a_missing_package_or_unknown_name_is_one_line(monkeypatch):
    real = __import__("importlib").util.find_spec
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError, match=r"pip install 'lifelong\[mlflow\]'"):
        check_loggers(["csv", "mlflow"])
    with pytest.raises(ConfigError, match="unknown logger"):
        check_loggers(["tensorbored"])


def test_the_cli_refuses_a_bad_logger_before_running(capsys, tmp_path):
    code = main(["run", "--scenario", "split-digits", "--strategy", "naive", "--logger", "tensorbored",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--logger" in err[0] and "tensorbored" in err[0]
    assert not (tmp_path / "out").exists()


def test_importing_lifelong_imports_no_optional_package():
    code = "import lifelong, lifelong.loggers, lifelong.cli, sys; " \
           "print([m for m in ('tensorboard', 'wandb', 'mlflow', 'ray', 'timm', 'torchvision') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_experiments_loggers_write_one_folder_per_grid_cell_and_results_reads_its_rows(tmp_path):
    """Each cell of the grid logs under the experiment's logs/ (test_compare runs the workers)."""
    exp = tmp_path / "exp.yaml"
    exp.write_text("name: logged\nscenarios: [split-digits]\nstrategies: [naive, {preset: naive, label: slow, "
                   "lr: 0.001}]\nseeds: 1\nfewshot: false\nlca: false\nloggers: [csv]\nlog_every: 5\n")
    experiment = load_experiment(exp)
    for s in experiment.strategies:
        s.spec.update(epochs=1, model="mlp")
    store, fingerprints = prepare(experiment, tmp_path / "out")
    runs = experiment.runs(fingerprints)  # the grid's cells, run here as compare's workers do
    store.create(experiment.definition())
    folder = store.path.parent
    for r in runs:
        outcome = execute(r, store.checkpointer(r.key), folder / "logs")
        assert outcome.error is None
        record(store, r, outcome)
    cells = sorted(p.relative_to(folder / "logs/csv").as_posix() for p in (folder / "logs/csv").glob("*/*/*"))
    assert cells == ["split-digits/naive/seed0", "split-digits/slow/seed0"]
    assert read_csv(folder / "logs", "split-digits/slow/seed0")[0][:2] == (5, "train/loss")
    rows = ll.results(folder)
    assert [(r["strategy"], r["seed"], r["status"]) for r in rows] == [("naive", 0, "finished"), ("slow", 0, "finished")]
    stored = {r.strategy: r for r in Store(folder / "runs.sqlite").results()}
    assert all(row["acc"] == stored[row["strategy"]].metrics["acc"] for row in rows)
    assert rows[0]["train_s"] == sum(stored["naive"].timings["train_s"])
    frame = rows.to_pandas()
    assert list(frame["strategy"]) == ["naive", "slow"] and "acc" in frame.columns
    exp.write_text(exp.read_text().replace("[csv]", "[csv, neptune]"))
    with pytest.raises(ConfigError, match=r"exp\.yaml.*loggers.*neptune"):
        load_experiment(exp)
    with pytest.raises(ConfigError, match="results"):
        ll.results(tmp_path)
