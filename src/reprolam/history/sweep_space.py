"""The points of a parameter sweep: a grid (every combination) or seeded random draws.

A point is one fork's overrides, ``{"train_model.C": 0.1, ...}``. Random points come from
NumPy's PCG64 generator seeded with the sweep seed, which is recorded with every point, so
the same space and seed give the same points on any machine.
"""

from __future__ import annotations

import enum
import itertools
import json
import math
import numbers
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from reprolam.errors import ConfigError

if TYPE_CHECKING:
    from reprolam.actions import ActionSpace

Point = dict[str, Any]  # "ACTION.PARAM" -> value


@dataclass(frozen=True, slots=True)
class GridAxis:
    """One swept param and the values it takes: ``train_model.C=0.01,0.1,1``."""

    target: str  # ACTION.PARAM
    values: tuple[Any, ...]  # each typed value's JSON reading (or the text)
    # the values as typed (``parse_grid``), read as the param's type wants once the workflow
    # is known (``typed_as_declared``), as ``--set`` reads a value; empty: given as values
    texts: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "values": list(self.values)}


@dataclass(frozen=True, slots=True)
class RandomAxis:
    """One param drawn uniformly (or log-uniformly) in [low, high]: ``train_model.C=1e-3:10:log``.

    Integer bounds without ``log`` draw integers (both bounds included).
    """

    target: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    @property
    def typed(self) -> str:
        """The axis as typed: ``train_model.max_iter=1.5:3``, ``train_model.C=0.001:10:log``."""
        low, high = (f"{b:g}" for b in (self.low, self.high))
        if not (self.integer or self.log) and all(b.lstrip("-").isdigit() for b in (low, high)):
            low, high = repr(float(self.low)), repr(float(self.high))  # 100.0: floats drawn
        return f"{self.target}={low}:{high}{':log' if self.log else ''}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "integer": self.integer,
        }


def _target(text: str, option: str) -> tuple[str, str]:
    target, sep, rest = text.partition("=")
    action, dot, param = target.strip().partition(".")
    if not sep or not dot or not action or not param or not rest.strip():
        raise ConfigError(
            f"{{{option}}} {text!r}: expected ACTION.PARAM=...",
            option=option,
            value=text,
            hint=f"e.g. {{{option}={_respelled(text, option)}}}",
        )
    return f"{action}.{param}", rest.strip()


def _respelled(text: str, option: str) -> str:
    """``text`` as ACTION.PARAM=VALUES, as far as it can be read: ``fit:C=1,2`` ->
    ``fit.C=1,2``, ``C=1,2`` -> ``ACTION.C=1,2``, ``fit.C`` -> ``fit.C=V1,V2``."""
    target, _, rest = text.partition("=")
    words = [w for w in re.split(r"[.:/\s]+", target.strip()) if w]
    key = ".".join(words) if len(words) == 2 else f"ACTION.{words[-1] if words else 'PARAM'}"
    values = rest.strip().replace("}", "") or ("V1,V2" if option == "grid" else "LOW:HIGH")
    return f"{key}={values}"


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _split_values(rest: str) -> list[str]:
    """The values of a grid at its commas, but not at those inside a JSON list, object or
    string (``[1,2],[3,4]`` is two values, of a tuple or list param); text whose brackets or
    quotes do not pair up is split at every comma."""
    parts: list[str] = []
    depth, in_text, escaped, start = 0, False, False, 0
    for i, char in enumerate(rest):
        if in_text:
            escaped, in_text = char == "\\" and not escaped, in_text and (char != '"' or escaped)
        elif char == '"':
            in_text = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth < 0:
                return rest.split(",")
        elif char == "," and depth == 0:
            parts.append(rest[start:i])
            start = i + 1
    if depth or in_text:
        return rest.split(",")
    return [*parts, rest[start:]]


def parse_grid(text: str) -> GridAxis:
    """``'train_model.C=0.01,0.1,1'`` -> ``GridAxis('train_model.C', (0.01, 0.1, 1))``."""
    target, rest = _target(text, "grid")
    split = _split_values(rest)
    values = tuple(_value(part.strip()) for part in split)
    if any(part.strip() == "" for part in split):
        raise ConfigError(
            f"{{grid}} {text!r}: an empty value in the list",
            option="grid",
            value=text,
            hint="separate values with single commas",
        )
    texts = tuple(part.strip() for part in split)
    if len(set(texts)) != len(texts) or len(set(map(json.dumps, values))) != len(values):
        raise ConfigError(f"{{grid}} {text!r}: a value is listed twice", option="grid")
    return GridAxis(target, values, texts)


def typed_as_declared(actions: ActionSpace, axis: GridAxis) -> GridAxis:
    """The axis with each value typed on the command line read as its param's type wants
    (``--set`` reads a value so: a ``str`` param takes ``1`` or ``true`` as typed, a float
    ``inf``); an axis given as values is returned as it is."""
    if not axis.texts:
        return axis
    from reprolam.engine.policy import read_as_declared  # not on `runs`' import path

    values = tuple(
        read_as_declared(actions, axis.target, text, value)
        for text, value in zip(axis.texts, axis.values, strict=True)
    )
    return GridAxis(axis.target, values)


def parse_space(text: str) -> RandomAxis:
    """``'train_model.C=0.001:10:log'`` -> a log-uniform axis on [0.001, 10]."""
    target, rest = _target(text, "space")
    parts = rest.split(":")
    scale = parts[2].strip().lower() if len(parts) == 3 else "linear"
    if len(parts) not in (2, 3) or scale not in ("log", "linear"):
        raise ConfigError(
            f"{{space}} {text!r}: expected ACTION.PARAM=LOW:HIGH or ACTION.PARAM=LOW:HIGH:log",
            option="space",
            value=text,
        )
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise ConfigError(
            f"{{space}} {text!r}: LOW and HIGH must be numbers", option="space", value=text
        ) from None
    log = scale == "log"
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ConfigError(
            f"{{space}} {text!r}: give finite bounds with LOW < HIGH", option="space", value=text
        )
    if log and low <= 0:
        raise ConfigError(
            f"{{space}} {text!r}: a log scale needs LOW > 0", option="space", value=text
        )
    integer = not log and all(_is_int(p) for p in parts[:2])
    if integer and max(abs(int(parts[0])), abs(int(parts[1]))) > EXACT_INT:
        raise ConfigError(
            f"{{space}} {text!r}: integer bounds must lie within -{EXACT_INT}..{EXACT_INT} "
            "(2**53, where a float stops holding every integer); write a bound as a float "
            "(1e30) to draw floats, or narrow the range",
            option="space",
            value=text,
        )
    return RandomAxis(target, low, high, log=log, integer=integer)


def check_space_types(actions: ActionSpace, axes: Sequence[RandomAxis]) -> None:
    """Refuse an axis whose draws its param can never take, before anything is drawn: float
    draws (float bounds, a log scale) for an int param, numbers for a text or a flag. An
    unknown action or param is left to ``validate_overrides`` to name."""
    for axis in axes:
        action, _, param = axis.target.partition(".")
        if action not in actions or param not in actions.get(action).param_names:
            continue
        declared = _drawn_type(actions.get(action).param_declarations[param][0])
        if declared is int and not axis.integer:
            low, high = math.ceil(axis.low), math.floor(axis.high)
            example = f"{axis.target}={low}:{max(high, low + 1)}"
            draws = "a log scale draws floats" if axis.log else "float bounds draw floats"
            raise ConfigError(
                f"{{space}} {axis.typed}: {param} is an int param and {draws}",
                option="space",
                value=axis.typed,
                hint=f"give integer bounds without log, which draw integers: {{space={example}}}",
            )
        if declared in (str, bool) or _has_text_choices(declared) or _never_a_number(declared):
            kind, choices = _kind_and_choices(declared)
            raise ConfigError(
                f"{{space}} {axis.typed}: {param} is a {kind} param and a random space draws "
                "numbers",
                option="space",
                value=axis.typed,
                hint="sweep its values with a grid, e.g. "
                f"{{grid={axis.target}={','.join(map(str, choices))}}}",
            )


def _drawn_type(declared: Any) -> Any:
    """The type a drawn value must be: ``int`` of ``Annotated[int, ...]``, of ``int | None``
    (a draw is never None) and of ``Optional[Annotated[int, ...]]``."""
    if typing.get_origin(declared) is Annotated:
        return _drawn_type(typing.get_args(declared)[0])
    if typing.get_origin(declared) in (typing.Union, types.UnionType):
        kinds = [k for k in typing.get_args(declared) if k is not type(None)]
        return _drawn_type(kinds[0]) if len(kinds) == 1 else declared
    return declared


def _never_a_number(declared: Any) -> bool:
    """A type no drawn number validates as: a date, a path, a model, an enum, a tuple..."""
    if isinstance(declared, type):
        return issubclass(declared, enum.Enum) or not issubclass(declared, numbers.Number)
    origin = typing.get_origin(declared)
    return origin is not None and origin not in (Literal, typing.Union, types.UnionType)


def _kind_and_choices(declared: Any) -> tuple[str, Sequence[Any]]:
    """How a param a random space cannot sweep is named, and the values a grid example
    lists: a Literal's or an enum's choices, else placeholders."""
    if typing.get_origin(declared) is Literal:
        return "choice", typing.get_args(declared)
    if isinstance(declared, type) and issubclass(declared, enum.Enum):
        return declared.__name__, [m.value for m in declared]
    return getattr(declared, "__name__", str(declared)), ("V1", "V2")


def _has_text_choices(declared: Any) -> bool:
    """A ``Literal`` with a choice no number equals (a text, a flag)."""
    choices = typing.get_args(declared) if typing.get_origin(declared) is Literal else ()
    return any(type(c) not in (int, float) for c in choices)


# the most points a sweep runs: each is a recorded fork, and the points are made and checked
# before the first runs (a grid of 200 x 200 x 200 values was minutes of silence, then forks
# for weeks; --random 100000000 made its points until memory ran out)
MAX_POINTS = 100_000
EXACT_INT = 2**53  # integer bounds are kept as floats, exact up to here (and within int64)


def _is_int(text: str) -> bool:
    try:
        int(text.strip())
    except ValueError:
        return False
    return True


def grid_points(axes: Sequence[GridAxis]) -> list[Point]:
    """Every combination, the first axis varying slowest."""
    targets = [axis.target for axis in axes]
    if len(set(targets)) != len(targets):
        twice = next(t for t in targets if targets.count(t) > 1)
        values = [v for axis in axes if axis.target == twice for v in axis.values]
        listed = ",".join(str(v) for v in dict.fromkeys(values))
        raise ConfigError(
            f"{{grid}} sweeps {twice} twice",
            option="grid",
            value=twice,
            hint=f"give all its values in one, {{grid={twice}={listed}}}",
        )
    sizes = [len(axis.values) for axis in axes]
    if math.prod(sizes) > MAX_POINTS:
        raise ConfigError(
            f"{{grid}} makes {math.prod(sizes)} points ({' x '.join(map(str, sizes))} values), "
            f"more than a sweep runs ({MAX_POINTS}): each point is a recorded fork",
            option="grid",
            hint="sweep fewer values, or sample the space: {random=N} or {optuna=N} with "
            "a {space} per param",
        )
    return [
        dict(zip(targets, combo, strict=True))
        for combo in itertools.product(*(axis.values for axis in axes))
    ]


def check_seed(seed: Any, *, most: int | None = None) -> None:
    """Refuse a sweep seed NumPy cannot take, before anything is written (it was NumPy's
    traceback once the sweep had started): a whole number, 0 or more, at most ``most``."""
    if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= (most or seed):
        return
    allowed = "0 or more" if most is None else f"from 0 to {most}"
    raise ConfigError(
        f"{{seed={seed}}}: a sweep's seed is a whole number, {allowed}",
        option="seed",
        hint="e.g. {seed=1}",
    )


def random_points(axes: Sequence[RandomAxis], count: int, seed: int) -> list[Point]:
    """``count`` points drawn from ``axes`` by a generator seeded with ``seed``."""
    import numpy as np

    if count < 1:
        raise ConfigError(f"{{random={count}}}: draw at least one point", option="random")
    if count > MAX_POINTS:
        raise ConfigError(
            f"{{random={count}}}: more points than a sweep runs ({MAX_POINTS}): each point is "
            "a recorded fork",
            option="random",
            hint=f"draw at most {MAX_POINTS}, e.g. {{random=100}}",
        )
    check_seed(seed)
    targets = [axis.target for axis in axes]
    if len(set(targets)) != len(targets):
        twice = next(t for t in targets if targets.count(t) > 1)
        raise ConfigError(
            f"{{space}} gives {twice} twice",
            option="space",
            value=twice,
            hint=f"give it one range, e.g. {{space={twice}=LOW:HIGH}}",
        )
    rng = np.random.Generator(np.random.PCG64(seed))
    points: list[Point] = []
    for _ in range(count):
        point: Point = {}
        for axis in axes:
            if axis.integer:
                point[axis.target] = int(rng.integers(int(axis.low), int(axis.high) + 1))
            elif axis.log:
                point[axis.target] = float(
                    math.exp(rng.uniform(math.log(axis.low), math.log(axis.high)))
                )
            else:
                point[axis.target] = float(rng.uniform(axis.low, axis.high))
        points.append(point)
    return points


def nested(point: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"a.p": v}`` -> ``{"a": {"p": v}}`` (the engine's overrides)."""
    out: dict[str, dict[str, Any]] = {}
    for target, value in point.items():
        action, _, param = target.partition(".")
        out.setdefault(action, {})[param] = value
    return out


AxesSource = Mapping[str, Sequence[Any]] | Sequence[str] | None


def axes_of(grid: AxesSource, space: AxesSource) -> tuple[list[GridAxis], list[RandomAxis]]:
    """Axes from CLI-style strings or Python mappings (see ``Client.sweep``)."""
    grid_axes = [
        parse_grid(item) if isinstance(item, str) else item for item in _items(grid, _grid_axis)
    ]
    space_axes = [
        parse_space(item) if isinstance(item, str) else item for item in _items(space, _space_axis)
    ]
    return grid_axes, space_axes


def _items(source: AxesSource, build: Any) -> list[Any]:
    """Strings as given (parsed by the caller); mapping entries built into axes here."""
    if source is None:
        return []
    if isinstance(source, str):
        return [source]
    if isinstance(source, Mapping):
        return [build(target, values) for target, values in source.items()]
    return list(source)


def _grid_axis(key: Any, values: Sequence[Any]) -> GridAxis:
    target = _mapping_target("grid", key, values, "[0.01, 0.1, 1]")
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"{{grid}} {target!r}: give a non-empty list of values", option="grid")
    return GridAxis(target, tuple(values))


def _space_axis(key: Any, bounds: Sequence[Any]) -> RandomAxis:
    target = _mapping_target("space", key, bounds, "(0.001, 10, 'log')")
    parts = [str(b) for b in bounds] if isinstance(bounds, Sequence) else []
    if isinstance(bounds, str) or len(parts) not in (2, 3):
        raise ConfigError(
            f"{{space}} {target!r}: give (low, high) or (low, high, 'log')", option="space"
        )
    return parse_space(f"{target}={':'.join(parts)}")


def _mapping_target(option: str, key: Any, given: Any, example: str) -> str:
    """A grid's or space's key as ``"ACTION.PARAM"``; any other spelling (a tuple, a
    colon, no action) is refused with the right spelling of the key it was given (with
    the values ``given`` to it, or ``example`` when they are long)."""
    parts = [str(part).strip() for part in key] if isinstance(key, tuple | list) else []
    if isinstance(key, str):
        action, dot, param = key.strip().partition(".")
        if dot and action and param and "=" not in key:
            return f"{action}.{param}"
        spelled = key.partition("=")[0].replace(":", ".")
        parts = [p.strip() for p in spelled.split(".") if p.strip()]
    shown = repr(given)
    right = ".".join(parts) if len(parts) == 2 else f"ACTION.{parts[-1] if parts else 'PARAM'}"
    raise ConfigError(
        f"{{{option}}} key {key!r}: a key is one text 'ACTION.PARAM', the action's name and "
        "the param's joined by a dot",
        option=option,
        value=key,
        hint=f"write {{{right!r}: {shown if len(shown) <= 40 else example}}}",
    )
