"""Turning an action's returned values into recorded artifacts (values, files, directories).

Kept out of the loop: a value goes through the serializer (``RunLoop._keep``); a ``Path``
inside the engine's workdir area is a file or directory the action produced, stored by
``reprolam.files`` and recorded as its manifest. Any failure becomes one line naming the
action, the output, the value's type and the fix, and fails the step (never the run's
record: what was recorded stays recorded).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from reprolam import files
from reprolam.codecs._files import DirManifest, FileManifest
from reprolam.context import ActionContext
from reprolam.errors import CodecError, ReprolamError

if TYPE_CHECKING:
    from reprolam.codecs import Serializer
    from reprolam.engine.loop import RunLoop

FILE_CODECS = frozenset({"file", "dir"})


class OutputError(ReprolamError):
    """An action's output cannot be recorded."""


def encoded_outputs(
    serializer: Serializer, action: str, outputs: Mapping[str, Any]
) -> list[tuple[str, str, bytes]]:
    """Each output's name, codec tag and bytes, encoded in a worker; ``OutputError`` names
    the first the codecs refuse, as recording it in-process does (``keep_outputs``)."""
    encoded = []
    for name, value in outputs.items():
        try:
            encoded.append((name, *serializer.dumps_typed(value)))
        except CodecError as exc:
            raise OutputError(f"action {action!r}, output {name!r}: {exc}") from exc
    return encoded


def workdir_root(loop: RunLoop) -> str:
    """Where this run's action workdirs go (computed once per run: it is on the hot path)."""
    cached: str | None = loop.__dict__.get("_workdir_root")
    if cached is None:
        cached = loop.__dict__["_workdir_root"] = str(files.files_root(loop.store) / "work")
    return cached


def _in_workdir(value: Any, root: str) -> Path | None:
    if not isinstance(value, PurePath):
        return None
    path = Path(value).absolute()
    return path if path.is_relative_to(root) and path != Path(root) else None


def keep_outputs(
    loop: RunLoop, action: str, outputs: Mapping[str, Any], ctx: ActionContext
) -> dict[str, str]:
    """Record every output; raises ``OutputError`` naming the first that cannot be."""
    root = workdir_root(loop)
    # Paths into a workdir can only come from an action that asked for one: here, or in a
    # worker (whose context this is not, so it cannot say)
    wrote_files = ctx.used_workdir is not None or loop.executor.name != "local"
    kept: dict[str, str] = {}
    # moved into the store once every output is stored: one file may be two outputs (or
    # inside a directory that is another), so the first must not move it from the second
    stored: list[tuple[str, files.Manifest, Path]] = []
    try:
        for name, value in outputs.items():
            try:
                path = _in_workdir(value, root)
                if path is None and wrote_files:
                    _refuse_nested_workdir_paths(value, root)
                kept[name] = (
                    loop._keep(value) if path is None else _keep_path(loop, path, name, ctx, stored)
                )
            except (CodecError, files.FileArtifactError) as exc:
                raise OutputError(f"action {action!r}, output {name!r}: {exc}") from exc
        for key, manifest, path in stored:
            loop.values[key] = files.adopt(loop.store, manifest, key, path)
            loop.watched[key] = files.KeptCopy(loop.store, manifest, key)
    finally:
        if ctx.used_workdir is not None:
            files.remove_tree(ctx.used_workdir)
    return kept


def note_returned_paths(effects: list[Any], outputs: Mapping[str, Any]) -> list[Any]:
    """``effects`` with each file write outside ``ctx.workdir`` whose path the action also
    returned marked with that output's name: the output records the path only, not the
    file's content, and ``show`` and ``audit`` say so (``describe_effect``)."""
    returned = {
        str(Path(value).absolute()): name
        for name, value in outputs.items()
        if isinstance(value, PurePath)
    }
    if not returned:
        return effects
    return [
        {**effect, "output": returned[effect["target"]]}
        if isinstance(effect, dict)
        and effect.get("kind") == "file_write"
        and effect.get("target") in returned
        else effect
        for effect in effects
    ]


def _refuse_nested_workdir_paths(value: Any, root: str) -> None:
    """A path into the workdir inside a list, tuple, set or dict would be recorded as a path
    only: the workdir is removed when the step ends, so the file would be lost."""
    queue, seen = deque([value]), 0
    while queue and seen < _NESTED_PATHS_LOOKED_AT:
        item = queue.popleft()
        seen += 1
        if isinstance(item, dict):
            queue.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            queue.extend(item)
        elif item is not value and _in_workdir(item, root) is not None:
            raise files.FileArtifactError(
                f"it holds {item}, a path inside ctx.workdir, within a {type(value).__name__}: "
                "the workdir is removed when the step ends, so that file would be lost and "
                "only its path recorded; return each file as an output of its own, or write "
                "them into one directory under ctx.workdir and return the directory"
            )


_NESTED_PATHS_LOOKED_AT = 100_000  # values looked at for workdir paths (a guard, not a limit)


def _keep_path(
    loop: RunLoop,
    path: Path,
    output: str,
    ctx: ActionContext,
    stored: list[tuple[str, files.Manifest, Path]],
) -> str:
    if not path.exists():
        raise files.FileArtifactError(
            f"{path} does not exist: write the file into ctx.workdir before returning its path"
        )
    manifest = files.store_path(loop.store, path)
    if ctx.used_workdir is not None and path == ctx.used_workdir.absolute():
        # `return ctx.workdir`: its own name is random (mkdtemp), and a manifest's name is
        # part of its bytes; the directory is named after its output, the same every run
        manifest = replace(manifest, name=output)
    key = loop._keep(manifest)
    stored.append((key, manifest, path))
    return key


def load_file(loop_store: Any, codec: str, value: Any, key: str) -> Any:
    """The value an action receives for a stored artifact: a read-only path for files."""
    if codec in FILE_CODECS and isinstance(value, FileManifest | DirManifest):
        return files.materialize(loop_store, value, key)
    return value
