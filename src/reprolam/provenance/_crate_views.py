"""What a crate tells its readers, checked on import against the records it carries.

``import`` rebuilds a run from ``reprolam/trace.json`` and the artifact files, each verified
by its digest. The rest of the crate is views of those records for people and tools: the
RO-Crate metadata (``ro-crate-metadata.json``), ``workflow.json``, the environment
snapshots, the open-format copies of artifacts (``artifacts/open``), the README. An export
writes them from the records alone, so import writes them again from the verified records
(in memory, artifact bytes left out) and compares: a crate whose views were edited, or
lost, is refused like one whose records were, instead of being imported while it says
something else to every other reader.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reprolam.errors import IntegrityError
from reprolam.provenance._crate_terms import CHOSEN
from reprolam.trace.contract import TraceStore

METADATA = "ro-crate-metadata.json"


def check_views(
    read: Callable[[str, int | None], bytes], path: Path, store: TraceStore, run_id: str
) -> None:
    """``IntegrityError`` naming the first view of the crate at ``path`` (its files read by
    ``read``: at most ``limit + 1`` bytes of a file, with a limit) that is not what an export
    of ``run_id`` from ``store`` (the crate's verified records) writes."""
    from reprolam.provenance._model import build_run_graph
    from reprolam.provenance._rocrate import _Builder

    try:
        found = json.loads(read(METADATA, None))
        entities = {e["@id"]: e for e in found["@graph"]}
        root = entities["./"]
    except (KeyError, FileNotFoundError, IsADirectoryError, TypeError, ValueError) as exc:
        raise _altered(path, f"{METADATA} is missing or unreadable ({exc})") from None
    crate = _Builder(store, build_run_graph(store, run_id), None, _license(entities, root)).build()
    crate.root_dataset["datePublished"] = root.get("datePublished")  # when it was exported
    expected = {e["@id"]: e for e in crate.metadata.generate()["@graph"]}
    if expected != entities:
        raise _altered(path, f"{METADATA} {_difference(expected, entities)}")
    for entity in crate.data_entities:
        source = getattr(entity, "source", None)
        if not isinstance(source, io.BytesIO):
            continue  # an artifact's bytes: verified against its digest already
        name = entity.id
        try:
            held = read(name, len(source.getvalue()))  # a bigger file: not read whole
        except (KeyError, FileNotFoundError, IsADirectoryError):
            raise _altered(path, f"{name} is missing") from None
        if held != source.getvalue():
            raise _altered(path, f"{name} is not what the crate's records give")


def _license(entities: dict[str, Any], root: dict[str, Any]) -> str | None:
    """The license the exporter chose (None: the workflow's or the default, as at export)."""
    ref = root.get("license")
    entity = entities.get(str(ref.get("@id"))) if isinstance(ref, dict) else None
    if isinstance(entity, dict) and entity.get("description") == f"license {CHOSEN}":
        return str(entity.get("name"))
    return None


def _difference(expected: dict[str, Any], found: dict[str, Any]) -> str:
    missing = sorted(set(expected) - set(found))
    if missing:
        return f"lacks entity {missing[0]!r}"
    extra = sorted(set(found) - set(expected))
    if extra:
        return f"has entity {extra[0]!r}, which the crate's records do not give"
    changed = next(key for key in sorted(expected) if expected[key] != found[key])
    fields = sorted(
        k for k in set(expected[changed]) | set(found[changed])
        if expected[changed].get(k) != found[changed].get(k)
    )  # fmt: skip
    return f"entity {changed!r} differs from the crate's records in {', '.join(fields)}"


def _altered(path: Path, what: str) -> IntegrityError:
    """The views are compared with what this version writes: a crate another version of
    reprolam exported (one that described the same records otherwise) differs too."""
    from reprolam import __version__

    return IntegrityError(
        f"crate {str(path)!r}: {what}: the crate was altered after it was exported, or was "
        f"exported by another version of reprolam, which described its records otherwise (its "
        f"records verify, but what it tells other readers is not what reprolam {__version__} "
        "writes from them); nothing was imported: export the run again with this version"
    )
