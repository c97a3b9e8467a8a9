"""Define a recorded workflow again from the source stored with its run.

For a workflow defined interactively (a notebook cell, a string ``exec``'d in a fresh
module), the kernel that held it is gone; its run stored the source of every action and of
the user code they reach, the imports their module had, and the module constants they read
(``engine.code_capture``). This rebuilds a module under the same name from those — never
re-running the cells' other statements — and the workflow from its recorded declaration.
A module that was a file is run again from its stored text when it cannot be imported.

This executes code read from the store, so it is only done for a trusted store.
"""

from __future__ import annotations

import importlib
import linecache
import types
from typing import Any

from reprolam.errors import WorkflowError
from reprolam.history.code_diff import code_manifest
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import RunRecord
from reprolam.trace.stored_json import load_json
from reprolam.workflows.registry import Workflow, workflow


def stored_workflow(store: TraceStore, run: RunRecord) -> Workflow | None:
    """The run's workflow rebuilt from its stored source, or None when it stored none."""
    manifest = code_manifest(store, load_json(store, run.environment))
    declared = manifest.get("workflow")
    if not isinstance(declared, dict) or not declared.get("actions"):
        return None
    units: dict[str, Any] = manifest.get("units", {})
    namespaces: dict[str, dict[str, Any]] = {}
    for module in sorted({units[k]["module"] for k in declared["actions"] if k in units}):
        namespaces[module] = _namespace(store, manifest, module, run)
    actions = []
    for key in declared["actions"]:
        unit = units.get(key, {})
        target: Any = namespaces.get(unit.get("module", ""), {})
        for part in str(unit.get("qualname", "")).split("."):
            target = target.get(part) if isinstance(target, dict) else getattr(target, part, None)
        if target is None:
            raise WorkflowError(
                f"the source stored with run {run.id} does not define {key}: "
                "it cannot be rebuilt from the store",
                option="workflow",
                hint="pass {workflow=MODULE:ATTR} or {workflow=PATH.py:ATTR}",
            )
        actions.append(target)
    return workflow(
        declared["name"],
        actions,
        outputs=declared["outputs"],
        goal=declared.get("goal", ""),
        description=declared.get("description", ""),
        metrics=declared.get("metrics"),
    )


def _namespace(
    store: TraceStore, manifest: dict[str, Any], name: str, run: RunRecord
) -> dict[str, Any]:
    record = manifest.get("modules", {}).get(name, {})
    if not record.get("interactive"):
        try:
            return vars(importlib.import_module(name))
        except Exception:  # gone or broken: run the stored file text instead
            pass
    module = types.ModuleType(name)
    scope = module.__dict__
    for alias, ref in record.get("bindings", {}).items():
        value = _resolve(ref)
        if value is not None:
            scope[alias] = value
    for key, value in manifest.get("constants", {}).items():
        owner, _, const = key.partition(":")
        if owner == name:
            scope[const] = tuple(value) if isinstance(value, list) else value
    if not record.get("interactive"):
        for file, key in record.get("sources", {}).items():
            text = load_json_text(store, key)
            _remember(file, text)
            try:
                exec(compile(text, file, "exec"), scope)
            except Exception as exc:  # an import it makes fails here (pkg.flows: from . import)
                raise WorkflowError(
                    f"the source of module {name} stored with run {run.id} cannot run again "
                    f"here: {type(exc).__name__}: {exc}",
                    option="workflow",
                    hint="make what it imports importable, or pass {workflow=MODULE:ATTR} "
                    "or {workflow=PATH.py:ATTR}",
                ) from None
        return scope
    _define_units(manifest, name, scope, run)
    return scope


def _define_units(
    manifest: dict[str, Any], module: str, scope: dict[str, Any], run: RunRecord
) -> None:
    """Define each top-level function and class again, in an order their decorators allow."""
    units = [
        u
        for u in manifest.get("units", {}).values()
        if u.get("module") == module and "." not in u.get("qualname", ".") and u.get("source")
    ]
    filename = f"<reprolam stored source {module} of run {run.id}>"
    text, offsets = "", []
    for unit in units:
        offsets.append(text.count("\n"))
        text += unit["source"].rstrip("\n") + "\n\n"
    _remember(filename, text)
    pending = list(zip(units, offsets, strict=True))
    while pending:
        failed = []
        for unit, offset in pending:
            code = compile("\n" * offset + unit["source"], filename, "exec")
            try:
                exec(code, scope)
            except NameError:  # it needs a definition still to come
                failed.append((unit, offset))
        if len(failed) == len(pending):
            names = ", ".join(u["qualname"] for u, _ in failed)
            raise WorkflowError(
                f"the source stored with run {run.id} cannot define {names} again "
                "(a name it needs was not recorded)",
                option="workflow",
                hint="pass {workflow=MODULE:ATTR} or {workflow=PATH.py:ATTR}",
            )
        pending = failed


def _resolve(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception:
        return None
    for part in filter(None, attr.split(".")):
        target = getattr(target, part, None)
    return target


def _remember(filename: str, text: str) -> None:
    """Make the source readable by ``inspect`` (as IPython does), so it is captured again."""
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)


def load_json_text(store: TraceStore, key: str) -> str:
    from reprolam.codecs import default_serializer

    record, data = store.get_artifact(key)
    value = default_serializer().loads_typed(record.codec, data)
    if not isinstance(value, str):
        raise WorkflowError(f"stored source {key} is not text", option="workflow")
    return value
