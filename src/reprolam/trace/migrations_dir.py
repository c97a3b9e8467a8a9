"""The packaged, numbered, append-only schema migrations of each SQL dialect."""

from __future__ import annotations

import re
from importlib import resources

from reprolam.errors import StoreError
from reprolam.trace.contract import SCHEMA_VERSION

_NAME = re.compile(r"(\d{4})_\w+\.sql")
FOLDERS = {"sqlite": "migrations", "postgresql": "migrations_pg"}


def packaged_migrations(dialect: str) -> list[tuple[int, str]]:
    """``(number, script)`` for every migration of ``dialect``: exactly 1..SCHEMA_VERSION."""
    folder = resources.files("reprolam.trace").joinpath(FOLDERS[dialect])
    found = sorted(
        (int(match[1]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if (match := _NAME.fullmatch(entry.name))
    )
    numbers = [number for number, _ in found]
    if numbers != list(range(1, SCHEMA_VERSION + 1)):
        raise StoreError(
            f"reprolam's {dialect} schema migrations are incomplete (found {numbers}, "
            f"expected 1..{SCHEMA_VERSION}): reinstall reprolam"
        )
    return found
