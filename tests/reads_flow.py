"""Actions that read files they are not handed, for ``tests/test_reads_*.py``.

Paths come from ``PATHS`` (set per test): the tests' data live outside the OS temp dir,
which each test moves into its own ``tmp_path/scratch`` (reads inside it are not recorded).
"""

from __future__ import annotations

import glob
import linecache
import os
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any

import reprolam
from reprolam import Policy, action, workflow
from reprolam.actions import spec_of

PATHS: dict[str, Any] = {}


def run_one(
    tmp_path: Path, fn: Any, *, effects: str = "warn", reuse: bool = False, **params: Any
) -> Any:
    """Run action ``fn`` alone (a one-action workflow) in the store ``tmp_path/store``."""
    flow = workflow(f"one_{fn.__name__}", [fn], outputs=list(spec_of(fn).outputs))
    with reprolam.open(tmp_path / "store") as rl:
        return rl.run(
            flow,
            planner="rules",
            set={f"{fn.__name__}.{k}": v for k, v in params.items()},
            policy=Policy(effects=effects, max_failures=1),
            reuse=reuse,
        )


def cache_advice(step: Any) -> dict[str, Any]:
    """The cache's advice recorded on a step (it must have one)."""
    cache = step.proposal.get("cache")
    assert isinstance(cache, dict)
    return cache


def use_private_tempdir(tmp_path: Path, monkeypatch: Any) -> Path:
    """Make ``tmp_path/scratch`` the temp dir; returns ``tmp_path/data`` (outside it)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    data = tmp_path / "data"
    data.mkdir()
    PATHS.clear()
    PATHS["raw"] = data / "raw.csv"
    PATHS["raw"].write_text("1\n2\n3\n")
    return data


@action(outputs=["rows"])
def load() -> list[int]:
    with open(PATHS["raw"]) as f:
        return [int(x) for x in f.read().split()]


@action(outputs=["total"])
def total(rows: list[int]) -> int:
    return sum(rows)


FLOW = workflow("reads", [load, total], outputs=["total"])


@action(outputs=["rows"])
def load_noisy() -> list[float]:
    """Reads the file, and draws from the global RNG: it diverges whatever the file holds."""
    import random

    return [int(x) + random.random() for x in Path(PATHS["raw"]).read_text().split()]


NOISY_FLOW = workflow("reads_noisy", [load_noisy], outputs=["rows"])


@action(outputs=["rows"])
def load_from(*, path: str) -> list[int]:
    """Reads the file its param names: a declared read."""
    return [int(x) for x in Path(path).read_text().split()]


@action(outputs=["rows"])
def load_in(*, folder: str) -> list[int]:
    """Reads a file in the directory its param names: a declared read too."""
    return [int(x) for x in (Path(folder) / "raw.csv").read_text().split()]


@action(outputs=["rows"])
def parse(table: Path) -> list[int]:
    """Reads the file input it is handed: the fix for ``load``."""
    return [int(x) for x in table.read_text().split()]


INPUT_FLOW = workflow("reads_input", [parse, total], outputs=["total"], inputs=["table"])


@action(outputs=["n"])
def reads_every_csv() -> int:
    folder = Path(PATHS["raw"]).parent
    return sum(len((folder / name).read_text()) for name in sorted(os.listdir(folder)))


@action(outputs=["names"])
def lists_directory() -> list[str]:
    return sorted(p.name for p in Path(PATHS["raw"]).parent.glob("*.csv"))


@action(outputs=["n"])
def reads_what_it_wrote() -> int:
    out = Path(PATHS["raw"]).parent / "own.txt"
    out.write_text("mine")
    return len(out.read_text())


@action(outputs=["n"])
def reads_temp_and_installed_files() -> int:
    scratch = Path(tempfile.gettempdir()) / "scratch.txt"
    scratch.write_text("temporary")
    import json

    import blake3

    read = scratch.read_text() + Path(json.__file__).read_text()  # the standard library
    read += Path(blake3.__file__).read_text(errors="replace")  # site-packages
    return len(read)


@action(outputs=["n"])
def imports_a_module_reading_data() -> int:
    """Imports a module (outside the temp dir) that reads a data file when imported."""
    import importlib

    module = importlib.import_module(PATHS["module"])
    return int(module.VALUE)


@action(outputs=["found"])
def looks_for_a_file() -> bool:
    try:
        with open(PATHS["optional"]):
            return True
    except FileNotFoundError:
        return False


@action(outputs=["found"])
def checks_for_a_file() -> int:
    """Looks before it opens: os.path.exists, and pathlib's is_file, raise no audit event."""
    if os.path.exists(PATHS["optional"]) and Path(PATHS["optional"]).is_file():
        with open(PATHS["optional"]) as f:
            return len(f.read())
    return -1


@action(outputs=["found"])
def globs_for_a_file() -> int:
    """``glob`` of a name without a wildcard: a check for the file, no directory listing."""
    optional = Path(PATHS["optional"])
    return len(glob.glob(str(optional))) + len(list(optional.parent.glob(optional.name)))


@action(outputs=["line"])
def reads_a_line() -> str:
    """Reads data through ``linecache`` (which tracebacks read source lines with)."""
    return linecache.getline(str(PATHS["raw"]), 2)


@action(outputs=["n"])
def shows_its_own_code() -> int:
    """Formats a traceback and warns: source lines read to show code, not data."""
    try:
        int("x")
    except ValueError:
        text = traceback.format_exc()
    warnings.warn("shown with its source line", stacklevel=1)
    return len(text)


@action(outputs=["n"], determinism="external", side_effects=["writes its report"])
def makes_its_folder() -> int:
    """Looks for its output folder and makes it: a declared write, no read."""
    folder = PATHS["report"]
    if not os.path.exists(folder):
        os.makedirs(folder)
    report = Path(folder) / "report.txt"
    if report.exists():  # an old one: replaced, never read
        report.unlink()
    report.write_text("done")
    return 1


@action(outputs=["found"])
def checks_no_paths() -> list[bool]:
    """Checks that name no file: a NUL in the name, an empty name, a descriptor number."""
    return [os.path.exists("a\0b"), os.path.lexists(""), os.path.isfile(10_000)]


@action(outputs=["n"])
def reads_a_fifo() -> int:
    fd = os.open(PATHS["fifo"], os.O_RDONLY | os.O_NONBLOCK)
    os.close(fd)
    return 1


@action(outputs=["n"])
def reads_its_own_scratch_dir() -> int:
    """Makes a directory in the temp dir, writes into it, lists it and reads it back."""
    folder = Path(tempfile.mkdtemp())
    (folder / "part.txt").write_text("scratch")
    return sum(len((folder / name).read_text()) for name in os.listdir(folder))


@action(outputs=["n"])
def reads_a_file_in_the_temp_dir() -> int:
    """Reads data that was in the temp dir before it ran (a download, a test's tmp_path)."""
    return len(Path(PATHS["in_temp"]).read_text())


@action(outputs=["n"], side_effects=("filesystem",))
def bump_counter() -> int:
    """Reads a counter and writes it back incremented: what it read is gone when it returns."""
    counter = Path(PATHS["raw"])
    n = len(counter.read_text().split())
    counter.write_text("1\n" * (n + 1))
    return n


@action(outputs=["names"], side_effects=("filesystem",))
def lists_then_adds() -> list[str]:
    """Lists its folder, then adds a file to it: the listing it read is not the one it left."""
    folder = Path(PATHS["raw"]).parent
    names = sorted(os.listdir(folder))
    (folder / f"made-{len(names)}.txt").write_text("x")
    return names


@action(outputs=["y"])
def imports_a_plugin(*, plugin: str) -> int:
    """Imports a module of the user's by name: code the static walk cannot reach."""
    import importlib

    importlib.import_module("json.tool")  # the standard library: the environment
    return int(importlib.import_module(plugin).VALUE)


@action(outputs=["rows"])
def loads_in_threads() -> list[int]:
    """Reads the file in a thread pool it starts (a parallel loader)."""
    from concurrent.futures import ThreadPoolExecutor

    def read(path: Path) -> list[int]:
        return [int(x) for x in path.read_text().split()]

    with ThreadPoolExecutor(max_workers=2) as pool:
        return [n for rows in pool.map(read, [Path(PATHS["raw"])]) for n in rows]


def number_in(path: str, i: int) -> int:
    """The ``i``-th number in the file at ``path`` (for worker processes: picklable by name)."""
    return int(Path(path).read_text().split()[i])


@action(outputs=["rows"])
def reads_standard_input() -> list[int]:
    import sys

    return [int(line) for line in sys.stdin]


@action(outputs=["found"])
def asks_for_access() -> bool:
    """Looks with os.access before it would open (no audit event either)."""
    return os.access(PATHS["optional"], os.R_OK)


@action(outputs=["n"], side_effects=["bumps its counter"])
def bumps_a_counter() -> int:
    """Reads and rewrites a file through one r+ open."""
    with open(PATHS["raw"], "r+") as f:
        count = len(f.read())
        f.write("4\n")
    return count
