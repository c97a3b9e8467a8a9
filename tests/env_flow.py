"""Actions that read environment variables themselves, for ``tests/test_env_reads.py``."""

from __future__ import annotations

import os
import string
from os import environ as settings

from reprolam import action, workflow

read_setting = os.getenv

SCALE = "REPROLAM_TEST_SCALE"  # the variable the tests set, change and unset


def scale() -> float:
    """A helper of the user's that reads the variable (os.environ.get)."""
    return float(os.environ.get(SCALE, "1"))


@action(outputs=["x"])
def scaled() -> float:
    """Reads SCALE through a helper; what the stdlib and libraries read is not its data."""
    os.path.expanduser("~")  # the stdlib reads HOME
    os.environ["REPROLAM_TEST_OWN"] = "1"  # set by the action: reading it back is no read
    assert os.getenv("REPROLAM_TEST_OWN") == "1"
    return 10 * scale()


@action(outputs=["x"])
def reads_a_secret() -> bool:
    return "REPROLAM_TEST_API_KEY" in os.environ


@action(outputs=["x"])
def reads_through_aliases() -> float:
    """``os.environ`` and ``os.getenv`` bound under other names at module level."""
    return float(settings.get(SCALE, "1")) + float(read_setting("REPROLAM_TEST_OTHER", "0"))


FLOW = workflow("env_reads", [scaled], outputs=["x"])
SECRET_FLOW = workflow("env_secret", [reads_a_secret], outputs=["x"])


@action(outputs=["x"])
def reads_in_comprehensions() -> float:
    """Looks variables up in a comprehension and a generator expression (their own frames
    before Python 3.12), iterating ``os.environ.items()``."""
    chosen = {name: value for name, value in os.environ.items() if name == SCALE}
    other = next((value for name, value in os.environ.items() if name == SCALE), "1")
    return float(chosen.get(SCALE, "1")) + float(other)


MANY = [f"REPROLAM_TEST_MANY_{i}" for i in range(120)]  # more than the effects listed


@action(outputs=["x"])
def reads_many_variables() -> float:
    """Reads 120 variables, then SCALE: the effects listed end before it."""
    total = sum(len(os.environ.get(name, "")) for name in MANY)
    return total + float(os.environ.get(SCALE, "1"))


@action(outputs=["x"])
def copies_the_environment() -> float:
    """Sets a variable of its own, then copies the whole environment ({**os.environ})."""
    os.environ["REPROLAM_TEST_OWN"] = "1"
    copied = {**os.environ}
    return float(copied.get(SCALE, "1")) + len([k for k in os.environ if k == SCALE])


@action(outputs=["x"])
def reads_bytes() -> float:
    """Looks the variable up in ``os.environb``."""
    return float(os.environb.get(SCALE.encode(), b"1"))


COPY_FLOW = workflow("env_copy", [copies_the_environment], outputs=["x"])


@action(outputs=["x"])
def expands_a_path() -> str:
    """Builds a path from a variable with os.path.expandvars (the stdlib looks it up)."""
    return os.path.expandvars(f"${SCALE}/raw.csv")


@action(outputs=["x"])
def leaves_a_variable_set() -> int:
    """Sets a variable for the steps after it (and one it puts back as it was)."""
    os.environ["REPROLAM_TEST_LEFT"] = "1"
    os.environ["REPROLAM_TEST_PUT_BACK"] = "2"
    del os.environ["REPROLAM_TEST_PUT_BACK"]
    return 1


@action(outputs=["x"])
def hands_the_environment_to_libraries() -> str:
    """Hands ``os.environ`` to the standard library and to pandas, which look it up."""
    import pandas as pd

    text = string.Template(f"${SCALE}").substitute(os.environ)
    return f"{text}:{len(pd.Series(os.environ)) > 0}"
