"""YAML presets -> validated specs, with errors that name the file, the field and the value.

A preset is a flat YAML mapping. Its fields are checked against the keyword
parameters of the function or class it configures: the parameter's annotation
gives the expected type (``int``, ``float``, ``bool``, ``str``, lists) and, with
``typing.Annotated``, a range or a set of choices. So a strategy's constructor
signature *is* its schema, and there is one place to read it. A field may name
the user's own code by import path, ``module:name`` (``import_object``): a
strategy class, a network factory, a stream builder.
"""
from __future__ import annotations

import importlib
import inspect
import re
import sysconfig
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml

KINDS = {"scenarios": "scenario", "strategies": "strategy"}  # folder -> what one preset is
_MISSING = object()


class ConfigError(ValueError):
    """A user's mistake in a preset or an argument: one line, no traceback."""

    def __init__(self, message: str, *, file: str | Path | None = None, field: str | None = None, value: Any = _MISSING):
        self.message, self.file, self.field, self.value = message, file, field, value
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(str(p) for p in (self.file, self.field) if p)
        given = "" if self.value is _MISSING else f", got {self.value!r}"
        return f"{where}: {self.message}{given}" if where else f"{self.message}{given}"

    def in_file(self, file: str | Path) -> "ConfigError":
        """The same error, located in ``file`` (kept if already located)."""
        if self.file is None:
            self.file = file
            self.args = (str(self),)
        return self


# --- constraints carried by annotations -------------------------------------------------


@dataclass(frozen=True)
class Range:
    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def check(self, v) -> str | None:
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return f"expected a value {'>' if self.low_open else '>='} {self.low}"
        if self.high is not None and v > self.high:
            return f"expected a value <= {self.high}"
        return None


@dataclass(frozen=True)
class Choice:
    options: tuple

    def __init__(self, *options):
        object.__setattr__(self, "options", options)

    def check(self, v) -> str | None:
        if v not in self.options:
            return "expected one of " + ", ".join(map(str, self.options))
        return None


PositiveInt = Annotated[int, Range(1)]
NonNegInt = Annotated[int, Range(0)]
PositiveFloat = Annotated[float, Range(0, low_open=True)]
NonNegFloat = Annotated[float, Range(0)]
Fraction = Annotated[float, Range(0, 1)]


def check_value(field: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against ``annotation``; return it (ints widened to float where a float is expected)."""
    constraints = ()
    if typing.get_origin(annotation) is Annotated:
        annotation, *constraints = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return check_value(field, value, option)
            except ConfigError as e:
                errors.append(e.message)
        raise ConfigError(" or ".join(errors), field=field, value=value)
    value = _check_type(field, value, annotation)
    for c in constraints:
        problem = c.check(value)
        if problem:
            raise ConfigError(problem, field=field, value=value)
    return value


def _check_type(field, value, annotation):
    if annotation is Any or annotation is inspect.Parameter.empty:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError("expected true or false", field=field, value=value)
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError("expected an integer", field=field, value=value)
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError("expected a number", field=field, value=value)
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError("expected a string", field=field, value=value)
        return value
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError("expected a list", field=field, value=value)
        (item,) = typing.get_args(annotation)[:1] or (Any,)
        return [check_value(f"{field}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError("expected a mapping", field=field, value=value)
        return value
    return value


def keyword_params(target) -> dict[str, tuple[inspect.Parameter, Any]]:
    """The keyword-only parameters of a function, or of a class's constructors along its MRO
    (a subclass adds its own and passes ``**kwargs`` on), each with its annotation."""
    fns = [c.__dict__["__init__"] for c in target.__mro__ if "__init__" in c.__dict__] if inspect.isclass(target) \
        else [target]
    found: dict[str, tuple[inspect.Parameter, Any]] = {}
    for fn in fns:
        hints = typing.get_type_hints(fn, include_extras=True)
        for name, p in inspect.signature(fn).parameters.items():
            if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in found:
                found[name] = (p, hints.get(name, Any))
    return found


def check_params(target, params: dict, *, prefix: str = "") -> dict:
    """Validate ``params`` against the keyword parameters of a function or class.

    Unknown names, wrong types and out-of-range values raise ConfigError naming
    the field. Returns the checked parameters.
    """
    accepted = keyword_params(target)
    checked = {}
    for name, value in params.items():
        if name not in accepted:
            known = ", ".join(sorted(accepted)) or "none"
            raise ConfigError(f"unknown field (known fields: {known})", field=prefix + name)
        checked[name] = check_value(prefix + name, value, accepted[name][1])
    return checked


def defaults(target) -> dict:
    """The keyword parameters of ``target`` with their default values."""
    return {name: p.default for name, (p, _) in keyword_params(target).items()
            if p.default is not inspect.Parameter.empty}


# --- preset files --------------------------------------------------------------------


def preset_dirs(kind: str) -> list[Path]:
    """Where presets of ``kind`` live: the clone's top-level folder, then the installed copy."""
    assert kind in KINDS
    clone = Path(__file__).resolve().parent.parent / kind
    installed = Path(sysconfig.get_path("data")) / "share" / "lifelong" / kind
    return [d for d in (clone, installed) if d.is_dir()]


def find_preset(kind: str, name_or_path: str | Path) -> Path:
    """Resolve a preset by name (``ewc``) or by path (``my/ewc.yaml``)."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.parent != Path("."):
        if not path.is_file():
            raise ConfigError("no such file", field=KINDS[kind], value=text)
        return path
    for d in preset_dirs(kind):
        candidate = d / f"{text}.yaml"
        if candidate.is_file():
            return candidate
    known = ", ".join(name for name, _ in list_presets(kind))
    raise ConfigError(f"unknown {KINDS[kind]} (known: {known})", field=KINDS[kind], value=text)


def list_presets(kind: str) -> list[tuple[str, str]]:
    """(name, description) of every preset of ``kind``; the first location wins on name clashes."""
    found: dict[str, str] = {}
    for d in preset_dirs(kind):
        for f in sorted(d.glob("*.yaml")):
            if f.stem not in found:
                try:
                    found[f.stem] = str(load_yaml(f).get("description", "")).strip()
                except ConfigError as e:
                    found[f.stem] = f"(invalid: {e})"
    return sorted(found.items())


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; researchers write learning rates that way."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.[\d_]*)?[eE][-+]?\d+$|^[-+]?(?:\d[\d_]*)?\.[\d_]+$|^[-+]?\d[\d_]*\.$"
               r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."),
)


def parse_yaml(text: str):
    """Parse YAML text with the preset loader (``1e-3`` is a number)."""
    return yaml.load(text, Loader=_Loader)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; syntax errors, and a file that is not UTF-8 text, become one ConfigError line
    naming the file (and the line)."""
    path = Path(path)
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text (undecodable byte at offset {e.start}): a YAML file is expected",
                          file=path) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else None
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"invalid YAML: {problem}", file=path, field=line) from None
    except OSError as e:
        raise ConfigError(f"cannot read file: {e.strerror}", file=path) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of fields at the top level", file=path, value=data)
    return data


def pop_field(spec: dict, field: str, annotation, default=_MISSING, *, file=None):
    """Take a required (or defaulted) field out of ``spec``, checked against ``annotation``."""
    if field not in spec:
        if default is _MISSING:
            raise ConfigError("missing required field", file=file, field=field)
        return default
    try:
        return check_value(field, spec.pop(field), annotation)
    except ConfigError as e:
        raise e.in_file(file) if file else e


# --- import paths: the user's own classes and functions ------------------------------------------

_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def is_import_path(text) -> bool:
    """Whether ``text`` reads ``package.module:name`` (a preset field naming the user's own code)."""
    return isinstance(text, str) and _IMPORT_PATH.match(text) is not None


def import_object(path: str, *, field: str) -> Any:
    """The object ``module:name`` names (``name`` may be dotted: ``module:Class.attribute``).

    A module that does not exist or a missing name is one ConfigError naming ``field`` and the path.
    Errors raised inside a module that exists (a syntax error, an import of its own that fails) are the
    module's and propagate as they are."""
    if not is_import_path(path):
        raise ConfigError("expected an import path module:name, e.g. mypackage.methods:MyReplay", field=field,
                          value=path)
    module_name, _, attribute = path.partition(":")
    try:
        found = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not (module_name == e.name or module_name.startswith(e.name + ".")):
            raise  # the module exists; one of its own imports failed
        raise ConfigError(f"no module named {e.name} (is its folder on PYTHONPATH?)", field=field,
                          value=path) from None
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ConfigError(f"{module_name} has no {attribute}", field=field, value=path)
        found = getattr(found, part)
    return found
