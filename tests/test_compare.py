"""Experiment grids: the file format, parallel runs, the crash-proof store, resume."""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lifelong.config import ConfigError
from lifelong.experiment.checkpoint import Checkpoint
from lifelong.experiment.compare import longest_first, prepare, run_experiment
from lifelong.experiment.spec import RunSpec, StrategyEntry
from lifelong.experiment.spec import load_experiment
from lifelong.experiment.store import Store

TINY = """
name: tiny
scenarios: [split-digits]
strategies:
  - {preset: naive, model: mlp, epochs: 2}
  - {preset: replay, label: replay-50, model: mlp, epochs: 2, buffer_size: 50}
  - {preset: ewc, model: mlp, epochs: 2}
seeds: 2
reference: naive
fewshot: {shots: [1, 5], draws: 1}
lca: 3
"""


def write(tmp_path, text=TINY, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The TINY experiment's folder after ``lifelong compare`` with 2 workers; tests copy it before changing it."""
    from lifelong.cli import main

    root = tmp_path_factory.mktemp("grid")
    assert main(["compare", str(write(root)), "--out", str(root / "out"), "--jobs", "2"]) == 0
    return root / "out"


def copy_of(folder, tmp_path):
    return Path(shutil.copytree(folder, tmp_path / "copy"))


def table(store):
    """What a report is computed from: every run's identity, status and numbers (not its timings)."""
    return sorted((r.scenario, r.strategy, r.seed, r.status, r.accuracy_matrix, r.random_init_accuracy,
                   sorted(r.metrics.items(), key=str)) for r in store.results())


def test_the_embedded_default_is_split_mnist_with_the_baselines():
    e = load_experiment()
    assert e.scenarios == ["split-mnist"] and e.seeds == [0, 1, 2]
    labels = [s.label for s in e.strategies]
    assert {"naive", "ewc", "replay", "joint"} <= set(labels)
    assert e.output_dir() == Path("reports/default")


def test_strategy_overrides_and_labels_resolve(tmp_path):
    e = load_experiment(write(tmp_path))
    assert [s.label for s in e.strategies] == ["naive", "replay-50", "ewc"]
    assert e.strategies[1].spec["buffer_size"] == 50 and e.strategies[1].spec["strategy"] == "replay"
    assert e.strategies[2].spec["ewc_lambda"] == 100.0  # the preset's value, resolved
    assert e.out is None and e.output_dir() == Path("reports/tiny")


@pytest.mark.parametrize("text, words", [
    ("name: x\nscenarios: [nope]\nstrategies: [naive]\n", ["scenarios[0]", "nope", "unknown scenario"]),
    ("name: x\nscenarios: [split-digits]\nstrategies: [nope]\n", ["strategies[0].preset", "nope"]),
    ("name: x\nscenarios: [split-digits]\nstrategies: [{preset: replay, buffer_size: -1}]\n",
     ["strategies[0].buffer_size", "-1"]),
    ("name: x\nscenarios: [split-digits]\nstrategies: [naive]\nseeds: 0\n", ["seeds", "0"]),
    ("name: x\nscenarios: [split-digits]\nstrategies: [naive, naive]\n", ["label", "naive"]),
    ("name: x\nscenarios: [split-digits]\nstrategies: [naive]\nreference: joint\n", ["reference", "joint"]),
    ("name: x\nscenarios: [split-digits]\nstrategies: [naive]\ncolour: red\n", ["colour", "unknown field"]),
    ("scenarios: [split-digits]\nstrategies: [naive]\n", ["name", "missing"]),
    ("name: x\nscenarios: split-digits\nstrategies: [naive]\n", ["scenarios", "list"]),
    ("name: x\nscenarios: [split-digits]\nstrategies: [naive]\nexecutor: dask\n", ["executor", "dask"]),
    ("name: x\nscenarios: [split-digits]\nstrategies: [naive]\nexecutor: {ray: {cpus_per_run: 0}}\n",
     ["executor.ray.cpus_per_run", "0"]),
    ("name: x\nscenarios: [split-digits]\nstrategies: [naive]\nexecutor: {ray: {nodes: 3}}\n",
     ["executor.ray.nodes", "unknown field"]),
])
def test_bad_experiment_files_name_file_field_and_value(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_experiment(path)
    message = str(e.value)
    for w in [str(path), *words]:
        assert w in message


def test_grid_runs_in_parallel_and_records_every_run(grid, tmp_path):
    e = load_experiment(write(tmp_path))
    store = Store(grid / "runs.sqlite")
    results = store.results()
    assert len(results) == 6 and all(r.status == "finished" for r in results)
    assert {(r.strategy, r.seed) for r in results} == {(s, seed) for s in ("naive", "replay-50", "ewc") for seed in (0, 1)}
    assert (grid / "experiment.yaml").is_file()
    # the same grid with one worker gives the same numbers: runs don't depend on the worker
    serial = run_experiment(e, out=tmp_path / "serial", jobs=1)
    assert table(serial) == table(store)
    # rerunning skips everything recorded
    seen = []
    run_experiment(e, out=copy_of(grid, tmp_path), jobs=2, on_progress=seen.append)
    assert seen[-1].skipped == 6 and seen[-1].done == 0


def test_a_failing_run_is_recorded_and_the_grid_goes_on(tmp_path):
    text = TINY.replace("  - {preset: ewc, model: mlp, epochs: 2}", "  - {preset: naive, label: diverges, optimizer: sgd, lr: 1.0e6, model: mlp}")
    store = run_experiment(load_experiment(write(tmp_path, text)), out=tmp_path / "out", jobs=2)
    results = store.results()
    failed = [r for r in results if r.status == "failed"]
    assert {r.strategy for r in failed} == {"diverges"} and len(failed) == 2
    assert all("NonFiniteLoss" in r.error for r in failed)
    assert sum(r.status == "finished" for r in results) == 4


def test_an_output_folder_with_another_experiment_is_refused_untouched(grid, tmp_path):
    out = grid
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    other = load_experiment(write(tmp_path, TINY.replace("seeds: 2", "seeds: 3"), "other.yaml"))
    with pytest.raises(ConfigError, match="different experiment"):
        prepare(other, out)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_a_store_write_is_all_or_nothing(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    store.create({"name": "x"})
    store.save_checkpoint("k", Checkpoint(1, {"payload": [1, 2, 3]}, []))
    conn = sqlite3.connect(store.path)
    conn.execute("CREATE TRIGGER fail BEFORE DELETE ON checkpoints BEGIN SELECT RAISE(ABORT, 'disk gone'); END")
    conn.commit()
    conn.close()
    with pytest.raises(sqlite3.DatabaseError):
        store.record("k", scenario="s", strategy="t", seed=0, params={}, fingerprint="f", version="v", error="boom")
    assert store.statuses() == {}  # the run row was rolled back with the failed checkpoint delete
    assert store.load_checkpoint("k").strategy["payload"] == [1, 2, 3]


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended: it only waits for its parent to collect it


def finished_runs(path: Path) -> int:
    try:
        return list(Store(path).statuses().values()).count("finished")
    except sqlite3.Error:  # not created yet
        return 0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_sigkill_of_the_driver_leaves_no_worker_and_a_rerun_gives_the_uninterrupted_tables(grid, tmp_path):
    exp = write(tmp_path)
    cli = [sys.executable, "-m", "lifelong.cli", "compare", str(exp), "--out", str(tmp_path / "killed"), "--jobs", "2"]
    proc = subprocess.Popen(cli, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while finished_runs(tmp_path / "killed" / "runs.sqlite") < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = children(proc.pid)
    assert proc.poll() is None and workers, "the grid ended before it could be killed mid-way"
    proc.send_signal(signal.SIGKILL)  # the driver alone: nothing can tell the workers
    proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [w for w in workers if alive(w)], "workers outlived the driver by 10 s"
    assert finished_runs(tmp_path / "killed" / "runs.sqlite") < 6
    subprocess.run(cli, check=True, capture_output=True)
    assert table(Store(tmp_path / "killed" / "runs.sqlite")) == table(Store(grid / "runs.sqlite"))
    for name in ("metrics.md", "metrics.csv", "metrics.tex"):
        assert (tmp_path / "killed" / "tables" / name).read_bytes() == (grid / "tables" / name).read_bytes()


def test_report_rebuilds_everything_from_the_store_alone(grid, tmp_path, capsys):
    from lifelong.cli import main

    out = copy_of(grid, tmp_path)
    tables = {p.name: p.read_bytes() for p in (out / "tables").iterdir()}
    for p in [*(out / "tables").iterdir(), *(out / "figures").iterdir(), out / "index.html", out / "README.md"]:
        p.unlink()
    # the experiment file is not needed: the store holds the definition
    assert main(["report", str(out)]) == 0
    assert {p.name: p.read_bytes() for p in (out / "tables").iterdir()} == tables
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"forgetting_split-digits.pdf", "avg_acc_split-digits.png", "summary_split-digits.pdf",
            "heatmap_split-digits_replay-50.png"} <= figures
    html = (out / "index.html").read_text()
    assert all(f"figures/{f}" in html for f in figures if f.endswith(".png"))
    assert "replay-50" in capsys.readouterr().out  # the table is printed


def test_compare_refuses_a_foreign_folder_with_exit_2(tmp_path, capsys):
    from lifelong.cli import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["compare", str(write(tmp_path)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and str(out) in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert main(["report", str(tmp_path)]) == 2


def test_a_free_worker_takes_the_run_expected_to_take_longest():
    def spec(strategy, seed):
        return RunSpec("split-digits", StrategyEntry(strategy, {}), seed, "f")

    queue = [spec(s, seed) for seed in (0, 1) for s in ("naive", "agent", "joint")]  # seed-major
    seconds = {}
    order = []
    while queue:
        run = queue.pop(longest_first(queue, seconds))
        order.append((run.strategy.label, run.seed))
        seconds[("split-digits", run.strategy.label)] = {"naive": 1.0, "agent": 9.0, "joint": 4.0}[run.strategy.label]
    # the first seed measures every cell in the grid's order; then the longest go first
    assert order == [("naive", 0), ("agent", 0), ("joint", 0), ("agent", 1), ("joint", 1), ("naive", 1)]


# --- the Ray executor: a local Ray instance of this test process, nothing leaves the machine -----------------


@pytest.fixture(scope="module")
def ray_session():
    """A 2-CPU local Ray instance; compare() in this process uses it, other processes join it by address."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def task_processes(title: str) -> list[int]:
    """The processes whose title (what Ray shows while a task runs in them) starts with ``title``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(title.encode()):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def checkpoints(path: Path) -> int:
    try:
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the Ray worker in /proc")
def test_on_ray_a_killed_worker_resumes_from_its_checkpoint_and_the_tables_match_local_bytes(grid, ray_session,
                                                                                            tmp_path):
    """The driver joins the cluster by address; one slot at a time, the first worker to hold a checkpoint is
    killed. Ray reruns its task, which continues from the checkpoint the driver's store keeps."""
    out = tmp_path / "ray"
    cli = [sys.executable, "-m", "lifelong.cli", "compare", str(write(tmp_path)), "--out", str(out), "--jobs", "1",
           "--executor", "ray", "--address", ray_session]
    proc = subprocess.Popen(cli, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RAY_AUTH_MODE": "token"})
    killed, deadline = [], time.monotonic() + 300
    while not killed and proc.poll() is None and time.monotonic() < deadline:
        if checkpoints(out / "runs.sqlite"):
            for pid in task_processes("ray::run_on_ray"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.02)
    err = proc.communicate(timeout=300)[1]
    assert killed, "no run was caught mid-way"
    assert proc.returncode == 0, err
    assert "1 resumed from checkpoints" in err and ", 0 failed" in err.splitlines()[-1]
    assert table(Store(out / "runs.sqlite")) == table(Store(grid / "runs.sqlite"))
    for name in ("metrics.md", "metrics.csv", "metrics.tex"):
        assert (out / "tables" / name).read_bytes() == (grid / "tables" / name).read_bytes()
    assert checkpoints(out / "runs.sqlite") == 0


def test_ray_honours_each_runs_resource_request(ray_session, tmp_path):
    from lifelong.experiment.executors import ExecutorSetting, build_executor

    import ray

    store = Store(tmp_path / "runs.sqlite")
    for cpus, slots in ((1, 2), (2, 1)):  # the cluster has 2 CPUs
        with build_executor(ExecutorSetting("ray", cpus_per_run=cpus), store, None, 8) as pool:
            assert pool.slots == slots
        with pytest.raises(ray.exceptions.RayActorError):  # the grid's store owner ended with it; the session goes on
            ray.get(pool.owner.checkpoint_bytes.remote("k"))
    with pytest.raises(ConfigError, match="0 GPUs: not enough for one run"):
        with build_executor(ExecutorSetting("ray", gpus_per_run=1), store, None, 8):
            pass


def test_the_store_owner_keeps_checkpoints_as_bytes_and_never_imports_torch(ray_session, tmp_path, caplog):
    """Runs save through the actor and the driver's store holds what they saved; the actor's process
    imports no torch (about 3 s of CPU beside a grid's runs)."""
    import ray
    import torch

    from lifelong.experiment.store import RunCheckpoints
    from lifelong.experiment.store_owner import OwnedStore, StoreOwner

    store = Store(tmp_path / "runs.sqlite")
    store.create({"name": "x"})
    owner = StoreOwner.remote(str(store.path))
    through = RunCheckpoints(OwnedStore(owner, str(store.path)), "k")
    assert through.load() is None
    through.save(Checkpoint(2, {"w": torch.arange(3.0)}, [{"seen": 1}]))
    saved = store.load_checkpoint("k")
    assert saved.next_task == 2 and saved.strategy["w"].tolist() == [0.0, 1.0, 2.0] and saved.observers == [{"seen": 1}]
    store.put_checkpoint("k", 3, b"not a checkpoint")
    with caplog.at_level("WARNING", logger="lifelong"):
        assert through.load() is None
    assert f"{store.path}: the checkpoint of run k was refused" in caplog.text
    assert not ray.get(owner.__ray_call__.remote(lambda self: "torch" in sys.modules))
    ray.kill(owner)  # the session is the module's: leave no actor behind


def test_a_local_ray_instance_runs_the_runs_at_the_priority_of_local_workers():
    """Ray starts its workers at niceness 15, where they yield the CPU to every other process; the
    instance that ``--executor ray`` starts without a cluster runs them at the driver's niceness."""
    pytest.importorskip("ray")
    probe = ("import os, ray\n"
             "from lifelong.experiment.ray_executor import connect\n"
             "assert connect(None)\n"
             "print(os.nice(0), ray.get(ray.remote(lambda: os.nice(0)).remote()))\n"
             "ray.shutdown()\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    driver, worker = out.stdout.split()
    assert worker == driver


def test_ray_missing_or_out_of_reach_is_one_line_with_exit_2_and_nothing_written(tmp_path, capsys, monkeypatch):
    from lifelong.cli import main
    from lifelong.experiment import executors

    exp = write(tmp_path)
    assert main(["compare", str(exp), "--out", str(tmp_path / "a"), "--address", "127.0.0.1:1"]) == 2
    assert "address: cannot reach a Ray cluster there" in capsys.readouterr().err
    find_spec = executors.importlib.util.find_spec
    monkeypatch.setattr(executors.importlib.util, "find_spec", lambda name: None if name == "ray" else find_spec(name))
    assert main(["compare", str(exp), "--out", str(tmp_path / "b"), "--executor", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "lifelong: error: --executor: needs the ray package: pip install 'lifelong[ray]', got 'ray'"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_every_experiment_file_in_benchmarks_is_valid():
    """The files benchmarks/README.md tells users to run load, and every strategy in them builds."""
    from lifelong.config import load_yaml
    from lifelong.strategies import build_strategy

    benchmarks = Path(__file__).parent.parent / "benchmarks"
    files = [p for p in sorted(benchmarks.glob("*.yaml")) if "strategies" in load_yaml(p)]
    assert len(files) >= 7
    for path in files:
        for entry in load_experiment(path).strategies:
            build_strategy(entry.spec)
