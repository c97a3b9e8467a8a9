"""Workflows: a named action space plus a goal, found by name (entry points) or by module path."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from reprolam.actions import ActionSpace, spec_of
from reprolam.errors import ActionSpecError, ConfigError, WorkflowError

ENTRY_POINT_GROUP = "reprolam.workflows"
DEFAULT_WORKFLOW = "breast-cancer"
DEFAULT_METRICS = "metrics"  # the output taken as headline metrics unless one is declared
# Bundled workflows, found without scanning every installed distribution's entry points
# (~20 ms at start-up); the entry points declare the same names for other tools.
BUNDLED = {"breast-cancer": "reprolam.workflows.breast_cancer:workflow"}


@dataclass(frozen=True)
class Workflow:
    """A named action space and the outputs that make a run complete."""

    name: str
    actions: ActionSpace
    outputs: tuple[str, ...]
    goal: str = ""  # what the run should achieve, in words (for LLM planners and docs)
    description: str = ""
    source: str = field(default="", compare=False)  # how to load it again ("pkg.mod:attr")
    # the output holding the headline metrics (a dict of scalars); default: one named metrics
    metrics: str | None = None
    inputs: tuple[str, ...] = ()  # external data no action produces (run with --input NAME=PATH)
    license: str = ""  # SPDX id or URL of what its runs produce (exports default to it)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            # recorded with every run: '' loaded the default workflow in its place
            raise WorkflowError(
                f"workflow name {self.name!r}: a workflow needs a name, recorded with its runs",
                hint="e.g. workflow('sampling', [...], outputs=[...])",
            )
        produced = {o for spec in self.actions for o in spec.outputs} | set(self.inputs)
        missing = [o for o in self.outputs if o not in produced]
        if not self.outputs or missing:
            raise WorkflowError(
                f"workflow {self.name!r}: outputs {missing or '(none)'} are produced by no action; "
                f"declare outputs among {sorted(produced)}"
            )
        for spec in self.actions:
            orphans = [i for i in spec.inputs if i not in produced]
            if orphans:
                raise WorkflowError(
                    f"workflow {self.name!r}: input(s) {orphans} of {spec.name} are produced by "
                    "no action; add an action that outputs them, or declare them as the "
                    "workflow's external {inputs}"
                )
        if self.metrics is None and DEFAULT_METRICS in self.outputs:
            object.__setattr__(self, "metrics", DEFAULT_METRICS)  # frozen: set once, here
        if self.metrics is not None and self.metrics not in self.outputs:
            raise WorkflowError(
                f"workflow {self.name!r}: metrics={self.metrics!r} is not one of its outputs "
                f"{list(self.outputs)}; name the output that holds the headline metrics"
            )


def workflow(
    name: str,
    actions: Iterable[Callable[..., Any]],
    *,
    outputs: Iterable[str],
    goal: str = "",
    description: str = "",
    metrics: str | None = None,
    inputs: Iterable[str] = (),
    license: str = "",
) -> Workflow:
    """Build a workflow from ``@action`` functions (the usual way to declare one).

    ``metrics`` names the output holding the run's headline metrics (a dict of scalars),
    shown by ``runs``, ``show``, ``diff`` and ``compare`` and optimised by ``sweep``; by
    default, an output named ``metrics``. ``inputs`` names external data
    the workflow reads without producing it: each is given per run (``--input NAME=PATH``)
    and recorded as an artifact with its digest.
    """
    for option, names in (("outputs", outputs), ("inputs", inputs)):
        if isinstance(names, str):  # tuple('yz') would be the outputs 'y' and 'z'
            raise WorkflowError(
                f"workflow {name!r}: {option} must be a list of names, got {names!r}",
                hint=f"e.g. workflow({name!r}, [...], {option}=[{names!r}])",
            )
    return Workflow(
        name=name,
        actions=ActionSpace(actions),
        outputs=tuple(outputs),
        goal=goal,
        description=description,
        metrics=metrics,
        inputs=tuple(inputs),
        license=license,
    )


def available_workflows() -> dict[str, str]:
    """Installed workflows: name -> ``module:attr`` (nothing is imported)."""
    return {**BUNDLED, **{ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}}


def load_workflow(ref: str | Workflow | None = None) -> Workflow:
    """A workflow by installed name, ``package.module:attr`` or ``path/to/file.py[:attr]``."""
    if isinstance(ref, Workflow):
        return ref if ref.source else replace(ref, source=_where_defined(ref))
    if isinstance(ref, os.PathLike):
        ref = os.fspath(ref)  # a workflow file
    if ref is not None and not isinstance(ref, str):
        raise WorkflowError(
            f"workflow {ref!r} is a {type(ref).__name__}, not a workflow",
            option="workflow",
            hint="give a Workflow (reprolam.workflow(...)), an installed workflow's name, "
            "'package.module:attr' or 'path/to/file.py:attr'",
        )
    ref = ref or DEFAULT_WORKFLOW
    if ref in BUNDLED:
        return replace(_resolve(BUNDLED[ref], ref), source=ref)
    installed = available_workflows()
    if ref in installed:
        return replace(_resolve(installed[ref], ref), source=ref)
    if ":" in ref or ref.endswith(".py"):
        if ref.partition(":")[0].endswith(".py"):
            path, _, attr = ref.partition(":")
            ref = f"{Path(path).resolve()}:{attr}" if attr else str(Path(path).resolve())
        return replace(_resolve(ref, ref), source=ref)
    names = ", ".join(sorted(installed)) or "none"
    raise WorkflowError(
        f"unknown workflow {ref!r}: installed workflows are {names}; "
        "or pass a module path like 'mypkg.flows:workflow' or 'flows.py:workflow'"
    )


def _where_defined(flow: Workflow) -> str:
    """How to load a Workflow object given from Python again (recorded with its runs, so
    ``fork``, ``reproduce`` and ``sweep`` find it in another process): the module attribute
    holding it, in the module of one of its actions; '' if there is none (``__main__`` and
    notebooks are rebuilt from their stored code instead).

    A top-level module outside site-packages (a ``flows.py`` beside the script or notebook)
    is named by its file, which loads from any directory; others by ``module:attr``.
    """
    for name in dict.fromkeys(spec.fn.__module__ for spec in flow.actions):
        module = sys.modules.get(name)
        if module is None or name == "__main__":
            continue
        attr = next((a for a, v in vars(module).items() if v is flow), None)
        if attr is None:
            continue
        file = str(getattr(module, "__file__", None) or "")
        installed = any(p in Path(file).parts for p in _INSTALLED)
        if "." in name or installed or not file.endswith(".py"):
            return f"{name}:{attr}"
        return f"{Path(file).resolve()}:{attr}"
    return ""


_INSTALLED = ("site-packages", "dist-packages")


def _resolve(target: str, label: str) -> Workflow:
    module_ref, _, attr = target.partition(":")
    try:
        if module_ref.endswith(".py"):
            module = _imported(Path(module_ref)) or import_file(Path(module_ref))
        else:
            module = importlib.import_module(module_ref)
    except WorkflowError:
        raise
    except Exception as exc:
        raise WorkflowError(
            f"cannot import workflow {label!r} from {module_ref!r}: {type(exc).__name__}: {exc}"
        ) from None
    defined = sorted(n for n, v in vars(module).items() if isinstance(v, Workflow))
    where = f"{module_ref}:{attr or 'NAME'}"
    if not attr:  # its `workflow` (a Workflow or a factory of the user's), else its only one
        attr = "workflow" if _users_own(getattr(module, "workflow", None)) else ""
        if not attr and len(defined) != 1:
            raise WorkflowError(
                f"name the workflow: {module_ref} defines {len(defined)} "
                f"({', '.join(defined) or 'none'}); pass {where}"
            )
        attr = attr or defined[0]
    if not hasattr(module, attr):
        raise WorkflowError(
            f"{module_ref} has no {attr!r}; its workflows: {', '.join(defined) or 'none'} "
            f"(name one as {module_ref}:NAME)"
        )
    found = getattr(module, attr)
    if _is_action(found):
        raise WorkflowError(
            f"{module_ref}:{attr} is an action, not a workflow; its workflows: "
            f"{', '.join(defined) or 'none'} (build one with reprolam.workflow(name, [actions]))"
        )
    if callable(found) and not isinstance(found, Workflow):
        try:
            found = found()  # a factory: called with no arguments
        except Exception as exc:
            raise WorkflowError(
                f"{module_ref}:{attr} is neither a Workflow nor a function returning one "
                f"without arguments (calling it raised {type(exc).__name__}: {exc}); its "
                f"workflows: {', '.join(defined) or 'none'}"
            ) from None
    if not isinstance(found, Workflow):
        raise WorkflowError(
            f"{module_ref}:{attr} is not a reprolam Workflow (got {type(found).__name__}); "
            "build one with reprolam.workflow(...)"
        )
    return found


def _is_action(found: Any) -> bool:
    try:
        spec_of(found)
    except ActionSpecError:
        return False
    return True


def _users_own(found: Any) -> bool:
    """A Workflow, or a factory the module defines (not reprolam's own ``workflow``)."""
    if isinstance(found, Workflow):
        return True
    module = str(getattr(found, "__module__", ""))
    return callable(found) and module.partition(".")[0] != "reprolam"


def _imported(path: Path) -> Any:
    """The module this process already imported from ``path`` by name (``import flows`` in a
    notebook or a script whose runs recorded the file): the same module, not a second copy
    with its own state. Files loaded by ``import_file`` are loaded afresh each time."""
    try:
        wanted = path.resolve()
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if not file or name.startswith(_FILE_MODULE) or os.path.basename(file) != path.name:
                continue  # cheap checks first: resolving every module's path costs ms
            if Path(file).resolve() == wanted:
                return module
    except OSError:
        pass
    return None


_FILE_MODULE = "reprolam_user_workflow_"


def workflow_file_module(path: Path) -> str:
    """The name of the module a workflow file is loaded as."""
    # a dot in the file's name (flow.v2.py) would name a submodule of a package that does
    # not exist: pickle could not import the file's classes, so none of them could be stored
    return f"{_FILE_MODULE}{path.stem.replace('.', '_')}"


def import_file(path: Path) -> Any:
    if not path.is_file():
        raise WorkflowError(f"workflow file {str(path)!r} does not exist")
    name = workflow_file_module(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise WorkflowError(f"cannot load {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    # As `python flows.py` does: the file's own directory first on the path, so the modules
    # beside it (a helpers.py it imports) are found, in this process and in every worker.
    directory = str(path.resolve().parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    sys.modules[name] = module
    _importing.append(str(path))
    try:
        spec.loader.exec_module(module)
    finally:
        _importing.pop()
    return module


_importing: list[str] = []  # workflow files being imported to load a workflow, innermost last


def refuse_runs_while_importing() -> None:
    """``ConfigError`` if a workflow file is being imported: its top level started a run
    (a script without an ``if __name__ == "__main__":`` guard). Loading its workflow again to
    reproduce or fork a run recorded more runs, recursively."""
    if _importing:
        raise ConfigError(
            f"workflow file {_importing[-1]!r} started a run while it was imported to load its "
            "workflow: its top level runs reprolam whenever it is imported; put that code under "
            'if __name__ == "__main__": (as `python FILE` still runs it)'
        )
    if _starting_worker():
        script = getattr(sys.modules.get("__mp_main__"), "__file__", None) or "the main script"
        raise ConfigError(
            f"a worker process loading {script!r} again (the process and dask executors start "
            "their workers so) was made to start a run by its top level: the worker would "
            "record the script's runs a second time; put that code under "
            'if __name__ == "__main__": (as `python FILE` still runs it)'
        )


def _starting_worker() -> bool:
    """True in a process that multiprocessing is starting (spawn, forkserver) while it loads
    the parent's main script: what that script's top level does there happens twice."""
    mp_process = sys.modules.get("multiprocessing.process")
    return mp_process is not None and bool(
        getattr(mp_process.current_process(), "_inheriting", False)
    )
