"""The environment a run executed in: captured once per run, stored as an artifact."""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Iterator
from functools import cache
from typing import Any

from reprolam.hashing import canonical_json, digest
from reprolam.workflows.registry import Workflow

# Variables that change numerical results or hashing without touching code.
_DETERMINISM_VARS = (
    "PYTHONHASHSEED",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "CUBLAS_WORKSPACE_CONFIG",
)


def capture_environment(
    workflow: Workflow,
    *,
    fingerprints: dict[str, str] | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The run's environment; ``fingerprints`` and ``code`` come from ``capture_code``."""
    fingerprints = fingerprints or {}
    snapshot = {
        **environment_snapshot(),
        "workflow": {
            "name": workflow.name,
            "source": workflow.source,
            "metrics": workflow.metrics,
            "order": [spec.name for spec in workflow.actions],  # declared order (exports)
            **({"license": workflow.license} if workflow.license else {}),
            "actions": {
                spec.name: {
                    "version": spec.version,
                    "fingerprint": fingerprints.get(spec.name, spec.fingerprint),
                    "determinism": spec.determinism,
                }
                for spec in workflow.actions
            },
        },
        **system_details(),
    }
    if code is not None:
        snapshot["code"] = code  # digest of the code manifest artifact
    return snapshot


def environment_snapshot() -> dict[str, Any]:
    """The software environment alone (interpreter, platform, packages, determinism variables).

    Runs built by hand (``ManualRun``) record exactly this, so their environment digest is
    ``compute_environment_hash()``.
    """
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": _platform(),
        "machine": platform.machine(),
        "byteorder": sys.byteorder,
        "packages": installed_packages(),
        "env": {k: os.environ[k] for k in _DETERMINISM_VARS if k in os.environ},
    }


def compute_environment_hash() -> str:
    """The digest of this process's ``environment_snapshot()`` as the store keeps it.

    Equal environments give equal hashes in any process; a different Python, platform,
    package version or determinism variable gives another. It is the artifact id under which
    a hand-built run stores its snapshot, so ``run.environment == compute_environment_hash()``
    says the run was recorded in the current environment.
    """
    from reprolam.codecs import default_serializer

    _tag, data = default_serializer().dumps_typed(environment_snapshot())
    return digest(data)


@cache
def _platform() -> str:
    """Like ``platform.platform()`` without its libc probe, which reads the interpreter binary."""
    uname = platform.uname()
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        libc = ""
    return "-".join(part for part in (uname.system, uname.release, uname.machine, libc) if part)


@cache
def installed_packages() -> dict[str, str]:
    """Distribution name -> version for everything importable (read once per process).

    Read from the ``NAME-VERSION.dist-info`` / ``.egg-info`` directory names on ``sys.path``
    (first occurrence wins, as for imports): the same answer as parsing every METADATA file
    with ``importlib.metadata``, for a directory listing instead of ~45 ms of file reads.
    """
    found: dict[str, str] = {}
    for _, stem in _metadata_dirs():
        project, dash, version = stem.partition("-")
        key = _normalize(project)
        if dash and version and key not in found:
            found[key] = version.split("-")[0]
    return dict(sorted(found.items()))


def _metadata_dirs() -> Iterator[tuple[str, str]]:
    """Each ``NAME-VERSION.dist-info`` / ``.egg-info`` directory on ``sys.path``, in import
    order: its path and its ``NAME-VERSION`` stem."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            stem, dot, suffix = name.rpartition(".")
            if dot and suffix in ("dist-info", "egg-info"):
                yield os.path.join(entry or ".", name), stem


def _normalize(project: str) -> str:
    """PEP 503 name normalization (``scikit_learn`` -> ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", project).lower()


def imports_of(manifest: dict[str, Any], action: str) -> set[str]:
    """The top-level names of the installed packages ``action`` imports: its own module and
    the modules of the user code it reaches (a code manifest's ``modules.*.imports``)."""
    info = manifest.get("actions", {}).get(action, {})
    units, modules = manifest.get("units", {}), manifest.get("modules", {})
    found: set[str] = set()
    for key in [info.get("unit"), *info.get("reaches", [])]:
        module = units.get(key, {}).get("module")
        found |= set(modules.get(module, {}).get("imports", []))
    return found


def action_packages(manifest: dict[str, Any], packages: dict[str, str]) -> dict[str, set[str]]:
    """Each action of a code manifest -> the installed distributions (normalized names, as
    ``packages`` keys them) that it imports, and those they require (scikit-learn's scipy
    and threadpoolctl compute its results too)."""
    return {
        action: with_requirements(distributions_of(imports_of(manifest, action)), packages)
        for action in manifest.get("actions", {})
    }


def with_requirements(names: set[str], packages: dict[str, str]) -> set[str]:
    """``names`` among ``packages`` and the installed distributions they require,
    transitively (the requirements of an extra left out)."""
    found: set[str] = set()
    todo = [name for name in names if name in packages]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += [r for r in _requirements(name) if r in packages]
    return found


@cache
def _requirements(project: str) -> tuple[str, ...]:
    """The distributions ``project`` requires unless an extra is asked for (normalized)."""
    from importlib import metadata

    try:
        required = metadata.requires(project) or []
    except Exception:  # not found, or metadata a broken installer left: none known
        return ()
    names = []
    for requirement in required:
        spec, _, marker = requirement.partition(";")
        found = _REQUIREMENT_NAME.match(spec)
        if found is not None and "extra" not in marker:
            names.append(_normalize(found.group(0)))
    return tuple(names)


_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def distributions_of(imports: set[str]) -> set[str]:
    """Distribution names (normalized) that provide these top-level import names."""
    found = {_normalize(name) for name in imports}
    mapping = packages_distributions()
    for name in imports:
        found |= {_normalize(d) for d in mapping.get(name, ())}
    return found


@cache
def packages_distributions() -> dict[str, list[str]]:
    """Top-level import name -> distributions (normalized names), as
    ``importlib.metadata.packages_distributions`` finds them, read from the
    ``NAME-VERSION.dist-info`` directories on ``sys.path`` as ``installed_packages`` is: their
    ``top_level.txt``, else the first parts of the ``.py`` files their ``RECORD`` lists
    (a tenth of the time of parsing every distribution's metadata)."""
    found: dict[str, list[str]] = {}
    for path, stem in _metadata_dirs():
        project = _normalize(stem.partition("-")[0])
        for top in _top_level_names(path):
            found.setdefault(top, []).append(project)
    return found


def _top_level_names(folder: str) -> set[str]:
    """The import names a distribution provides: its top_level.txt, else its RECORD's
    ``.py`` files' first parts; none when neither can be read."""
    try:
        with open(os.path.join(folder, "top_level.txt"), encoding="utf-8") as declared:
            names = set(declared.read().split())
        if names:
            return names
    except (OSError, UnicodeDecodeError):
        pass
    found: set[str] = set()
    try:
        with open(os.path.join(folder, "RECORD"), encoding="utf-8") as record:
            for line in record:
                path = line.partition(",")[0]
                if path.endswith(".py"):
                    first, slash, _ = path.partition("/")
                    found.add(first if slash else first[: -len(".py")])
    except (OSError, UnicodeDecodeError):
        pass
    return found


# -- beyond packages: what else changes floating-point results (issue: explain divergences) --

_FP_FLAGS = frozenset(
    {"sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f",
     "avx512dq", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16", "amx_bf16", "neon",
     "asimd", "sve", "fphp", "asimdhp"}
)  # fmt: skip


def system_details() -> dict[str, Any]:
    """Conda env, container, BLAS/OpenMP threads, CPU, GPU, locale and time zone.

    What cannot change while the process lives is read once; threads and locale each run.
    """
    details: dict[str, Any] = {"cpu": _cpu(), "locale": _locale()}
    for name, value in (
        ("conda", _conda()),
        ("container", _container()),
        ("gpu", _gpu()),
        ("threadpools", _threadpools()),
    ):
        if value:
            details[name] = value
    return details


@cache
def _cpu() -> dict[str, Any]:
    model, flags = "", set()  # (not platform.processor(): it runs `uname -p`)
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "Hardware") and not model:
                    model = value.strip()
                elif key in ("flags", "Features"):
                    flags = set(value.split()) & _FP_FLAGS
                    if model:
                        break
    except OSError:
        pass
    return {"model": model, "count": os.cpu_count(), "flags": sorted(flags)}


def _locale() -> dict[str, Any]:
    import locale
    import time

    found: dict[str, Any] = {
        "ctype": ".".join(filter(None, locale.getlocale(locale.LC_CTYPE))) or "C",
        "encoding": locale.getpreferredencoding(False),
        "timezone": "/".join(dict.fromkeys(time.tzname)),
    }
    for var in ("LANG", "LC_ALL", "LC_NUMERIC", "TZ"):
        if var in os.environ:
            found[var] = os.environ[var]
    return found


@cache
def _conda() -> dict[str, Any] | None:
    """The conda environment this interpreter belongs to (its prefix, or, for a venv made
    from a conda Python, its base's), not the one the shell activated (``CONDA_PREFIX``):
    a venv's Python run from a shell where conda's base is active uses none of its packages."""
    prefix = next(
        (p for p in dict.fromkeys((sys.prefix, sys.base_prefix)) if _is_conda_prefix(p)), None
    )
    if prefix is None:
        return None
    meta = os.path.join(prefix, "conda-meta")
    packages: dict[str, str] = {}
    try:
        for name in os.listdir(meta):
            if name.endswith(".json") and name.count("-") >= 2:
                project, version, _build = name[:-5].rsplit("-", 2)
                packages[project] = version
    except OSError:
        pass
    activated = os.environ.get("CONDA_PREFIX")
    if activated and os.path.realpath(activated) == os.path.realpath(prefix):
        name = os.environ.get("CONDA_DEFAULT_ENV", "")
    else:  # not the activated one: named by its place (envs/NAME), if it has one
        parent = os.path.basename(os.path.dirname(prefix))
        name = os.path.basename(prefix) if parent == "envs" else ""
    return {"name": name, "prefix": prefix, "packages": dict(sorted(packages.items()))}


def _is_conda_prefix(prefix: str) -> bool:
    return os.path.isdir(os.path.join(prefix, "conda-meta"))


_CONTAINER_ID = re.compile(r"(?:docker|containers|libpod|crio)[-/]([0-9a-f]{64})")


@cache
def _container() -> dict[str, Any] | None:
    marker = next((m for m in ("/.dockerenv", "/run/.containerenv") if os.path.exists(m)), None)
    found_id = ""
    for source in ("/proc/self/cgroup", "/proc/self/mountinfo"):
        try:
            with open(source, encoding="utf-8", errors="replace") as text:
                match = _CONTAINER_ID.search(text.read())
        except OSError:
            continue
        if match:
            found_id = match.group(1)
            break
    if marker is None and not found_id:
        return None
    kind = "podman" if marker == "/run/.containerenv" else "docker" if marker else "container"
    return {"runtime": kind, "id": found_id}


@cache
def _gpu() -> dict[str, Any] | None:
    """NVIDIA GPUs and driver from /proc (no nvidia-smi process: it takes ~100 ms)."""
    try:
        with open("/proc/driver/nvidia/version", encoding="utf-8") as version:
            driver = version.readline().strip()
    except OSError:
        return None
    models = []
    root = "/proc/driver/nvidia/gpus"
    for gpu in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        try:
            with open(os.path.join(root, gpu, "information"), encoding="utf-8") as info:
                models += [ln.split(":", 1)[1].strip() for ln in info if ln.startswith("Model:")]
        except OSError:
            continue
    return {"driver": driver, "models": models}


def _threadpools() -> list[dict[str, Any]]:
    """BLAS/LAPACK and OpenMP libraries loaded in this process, with their thread counts.

    Through threadpoolctl when something (scikit-learn does) has imported it: importing it
    and its first scan of the loaded libraries cost tens of milliseconds otherwise. Read
    again when modules were imported since (a new library may have loaded); a thread count
    changed by ``threadpoolctl.threadpool_limits`` in between is not seen.
    """
    if "threadpoolctl" not in sys.modules:
        return []
    return list(_threadpools_with(len(sys.modules)))


@cache
def _threadpools_with(_modules: int) -> tuple[dict[str, Any], ...]:
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped]
    except ImportError:
        return ()
    keep = ("user_api", "internal_api", "version", "num_threads", "threading_layer", "architecture")
    found = [
        {
            **{k: info[k] for k in keep if k in info},
            "library": os.path.basename(str(info.get("filepath", ""))),
        }
        for info in threadpool_info()
    ]  # in the order the libraries were loaded, which varies: sorted, for equal snapshots
    return tuple(sorted(found, key=canonical_json))
