"""Simple params are checked without pydantic, with exactly pydantic's verdicts and values."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from typing import Annotated, Any, Literal

import pydantic
import pytest

from reprolam import Field, action, spec_of
from reprolam.actions import ActionSpec
from reprolam.errors import ActionSpecError, PolicyViolation


@action(outputs=["y"])
def many(
    *,
    req: float,
    f: float = 1.0,
    bf: Annotated[float, Field(gt=0, le=10, description="bounded")] = 1.0,
    i: int = 3,
    bi: Annotated[int, Field(ge=1, lt=100)] = 5,
    s: str = "a",
    b: bool = False,
    choice: Literal["x", "y"] = "x",
    n: Literal[1, 2, 3] = 1,
) -> int:
    """Every kind of simple param."""
    return 0


@action(outputs=["y"])
def many_pydantic(
    *,
    req: float,
    f: float = 1.0,
    bf: Annotated[float, pydantic.Field(gt=0, le=10, description="bounded")] = 1.0,
    i: int = 3,
    bi: Annotated[int, pydantic.Field(ge=1, lt=100)] = 5,
    s: str = "a",
    b: bool = False,
    choice: Literal["x", "y"] = "x",
    n: Literal[1, 2, 3] = 1,
) -> int:
    """Every kind of simple param."""
    return 0


VALUES: list[Any] = [
    0,
    1,
    -1,
    3,
    99,
    100,
    2**53,
    2**53 + 1,
    10**400,
    0.0,
    -0.0,
    1.5,
    3.0,
    10.0,
    1e300,
    float("inf"),
    float("nan"),
    True,
    False,
    "1",
    "1.5",
    "x",
    "y",
    "",
    None,
    [],
    {"a": 1},
]


def outcome(spec: ActionSpec, call: str, params: dict[str, Any], **options: Any) -> str:
    """What a check returns or raises, as text (so nan equals nan)."""
    try:
        return repr(getattr(spec, call)(params, **options))
    except PolicyViolation as exc:
        return f"refused: {exc}"


def test_the_simple_path_is_taken() -> None:
    assert spec_of(many).simple_params is not None
    assert spec_of(many_pydantic).simple_params is None  # pydantic's Field: its model


@pytest.mark.parametrize("name", ["f", "bf", "i", "bi", "s", "b", "choice", "n", "req"])
def test_every_value_gets_the_verdict_and_value_pydantic_gives(name: str) -> None:
    light = spec_of(many)
    pure = replace(light, simple_params=None)  # the same declaration, pydantic only
    for value in VALUES:
        params = {"req": 1.0, name: value}
        assert outcome(light, "validate_params", params) == outcome(
            pure, "validate_params", params
        ), (name, value)
        for strict in (False, True):
            for partial in (False, True):
                given = {name: value}
                options = {"strict": strict, "partial": partial}
                assert outcome(light, "param_problems", given, **options) == outcome(
                    pure, "param_problems", given, **options
                ), (name, value, options)


def test_missing_and_unknown_params_are_refused_as_before() -> None:
    light = spec_of(many)
    pure = replace(light, simple_params=None)
    for params in ({}, {"f": 2.0}, {"req": 1.0, "nope": 1}):
        assert outcome(light, "validate_params", params) == outcome(pure, "validate_params", params)
    with pytest.raises(PolicyViolation, match="req"):
        light.validate_params({})


def test_reprolam_field_gives_pydantic_fields_schema() -> None:
    assert spec_of(many).params_schema() == spec_of(many_pydantic).params_schema()
    assert spec_of(many).describe()["params"]["bf"]["description"] == "bounded"


POSITIVE = Field(gt=0)
POSITIVE_PYDANTIC = pydantic.Field(gt=0)


def test_a_default_outside_its_bounds_fails_at_declaration_as_with_pydantic() -> None:
    def bad(*, x: Annotated[float, POSITIVE] = -1.0) -> int:
        """Its default violates its bound."""
        return 0

    def bad_pydantic(*, x: Annotated[float, POSITIVE_PYDANTIC] = -1.0) -> int:
        """Its default violates its bound."""
        return 0

    messages = []
    for fn in (bad, bad_pydantic):
        with pytest.raises(ActionSpecError) as caught:
            action(outputs=["y"], name="bad")(fn)
        messages.append(str(caught.value).replace("bad_pydantic", "bad"))
    assert messages[0] == messages[1]
    assert "the default of param 'x' (-1.0) violates its own declaration" in messages[0]


def test_declaring_and_validating_simple_params_imports_no_pydantic() -> None:
    code = (
        "import sys\n"
        "from reprolam.workflows.breast_cancer import train_model\n"
        "from reprolam.actions import spec_of\n"
        "spec = spec_of(train_model)\n"
        "assert spec.validate_params({'C': 0.5}) == {'C': 0.5, 'max_iter': 1000}\n"
        "assert spec.param_problems({'C': 2.0}, partial=True, strict=True) == []\n"
        "print('pydantic' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "False"
