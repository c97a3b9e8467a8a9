"""Formal action schemas: decoration-time validation, params, tool definitions."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import AfterValidator, Field

import reprolam
from reprolam import ActionContext, ActionSpace, action, spec_of, workflow
from reprolam.errors import ActionSpecError, NotFoundError, PolicyViolation


@action(outputs=["model"], determinism="seeded", version="3")
def fit(
    X: object,
    y: object,
    *,
    C: Annotated[float, Field(gt=0, le=100)] = 1.0,
    solver: Literal["lbfgs", "saga"] = "lbfgs",
    ctx: ActionContext,
) -> str:
    """Fit something.

    Longer text that is not part of the description.
    """
    return f"{C}-{ctx.seed}"


def test_spec_reads_the_signature() -> None:
    spec = spec_of(fit)
    assert spec.name == "fit"
    assert spec.inputs == ("X", "y")
    assert spec.outputs == ("model",)
    assert spec.param_names == {"C", "solver"}
    assert spec.wants_context
    assert spec.version == "3"
    assert spec.determinism == "seeded"
    assert spec.description == "Fit something."
    assert len(spec.fingerprint) == 64


def test_decorated_function_stays_directly_callable() -> None:
    assert fit(1, 2, C=2.0, ctx=ActionContext(seed=7)) == "2.0-7"


def test_params_are_validated_with_bounds_and_defaults() -> None:
    spec = spec_of(fit)
    assert spec.validate_params({}) == {"C": 1.0, "solver": "lbfgs"}
    assert spec.validate_params({"C": "0.5"})["C"] == 0.5
    with pytest.raises(PolicyViolation, match=r"fit\.C=-1: Input should be greater than 0"):
        spec.validate_params({"C": -1})
    with pytest.raises(PolicyViolation, match="fit has no param gamma"):
        spec.validate_params({"gamma": 1})
    with pytest.raises(PolicyViolation, match="solver"):
        spec.validate_params({"solver": "adam"})


def test_partial_param_problems_ignore_params_not_given() -> None:
    @action(outputs=["out"])
    def needs(*, required: int, bounded: Annotated[int, Field(ge=0)] = 0) -> int:
        return required

    spec = spec_of(needs)
    assert spec.param_problems({"bounded": 3}, partial=True) == []
    assert spec.param_problems({"bounded": 3}) != []
    assert "bounded=-1" in spec.param_problems({"bounded": -1}, partial=True)[0]


def test_tool_definition_is_openai_shaped_with_json_schema_bounds() -> None:
    tool = spec_of(fit).tool_definition()
    assert tool["type"] == "function"
    function = tool["function"]
    assert function["name"] == "fit"
    props = function["parameters"]["properties"]
    assert props["C"]["exclusiveMinimum"] == 0
    assert props["C"]["maximum"] == 100
    assert props["solver"]["enum"] == ["lbfgs", "saga"]
    assert set(props["inputs"]["properties"]) == {"X", "y"}
    assert "Inputs: X, y. Outputs: model." in function["description"]


def test_fingerprint_changes_with_the_code() -> None:
    @action(outputs=["v"], name="same")
    def one() -> int:
        return 1

    first = spec_of(one).fingerprint

    @action(outputs=["v"], name="same")
    def one() -> int:
        return 2

    assert spec_of(one).fingerprint != first


def _plain() -> int:
    return 1


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: action(outputs=[])(_plain), "outputs must be a non-empty list"),
        (lambda: action(outputs="model")(_plain), "outputs must be a non-empty list"),
        (lambda: action(outputs=["a", "a"])(_plain), "output names repeat"),
        (lambda: action(outputs=["not valid"])(_plain), "is not an identifier"),
        (lambda: action(outputs=["a"], determinism="random")(_plain), "determinism 'random'"),
        (lambda: action(outputs=["a"], determinism="external")(_plain), "side effects"),
    ],
)
def test_bad_declarations_fail_at_decoration_time(declare: object, message: str) -> None:
    with pytest.raises(ActionSpecError, match=message):
        declare()  # type: ignore[operator]


def test_unannotated_param_names_function_and_fix() -> None:
    with pytest.raises(ActionSpecError) as info:

        @action(outputs=["a"])
        def untyped(x, *, alpha=1.0):  # type: ignore[no-untyped-def]
            return x

    message = str(info.value)
    assert "untyped" in message
    assert "param 'alpha' has no type annotation" in message
    assert "alpha: float = 1.0" in message


def test_varargs_and_defaulted_inputs_are_refused() -> None:
    with pytest.raises(ActionSpecError, match=r"\*args"):

        @action(outputs=["a"])
        def star(*args: int) -> int:
            return 0

    with pytest.raises(ActionSpecError, match="input 'x' has a default"):

        @action(outputs=["a"])
        def defaulted(x: int = 1) -> int:
            return x


def test_a_default_no_step_can_record_is_refused_at_declaration() -> None:
    # Params are recorded as JSON text; Python writes ints as text only up to 4,300 digits
    # (the first step raised ValueError 'Exceeds the limit' from deep in the engine).
    with pytest.raises(ActionSpecError, match="default of param 'n' holds an integer of more"):

        @action(outputs=["a"])
        def huge(*, n: int = 10**5000) -> int:
            return n

    with pytest.raises(ActionSpecError, match="default of param 'ns'"):

        @action(outputs=["a"])
        def nested(*, ns: list[int] = [1, 10**5000]) -> int:  # noqa: B006
            return len(ns)

    @action(outputs=["a"])
    def big(*, n: int = 10**400) -> int:  # long, but recordable
        return n

    assert spec_of(big).validate_params({})["n"] == 10**400


def test_spec_of_plain_function_explains_the_fix() -> None:
    def plain() -> None: ...

    with pytest.raises(ActionSpecError, match=r"decorate it with @reprolam.action"):
        spec_of(plain)


def test_action_space_registry() -> None:
    @action(outputs=["b"])
    def make_b(a: int) -> int:
        return a

    space = ActionSpace([fit, make_b])
    assert space.names == ("fit", "make_b")
    assert [t["function"]["name"] for t in space.tool_definitions()] == ["fit", "make_b"]
    assert space.producer_of("b") is spec_of(make_b)
    with pytest.raises(NotFoundError, match="unknown action 'nope': known actions are fit, make_b"):
        space.get("nope")
    with pytest.raises(ActionSpecError, match="registered twice"):
        space.register(fit)


def test_public_api_is_complete_and_lazy() -> None:
    import subprocess
    import sys

    import reprolam

    assert set(reprolam.__all__) == set(reprolam._EXPORTS)
    for name in reprolam.__all__:
        assert getattr(reprolam, name) is not None, name
    heavy = "('numpy', 'pandas', 'sklearn')"
    code = f"import reprolam, sys; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_async_function_is_refused_when_declared_naming_the_fix() -> None:
    # it was accepted, and every step then failed at its output ('no codec can encode
    # builtins.coroutine ... opt in to pickle'), the coroutine never awaited
    async def fetch() -> int:
        return 1

    async def stream() -> Any:
        yield 1

    for fn in (fetch, stream):
        with pytest.raises(ActionSpecError, match=r"async function.*asyncio\.run"):
            action(outputs=["n"])(fn)


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: workflow("", [_two], outputs=["y"]), "workflow name '': a workflow needs a name"),
        (lambda: workflow("  ", [_two], outputs=["y"]), "workflow name '  ': a workflow needs"),
        (lambda: workflow("w", [_two], outputs="yz"), "outputs must be a list of names, got 'yz'"),
        (
            lambda: workflow("w", [_two], outputs=["y"], inputs="table"),
            "inputs must be a list of names, got 'table'",
        ),
    ],
)
def test_a_workflow_without_a_name_or_with_names_given_as_one_text_is_refused(
    declare: Any, message: str
) -> None:
    # workflow('', ...) was recorded with its runs, and fork loaded the default workflow
    # (breast-cancer) for '' in its place; outputs='yz' was read as the outputs 'y' and 'z'
    # (@action refuses outputs='y' already).
    with pytest.raises(reprolam.WorkflowError, match=re.escape(message)):
        declare()


@action(outputs=["y", "z"])
def _two(*, x: int = 1) -> dict[str, int]:
    return {"y": x, "z": x}


def _bounded_text(*, s: Annotated[str, reprolam.Field(ge=1)]) -> str:
    return s


def _bounded_text_default(*, s: Annotated[str, reprolam.Field(ge=1)] = "x") -> str:
    return s


def _bounded_choice(*, s: Annotated[Literal["a", "b"], reprolam.Field(lt=3)] = "a") -> str:
    return s


@pytest.mark.parametrize("fn", [_bounded_text, _bounded_text_default, _bounded_choice])
def test_bounds_on_a_text_param_are_refused_at_decoration_time(fn: Any) -> None:
    # Without a default, every run given a value failed with pydantic's TypeError ('Unable to
    # apply constraint 'ge' to supplied value x'); with one, the decoration did, naming no
    # action and no param.
    with pytest.raises(ActionSpecError) as refused:
        action(outputs=["y"])(fn)
    assert str(refused.value) == (
        f"action {fn.__qualname__}: param 's' is text, and its bounds (gt, ge, lt, le) compare "
        "numbers; drop the bounds, or make the param an int or a float"
    )


_TYPED_FLOW = """
import datetime as dt
from pathlib import Path
import pydantic
from reprolam import action, workflow

class Cfg(pydantic.BaseModel):
    k: int

@action(outputs=["val"])
def make(*, cfg: Cfg = Cfg(k=1), day: dt.date = dt.date(2020, 1, 2),
         pair: tuple[int, int] = (1, 2), where: Path = Path("/tmp/x"),
         cfgs: list[Cfg] = [Cfg(k=3)]) -> int:
    values = (cfg, day, pair, where, cfgs[0])
    kinds = (Cfg, dt.date, tuple, Path, Cfg)
    assert all(isinstance(v, k) for v, k in zip(values, kinds)), values
    return cfg.k * 100 + day.day + pair[0] + cfgs[0].k

flow = workflow("typed", [make], outputs=["val"], goal="typed params")
"""


@pytest.mark.parametrize("executor", ["local", "process"])
def test_params_typed_beyond_json_reach_the_action_as_the_declared_objects(
    tmp_path: Path, executor: str
) -> None:
    (tmp_path / "typed_flow.py").write_text(_TYPED_FLOW)
    flow = f"{tmp_path / 'typed_flow.py'}:flow"
    with reprolam.open(tmp_path / "store") as rl:
        run = rl.run(flow, planner="script", executor=executor)
        assert run.succeeded, run.run.error
        assert run.outputs["val"] == 100 + 2 + 1 + 3
        step = rl.show(run.id).steps[0]
        assert step.params == {  # recorded in the JSON form
            "cfg": {"k": 1},
            "day": "2020-01-02",
            "pair": [1, 2],
            "where": "/tmp/x",
            "cfgs": [{"k": 3}],
        }
        fork = run.fork(at=0, set={"make.cfg": {"k": 2}})
        assert fork.succeeded
        assert fork.outputs["val"] == 200 + 2 + 1 + 3
        assert rl.reproduce(run.id).bitwise


def test_a_param_typed_beyond_json_is_set_in_its_recorded_json_form(tmp_path: Path) -> None:
    """`--set make.day=2021-03-05`, `--set make.pair=[7,8]`: what the step records, as typed;
    strict JSON still refuses a coercion (an int given as text)."""
    (tmp_path / "typed_flow.py").write_text(_TYPED_FLOW)
    flow = f"{tmp_path / 'typed_flow.py'}:flow"
    with reprolam.open(tmp_path / "store") as rl:
        given = {"make.day": "2021-03-05", "make.pair": [7, 8], "make.where": "/y"}
        run = rl.run(flow, planner="script", set=given)
        assert run.succeeded, run.run.error
        assert run.outputs["val"] == 100 + 5 + 7 + 3
        with pytest.raises(reprolam.ConfigError, match=r"make\.pair\.0='7': .*valid integer"):
            rl.run(flow, planner="script", set={"make.pair": ["7", 8]})


def test_a_param_set_as_a_python_object_is_recorded_in_its_json_form(tmp_path: Path) -> None:
    (tmp_path / "typed_flow.py").write_text(_TYPED_FLOW)
    flow = f"{tmp_path / 'typed_flow.py'}:flow"
    with reprolam.open(tmp_path / "store") as rl:
        cfg = rl.run(flow, planner="script").steps[0].params  # the JSON form
        objects = {"make.day": datetime.date(2021, 3, 5), "make.where": Path("/y")}
        run = rl.run(flow, planner="script", set=objects)
        assert run.succeeded, run.run.error
        assert run.outputs["val"] == 100 + 5 + 1 + 3
        assert run.run.overrides == {"make": {"day": "2021-03-05", "where": "/y"}}
        assert run.steps[0].params == {**cfg, "day": "2021-03-05", "where": "/y"}


@pytest.mark.parametrize(
    ("name", "problem", "fix"),
    [
        ("_private", "starts with '_', which pydantic", "rename it, e.g. 'private'"),
        ("model_config", "is a name pydantic keeps for itself", "e.g. 'model_config_'"),
        ("model_dump", "is a name pydantic keeps for itself", "e.g. 'dump'"),
    ],
)
def test_a_param_name_pydantic_cannot_hold_is_refused_at_decoration(
    name: str, problem: str, fix: str
) -> None:
    """It was refused for the wrong reason ('the default violates its own declaration:
    Extra inputs are not permitted'; 'annotate params with JSON-able types'), or, with
    only simple params, accepted and failed at its first use by pydantic."""
    for annotation in ("int", "list[int]"):
        source = f"def f(*, {name}: {annotation} = {'1' if annotation == 'int' else '[1]'}):\n"
        namespace: dict[str, Any] = {}
        exec(source + "    return 1", namespace)
        with pytest.raises(ActionSpecError) as info:
            action(outputs=["a"])(namespace["f"])
        assert f"param {name!r} {problem}" in str(info.value)
        assert fix in str(info.value)
    namespace = {}
    exec("def g(*, model_name: str = 'm', copy: list[int] = [1]):\n    return 1", namespace)
    spec = spec_of(action(outputs=["a"])(namespace["g"]))  # a name that only shadows: fine
    assert spec.validate_params({"copy": [2]}) == {"model_name": "m", "copy": [2]}


def test_a_field_of_a_param_set_alone_says_the_param_is_given_whole(tmp_path: Path) -> None:
    """`--set make.cfg.k=2` said 'make has no param cfg.k (its params: cfg, ...)', naming
    cfg among the params without saying how to set it."""
    (tmp_path / "typed_flow.py").write_text(_TYPED_FLOW)
    flow = f"{tmp_path / 'typed_flow.py'}:flow"
    with pytest.raises(reprolam.ConfigError) as info:
        reprolam.run(flow, store="memory:", planner="script", set={"make.cfg.k": 2})
    assert "make has no param cfg.k: a param is given whole, cfg as JSON" in str(info.value)
    assert "make.cfg={...} with every field" in str(info.value)


def test_the_listing_of_a_model_param_holds_its_fields_not_a_dangling_ref(
    tmp_path: Path,
) -> None:
    """`reprolam actions --json` gave cfg as {"$ref": "#/$defs/Cfg"} with no $defs to
    resolve it: a reader (a UI, a script) could not know the fields."""
    (tmp_path / "typed_flow.py").write_text(_TYPED_FLOW)
    from reprolam.workflows.registry import load_workflow

    flow = load_workflow(f"{tmp_path / 'typed_flow.py'}:flow")
    params = flow.actions.get("make").describe()["params"]
    assert "$ref" not in repr(params)
    assert params["cfg"]["properties"] == {"k": {"title": "K", "type": "integer"}}
    assert params["cfg"]["default"] == {"k": 1}
    assert params["cfgs"]["items"]["required"] == ["k"]


def test_recorded_params_the_action_no_longer_takes_fail_the_step_not_the_run() -> None:
    """The JSON form is validated into the declared objects as the action starts: a record
    its action no longer takes (a param renamed, a type changed since) fails that step,
    with pydantic's message, as calling the action with it failed before."""
    from reprolam.context import ActionContext
    from reprolam.engine.executors import LocalExecutor

    @action(outputs=["a"])
    def on(*, day: datetime.date = datetime.date(2020, 1, 1)) -> datetime.date:
        return day

    spec = spec_of(on)
    done = LocalExecutor().execute(spec, [], {"day": "2021-02-03"}, ActionContext(seed=0))
    assert done.outputs == {"a": datetime.date(2021, 2, 3)}
    failed = LocalExecutor().execute(spec, [], {"when": "2021-02-03"}, ActionContext(seed=0))
    assert failed.error is not None
    assert failed.error.type == "ValidationError"
    assert "when" in failed.error.message


def test_a_param_named_like_a_pydantic_method_warns_nothing() -> None:
    """`copy: list[int]` printed pydantic's UserWarning ('Field name "copy" ... shadows an
    attribute in parent "BaseModel"') when its model was built: the param works."""
    import warnings

    namespace: dict[str, Any] = {}
    exec("def g(*, copy: list[int] = [1], json: str = 'j'):\n    return 1", namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = spec_of(action(outputs=["a"])(namespace["g"]))  # builds the model
        assert spec.validate_params({"copy": [2]}) == {"copy": [2], "json": "j"}
        assert spec.python_params({"copy": [2], "json": "j"}) == {"copy": [2], "json": "j"}


def test_a_grid_of_python_objects_is_swept_and_recorded_in_json_form(tmp_path: Path) -> None:
    """`sweep(grid={"make.day": [date(2021, 1, 1), ...]})` failed with a TypeError traceback
    ('date is not JSON serializable') as its first fork was recorded."""
    (tmp_path / "typed_flow.py").write_text(_TYPED_FLOW)
    flow = f"{tmp_path / 'typed_flow.py'}:flow"
    with reprolam.open(tmp_path / "store") as rl:
        parent = rl.run(flow, planner="script")
        days = [datetime.date(2021, 1, 1), datetime.date(2021, 1, 2)]
        swept = rl.sweep(parent, at="make", grid={"make.day": days, "make.where": [Path("/y")]})
        assert [p.values for p in swept.points] == [
            {"make.day": "2021-01-01", "make.where": "/y"},
            {"make.day": "2021-01-02", "make.where": "/y"},
        ]
        assert all(point.succeeded for point in swept.points)


def _double(v: int) -> int:
    return v * 2


def _clamp(v: int) -> int:
    return min(v, 10)


_Doubled = Annotated[int, AfterValidator(_double)]
_Clamped = Annotated[int, AfterValidator(_clamp)]


def test_a_validator_that_changes_a_valid_value_is_refused_naming_the_param() -> None:
    """A validator returning `v * 2` had the step record n=10 for --set make.n=5 while the
    action, handed the record validated again, got 20 (and a reproduction 40, blamed on
    nondeterminism); a default the validator skips was recorded 3 and handed as 6. An
    idempotent validator (a clamp) keeps working."""

    @action(outputs=["a"])
    def doubled(*, n: _Doubled = 3) -> int:
        return n

    @action(outputs=["a"])
    def clamped(*, n: _Clamped = 3) -> int:
        return n

    spec = spec_of(doubled)
    for given, recorded, handed in (({"n": 5}, 10, 20), ({}, 3, 6)):
        with pytest.raises(PolicyViolation, match=f"doubled.n: .*{recorded} validates to {handed}"):
            spec.validate_params(given)
    assert spec_of(clamped).validate_params({"n": 50}) == {"n": 10}
    assert spec_of(clamped).python_params({"n": 10}) == {"n": 10}


def test_a_set_param_is_not_taken_for_a_changing_validator() -> None:
    """A set's JSON list comes out in the order the set iterates, which validating the
    list again may change (hash collisions): the same set, not a changed value."""
    import random
    import string

    @action(outputs=["a"])
    def tagged(*, tags: frozenset[str] = frozenset(), nums: frozenset[int] = frozenset()) -> int:
        return len(tags)

    spec = spec_of(tagged)
    rng = random.Random(0)
    for _ in range(50):
        tags = ["".join(rng.choices(string.ascii_letters, k=5)) for _ in range(30)]
        nums = [rng.randint(0, 10**6) for _ in range(30)]
        recorded = spec.validate_params({"tags": tags, "nums": nums})
        assert set(recorded["tags"]) == set(tags)


_SET_PARAMS = """
import json
import pydantic
from reprolam import action, spec_of


class Cfg(pydantic.BaseModel):
    ids: set[int] = set()


@action(outputs=["a"])
def f(*, tags: frozenset[str] = frozenset(), cfg: Cfg = Cfg()) -> int:
    return 1


given = {"tags": ["delta", "alpha", "charlie", "bravo"], "cfg": {"ids": [300, 5, 1000007, 2]}}
print(json.dumps(spec_of(f).validate_params(given)))
print(json.dumps(spec_of(f).json_form({"tags": frozenset(given["tags"])})))
"""


def test_a_set_param_is_recorded_the_same_in_every_process() -> None:
    """pydantic writes a set in its iteration order, which PYTHONHASHSEED changes: one set
    was recorded as ['a', 'd', 'b', 'c'] in one process and ['c', 'b', 'a', 'd'] in the
    next (another step hash; --reuse said params.tags changed)."""
    import json
    import os
    import subprocess
    import sys

    recorded = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", _SET_PARAMS],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        recorded.add(done.stdout.strip())
    assert len(recorded) == 1
    validated, given_as_set = recorded.pop().splitlines()
    assert json.loads(validated) == {
        "tags": ["alpha", "bravo", "charlie", "delta"],
        "cfg": {"ids": [2, 5, 300, 1000007]},
    }
    assert json.loads(given_as_set) == {"tags": ["alpha", "bravo", "charlie", "delta"]}
