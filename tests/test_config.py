"""Tests for preset loading and validation (lifelong.config, load_scenario, load_strategy).

A mistake in a preset must stop the run before any training, with one
``ConfigError`` line that names the file, the field and the offending value,
so a researcher can fix the YAML without reading a traceback.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import lifelong as ll
from lifelong.config import list_presets
from lifelong.scenarios import build_stream
from lifelong.strategies import build_strategy, strategy_class, strategy_names

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_PRESETS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
STRATEGY_PRESETS = sorted(p.stem for p in (ROOT / "strategies").glob("*.yaml"))

DIGITS = "source: digits\nbuilder: split\n"


def write(tmp_path: Path, text: str, name: str = "preset.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(load, *args, **kwargs) -> str:
    with pytest.raises(ll.ConfigError) as e:
        load(*args, **kwargs)
    message = str(e.value)
    assert "\n" not in message, "a config error is one line"
    return message


def assert_names(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} missing from the error: {message}"


# --- scenario presets: bad values --------------------------------------------------------------


@pytest.mark.parametrize("line, field, shown", [
    ("n_tasks: five", "n_tasks", "'five'"),          # a string for a number
    ("n_tasks: '5'", "n_tasks", "'5'"),              # a quoted number is a string
    ("n_tasks: 2.5", "n_tasks", "2.5"),              # a float for an int
    ("n_tasks: 2.0", "n_tasks", "2.0"),              # even a whole float
    ("n_tasks: true", "n_tasks", "True"),            # a bool for an int
    ("n_tasks: 0", "n_tasks", "0"),                  # out of range
    ("n_tasks: -3", "n_tasks", "-3"),
    ("n_tasks: 11", "n_tasks", "11"),                # more tasks than the 10 digit classes
    ("shuffle_classes: 1", "shuffle_classes", "1"),  # an int for a bool
    ("setting: domain-incremental", "setting", "'domain-incremental'"),  # not a split setting
    ("setting: online", "setting", "'online'"),
])
def test_bad_split_field_names_file_field_and_value(tmp_path, line, field, shown):
    path = write(tmp_path, DIGITS + line + "\n")
    message = error_of(ll.load_scenario, str(path))
    assert_names(message, str(path), field, shown)


def test_too_many_tasks_says_how_many_classes_there_are(tmp_path):
    path = write(tmp_path, DIGITS + "n_tasks: 11\n")
    assert_names(error_of(ll.load_scenario, str(path)), "10 classes")


@pytest.mark.parametrize("text, field, shown", [
    ("source: digits\nbuilder: rotate\nmax_angle: 400\n", "max_angle", "400"),
    ("source: digits\nbuilder: rotate\nmax_angle: -10\n", "max_angle", "-10"),
    ("source: digits\nbuilder: rotate\nmax_angle: ninety\n", "max_angle", "'ninety'"),
    ("source: digits\nbuilder: permute\nsetting: class-incremental\n", "setting", "'class-incremental'"),
    ("source: 7\nbuilder: split\n", "source", "7"),
    ("source: digits\nbuilder: [split]\n", "builder", "['split']"),
])
def test_bad_field_of_other_builders(tmp_path, text, field, shown):
    path = write(tmp_path, text)
    assert_names(error_of(ll.load_scenario, str(path)), str(path), field, shown)


def test_unknown_scenario_field_names_it_and_lists_the_known_ones(tmp_path):
    path = write(tmp_path, DIGITS + "n_task: 5\n")  # a typo of n_tasks
    message = error_of(ll.load_scenario, str(path))
    assert_names(message, str(path), "n_task", "unknown field", "n_tasks", "shuffle_classes")


def test_unknown_builder_names_it_and_lists_the_builders(tmp_path):
    path = write(tmp_path, "source: digits\nbuilder: shuffle\n")
    assert_names(error_of(ll.load_scenario, str(path)), str(path), "builder", "'shuffle'", "split", "permute", "rotate")


def test_unknown_source_names_it_and_lists_the_sources(tmp_path):
    path = write(tmp_path, "source: imagenet21k\nbuilder: split\n")
    assert_names(error_of(ll.load_scenario, str(path)), str(path), "source", "'imagenet21k'", "digits", "mnist",
                 "cifar10")


def test_missing_npz_source_names_the_data_file(tmp_path):
    path = write(tmp_path, "source: nowhere.npz\nbuilder: split\n")
    assert_names(error_of(ll.load_scenario, str(path)), str(tmp_path / "nowhere.npz"))


def test_missing_builder_is_reported(tmp_path):
    path = write(tmp_path, "source: digits\nn_tasks: 5\n")
    assert_names(error_of(ll.load_scenario, str(path)), str(path), "builder", "missing")


def test_missing_source_is_reported(tmp_path):
    path = write(tmp_path, "builder: split\nn_tasks: 5\n")
    assert_names(error_of(ll.load_scenario, str(path)), str(path), "source", "missing")


def test_scenario_overrides_are_checked_and_name_the_preset(tmp_path):
    message = error_of(ll.load_scenario, "split-digits", n_tasks=0)
    assert_names(message, str(ROOT / "scenarios" / "split-digits.yaml"), "overrides", "n_tasks", "0")
    message = error_of(ll.load_scenario, "split-digits", n_taks=3)
    assert_names(message, "split-digits.yaml", "n_taks", "unknown field")
    message = error_of(ll.load_scenario, "split-digits", n_tasks=True)
    assert_names(message, "split-digits.yaml", "n_tasks", "True")


def test_scenario_overrides_are_applied():
    stream = ll.load_scenario("split-digits", seed=0, n_tasks=2, setting="task-incremental")
    assert len(stream) == 2 and stream.setting == "task-incremental"
    assert stream.definition["n_tasks"] == 2


def test_seed_in_a_scenario_preset_is_not_silently_ignored(tmp_path):
    """A preset that sets ``seed`` must either be refused or get that seed; the library accepts
    the field (it is listed among the known fields) and then drops it, so the permutations come
    from load_scenario's seed instead of the one the file asks for."""
    path = write(tmp_path, "source: digits\nbuilder: permute\nn_tasks: 2\nseed: 5\n")
    try:
        stream = ll.load_scenario(str(path))
    except ll.ConfigError as e:
        assert_names(str(e), str(path), "seed")
        return
    seeded = build_stream({"source": "digits", "builder": "permute", "n_tasks": 2}, seed=5)
    assert stream.fingerprint == seeded.fingerprint, \
        f"'seed: 5' in {path.name} was accepted but ignored (stream built with seed {stream.definition['seed']})"


# --- files that are not presets -------------------------------------------------------------


def test_malformed_yaml_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, "source: digits\nbuilder: split\nn_tasks: 5\n  setting: [class-incremental\n")
    message = error_of(ll.load_scenario, str(path))
    assert_names(message, str(path), "line 4", "YAML")


def test_malformed_strategy_yaml_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, "strategy: naive\nlr: [0.1\nepochs: 2\n")
    message = error_of(ll.load_strategy, str(path))
    assert_names(message, str(path), "line ", "YAML")


def test_top_level_list_is_refused(tmp_path):
    path = write(tmp_path, "- source: digits\n- builder: split\n")
    message = error_of(ll.load_scenario, str(path))
    assert_names(message, str(path), "mapping", "source")
    path = write(tmp_path, "- strategy: naive\n", "list-strategy.yaml")
    assert_names(error_of(ll.load_strategy, str(path)), str(path), "mapping")


def test_scalar_top_level_is_refused(tmp_path):
    path = write(tmp_path, "just some words\n")
    assert_names(error_of(ll.load_scenario, str(path)), str(path), "mapping", "'just some words'")


def test_empty_file_reports_the_missing_field(tmp_path):
    path = write(tmp_path, "")
    assert_names(error_of(ll.load_strategy, str(path)), str(path), "strategy", "missing")


def test_missing_yaml_path_is_reported(tmp_path):
    missing = tmp_path / "nope.yaml"
    assert_names(error_of(ll.load_scenario, str(missing)), str(missing), "no such file")
    assert_names(error_of(ll.load_strategy, missing), str(missing), "no such file")


def test_unknown_scenario_name_lists_the_presets():
    message = error_of(ll.load_scenario, "split-cifar")
    assert_names(message, "unknown scenario", "'split-cifar'", *SCENARIO_PRESETS)


def test_unknown_strategy_name_lists_the_presets():
    message = error_of(ll.load_strategy, "no-such-method")
    assert_names(message, "'no-such-method'", *STRATEGY_PRESETS)
    assert_names(message, "unknown strategy")  # not "strategie"


# --- strategy presets: bad values --------------------------------------------------------------


@pytest.mark.parametrize("text, field, shown", [
    ("strategy: naive\nlr: fast\n", "lr", "'fast'"),            # a string for a number
    ("strategy: naive\nlr: '0.1'\n", "lr", "'0.1'"),            # a quoted number
    ("strategy: naive\nlr: 0\n", "lr", "0"),                    # must be > 0
    ("strategy: naive\nlr: -0.1\n", "lr", "-0.1"),
    ("strategy: naive\nlr: true\n", "lr", "True"),              # a bool is not a number
    ("strategy: naive\nepochs: 1.5\n", "epochs", "1.5"),        # a float for an int
    ("strategy: naive\nepochs: true\n", "epochs", "True"),      # a bool for an int
    ("strategy: naive\nepochs: 0\n", "epochs", "0"),
    ("strategy: naive\nbatch_size: 0\n", "batch_size", "0"),
    ("strategy: naive\nmomentum: 1.5\n", "momentum", "1.5"),    # a fraction
    ("strategy: naive\nweight_decay: -1\n", "weight_decay", "-1"),
    ("strategy: naive\noptimizer: rmsprop\n", "optimizer", "'rmsprop'"),
    ("strategy: naive\nmodel: resnet\n", "model", "'resnet'"),
    ("strategy: replay\nbuffer_size: -1\n", "buffer_size", "-1"),
    ("strategy: replay\nbuffer_size: 10.5\n", "buffer_size", "10.5"),
    ("strategy: ewc\newc_lambda: -1\n", "ewc_lambda", "-1"),
    ("strategy: ewc\nmode: sometimes\n", "mode", "'sometimes'"),
    ("strategy: ewc\ndecay: 2\n", "decay", "2"),
    ("strategy: ewc\nfisher_samples: 0\n", "fisher_samples", "0"),
    ("strategy: naive\nmodel: mlp\nmodel_args: [256]\n", "model_args", "[256]"),
])
def test_bad_strategy_field_names_file_field_and_value(tmp_path, text, field, shown):
    path = write(tmp_path, text)
    assert_names(error_of(ll.load_strategy, str(path)), str(path), field, shown)


def test_unknown_strategy_field_names_it_and_lists_the_known_ones(tmp_path):
    path = write(tmp_path, "strategy: replay\nlearning_rate: 0.1\n")
    message = error_of(ll.load_strategy, str(path))
    assert_names(message, str(path), "learning_rate", "unknown field", "lr", "buffer_size")


def test_field_of_another_strategy_is_unknown(tmp_path):
    path = write(tmp_path, "strategy: naive\nbuffer_size: 100\n")
    assert_names(error_of(ll.load_strategy, str(path)), str(path), "buffer_size", "unknown field")


def test_unknown_strategy_in_a_file_lists_the_strategies(tmp_path):
    path = write(tmp_path, "strategy: no-such-method\n")
    assert_names(error_of(ll.load_strategy, str(path)), str(path), "strategy", "'no-such-method'", *strategy_names())


def test_missing_strategy_field(tmp_path):
    path = write(tmp_path, "lr: 0.1\n")
    assert_names(error_of(ll.load_strategy, str(path)), str(path), "strategy", "missing")


def test_model_args_need_an_explicit_model(tmp_path):
    path = write(tmp_path, "strategy: naive\nmodel: auto\nmodel_args:\n  hidden: [64]\n")
    assert_names(error_of(ll.load_strategy, str(path)), str(path), "model", "model_args", "'auto'")
    path = write(tmp_path, "strategy: naive\nmodel_args:\n  hidden: [64]\n", "implicit-auto.yaml")
    assert_names(error_of(ll.load_strategy, str(path)), str(path), "model", "model_args", "'auto'")


@pytest.mark.parametrize("text, field, shown", [
    ("model: mlp\nmodel_args:\n  width: 64\n", "model_args.width", "unknown field"),
    ("model: mlp\nmodel_args:\n  hidden: [64, 0]\n", "model_args.hidden[1]", "0"),
    ("model: cnn\nmodel_args:\n  embedding_dim: 1.5\n", "model_args.embedding_dim", "1.5"),
])
def test_model_args_are_checked_against_the_model(tmp_path, text, field, shown):
    path = write(tmp_path, "strategy: naive\n" + text)
    assert_names(error_of(ll.load_strategy, str(path)), str(path), field, shown)


def test_strategy_overrides_are_checked_and_named():
    assert_names(error_of(ll.load_strategy, "replay", buffer_size=-1), "overrides", "buffer_size", "-1")
    assert_names(error_of(ll.load_strategy, "naive", lr=0), "overrides", "lr", "0")
    assert_names(error_of(ll.load_strategy, "naive", epochs=2.0), "overrides", "epochs", "2.0")
    assert_names(error_of(ll.load_strategy, "naive", epochs=False), "overrides", "epochs", "False")
    assert_names(error_of(ll.load_strategy, "naive", lr="big"), "overrides", "lr", "'big'")
    assert_names(error_of(ll.load_strategy, "naive", buffer_size=10), "overrides", "buffer_size", "unknown field")
    assert_names(error_of(ll.load_strategy, "naive", model_args={"hidden": [8]}),
                 "overrides", "model", "model_args", "'auto'")


# --- what is accepted ----------------------------------------------------------------------


def test_ints_are_accepted_for_float_fields(tmp_path):
    path = write(tmp_path, "strategy: ewc\nlr: 1\newc_lambda: 0\ndecay: 1\n")
    strategy = ll.load_strategy(str(path))
    params = strategy.get_params()
    assert params["lr"] == 1.0 and isinstance(params["lr"], float)
    assert params["ewc_lambda"] == 0.0 and isinstance(params["ewc_lambda"], float)
    assert ll.load_strategy("naive", lr=2).lr == 2.0
    stream = ll.load_scenario("split-digits", builder="rotate", setting="domain-incremental", n_tasks=2, max_angle=90)
    assert stream.definition["max_angle"] == 90.0 and isinstance(stream.definition["max_angle"], float)


def test_exponent_notation_is_a_number(tmp_path):
    """``lr: 1e-3`` is how learning rates are written; YAML 1.1 (PyYAML's default resolver) reads
    it as the string '1e-3', and the preset is then refused with "expected a number"."""
    path = write(tmp_path, "strategy: naive\nlr: 1e-3\nweight_decay: 5e-4\n")
    strategy = ll.load_strategy(str(path))
    assert strategy.lr == pytest.approx(1e-3)
    assert strategy.weight_decay == pytest.approx(5e-4)


def test_boundary_values_are_accepted():
    assert ll.load_strategy("replay", buffer_size=0).buffer_size == 0
    assert ll.load_strategy("naive", momentum=1.0, weight_decay=0).momentum == 1.0
    assert len(ll.load_scenario("split-digits", n_tasks=1)) == 1
    assert len(ll.load_scenario("split-digits", n_tasks=10)) == 10


def test_model_args_with_an_explicit_model_are_accepted(tmp_path):
    path = write(tmp_path, "strategy: naive\nmodel: mlp\nmodel_args:\n  hidden: [64, 32]\n")
    assert ll.load_strategy(str(path)).get_params()["model_args"] == {"hidden": [64, 32]}


def test_strategy_overrides_replace_only_the_fields_given():
    strategy = ll.load_strategy("replay", lr=0.1, buffer_size=50)
    params = strategy.get_params()
    assert (params["lr"], params["buffer_size"]) == (0.1, 50)
    preset = yaml.safe_load((ROOT / "strategies" / "replay.yaml").read_text())
    assert (params["epochs"], params["batch_size"]) == (preset["epochs"], preset["batch_size"])
    assert strategy.name == "replay"


@pytest.mark.parametrize("name", STRATEGY_PRESETS)
def test_every_strategy_preset_loads_with_its_fields(name):
    preset = yaml.safe_load((ROOT / "strategies" / f"{name}.yaml").read_text())
    strategy = ll.load_strategy(name)
    assert type(strategy) is strategy_class(preset["strategy"])
    assert strategy.name == name
    params = strategy.get_params()
    for field, value in preset.items():
        if field not in ("strategy", "description"):
            assert params[field] == value, f"{name}: {field}"


@pytest.mark.parametrize("name", STRATEGY_PRESETS)
def test_get_params_round_trips(name):
    preset = yaml.safe_load((ROOT / "strategies" / f"{name}.yaml").read_text())
    params = ll.load_strategy(name).get_params()
    rebuilt = build_strategy({"strategy": preset["strategy"], **params})
    assert type(rebuilt) is strategy_class(preset["strategy"])
    assert rebuilt.get_params() == params
    # and the parameters survive a trip through YAML, as a saved config would
    again = build_strategy(yaml.safe_load(yaml.safe_dump({"strategy": preset["strategy"], **params})))
    assert again.get_params() == params


def test_get_params_covers_every_constructor_parameter():
    strategy = ll.load_strategy("online-ewc")
    params = strategy.get_params()
    assert {"ewc_lambda", "mode", "decay", "fisher_samples", "lr", "epochs", "batch_size", "model"} <= set(params)
    assert params["mode"] == "online" and params["decay"] == 0.9


def test_every_scenario_preset_file_is_valid_yaml_with_a_description():
    presets = dict(list_presets("scenarios"))
    assert set(SCENARIO_PRESETS) <= set(presets)
    for name in SCENARIO_PRESETS:
        assert presets[name] and not presets[name].startswith("(invalid"), name


def test_every_strategy_preset_file_is_valid_yaml_with_a_description():
    presets = dict(list_presets("strategies"))
    assert set(STRATEGY_PRESETS) <= set(presets)
    for name in STRATEGY_PRESETS:
        assert presets[name] and not presets[name].startswith("(invalid"), name


def test_config_error_is_a_value_error_with_its_parts():
    with pytest.raises(ValueError) as e:
        ll.load_strategy("naive", lr=-1)
    assert isinstance(e.value, ll.ConfigError)
    assert e.value.field == "lr" and e.value.value == -1.0


# --- resolving a strategy: the table, import paths --------------------------------------------------


def test_every_strategy_of_the_table_is_a_strategy_class_of_its_module():
    from lifelong.strategies import STRATEGIES, Strategy

    assert strategy_names() == tuple(sorted(STRATEGIES))
    for name, path in STRATEGIES.items():
        cls = strategy_class(name)
        assert issubclass(cls, Strategy) and f"{cls.__module__}:{cls.__qualname__}" == path, name
    used = {yaml.safe_load((ROOT / "strategies" / f"{n}.yaml").read_text())["strategy"] for n in STRATEGY_PRESETS}
    assert used <= set(STRATEGIES)


def test_a_class_named_by_import_path_is_the_class():
    from lifelong.strategies.replay import Replay

    assert strategy_class("lifelong.strategies.replay:Replay") is Replay
    strategy = build_strategy({"strategy": "lifelong.strategies.replay:Replay", "buffer_size": 7})
    assert type(strategy) is Replay and strategy.buffer_size == 7


@pytest.mark.parametrize("text, shown", [
    ("strategy: no_such_package.methods:MyReplay\n",
     ["strategy", "no module named no_such_package", "PYTHONPATH", "'no_such_package.methods:MyReplay'"]),
    ("strategy: lifelong.strategies.replay:Replai\n",
     ["strategy", "lifelong.strategies.replay has no Replai", "'lifelong.strategies.replay:Replai'"]),
    ("strategy: lifelong.models:mlp\n", ["strategy", "not a Strategy subclass", "'lifelong.models:mlp'"]),
    ("strategy: naive\nmodel: no_such_package.nets:make_net\n",
     ["model", "no module named no_such_package", "'no_such_package.nets:make_net'"]),
    ("strategy: naive\nmodel: lifelong.models:mpl\n", ["model", "has no mpl", "'lifelong.models:mpl'"]),
    ("strategy: naive\nmodel: lifelong.models:MODELS\n", ["model", "not a function", "'lifelong.models:MODELS'"]),
    ("strategy: naive\nmodel: lifelong.models:mlp\nmodel_args: {width: 3}\n", ["model_args.width", "hidden"]),
])
def test_a_wrong_import_path_is_one_line_naming_file_field_and_value(tmp_path, text, shown):
    path = write(tmp_path, text)
    assert_names(error_of(ll.load_strategy, str(path)), str(path), *shown)


def test_a_builder_named_by_import_path_is_called_like_ours(tmp_path):
    path = write(tmp_path, DIGITS.replace("builder: split", "builder: lifelong.scenarios.builders:split")
                 + "n_tasks: 2\n")
    stream = ll.load_scenario(str(path))
    assert len(stream) == 2 and stream.definition["builder"] == "lifelong.scenarios.builders:split"
    assert_names(error_of(ll.load_scenario, str(write(tmp_path, "source: digits\nbuilder: nope.streams:build\n"))),
                 "builder", "no module named nope", "'nope.streams:build'")
    assert_names(error_of(ll.load_scenario, str(write(tmp_path, "source: digits\nbuilder: lifelong.models:mlp\n"))),
                 "builder", "setting", "'lifelong.models:mlp'")


def test_a_built_in_preset_keeps_its_stream_fingerprint():
    """Resolving builders through the table or import paths changes no stream definition."""
    stream = ll.load_scenario("split-digits", seed=0)
    assert stream.definition == {"source": "digits", "builder": "split", "n_tasks": 5,
                                 "setting": "class-incremental", "shuffle_classes": False, "seed": 0}


def test_avalanche_is_imported_only_when_used():
    import subprocess
    import sys

    code = ("import sys, lifelong, lifelong.interop; s = lifelong.load_strategy('avalanche-ewc'); "
            "assert 'avalanche' not in sys.modules, 'imported'; print(type(s).__module__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "lifelong.interop.avalanche_strategies"
