"""Cache awareness: compare a step about to run with its recorded counterpart.

In a fork or a reproduction every new step has a counterpart: the recorded step at the same
index of the parent (or of the run being reproduced). If action, version, code fingerprint,
params, input hashes and seed are all equal, the step would recompute the same outputs — we
say so, and with ``reuse`` we take the recorded outputs instead of executing (recorded as
reused, never silently). If something differs, we say exactly what, in the spirit of
Nextflow's ``lineage diff`` and DVC's run cache.

With a ``store``, ``reuse`` also looks beyond the counterpart: a succeeded step recorded
anywhere in the store with the same cache key (``TraceStore.find_cached_steps``) serves the
hit, so sibling forks and repeated sweeps do not execute again what any run already did.
The advice then names the step the outputs came from.

A step whose action read files itself (``file_read`` effects, see ``reprolam.file_reads``)
depends on more than its cache key: when it would be a hit, each file it read is checked
again (digest, or size and mtime over the hash cap; a deleted one is a change), and a file
that no longer holds what was read makes the step differ (``file /data/raw.csv: content
changed ...``), so it is executed, never reused. A step that itself reused another's outputs
recorded no reads of its own: the reads of the step it took them from are checked (followed
through the store; without one, as when only advising, they cannot be).

Store-wide, the candidates are taken in (run id, index) order, the original computation
first, and the first intact one whose files all still hold what it read is reused (like
DVC's run cache, which takes an entry whose dependencies still hold): after a file changed,
the run that executed the step again with the new content is found, and once the file is
back to what the first run read, that run's step is. A candidate that reused the outputs of
one already passed over is skipped. When none holds, the advice says what changed for the
first intact candidate (naming the files), and the step is executed.

Outputs are taken only while their stored bytes still verify: each is read and hashed before
it is reused (reuse is rare next to recording, and reads verify anyway). A step whose
outputs are damaged or missing in the store is executed, and recording its bytes again
replaces a damaged blob file (``BlobDir.found_damaged``); the advice says which output.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reprolam import env_reads
from reprolam.brief import EXTERNAL_NOT_REUSED, same_as_recorded
from reprolam.engine.code_capture import code_parts
from reprolam.engine.environment import action_packages
from reprolam.env_reads import env_change, env_state, recorded_env_state
from reprolam.errors import IntegrityError, NotFoundError, ReprolamError
from reprolam.file_reads import file_state, recorded_state
from reprolam.file_reads import read_change as file_change
from reprolam.hashing import canonical_json, short
from reprolam.trace.contract import TraceStore
from reprolam.trace.records import StepKind, StepRecord, StepStatus, hash_holds
from reprolam.trace.step_history import StepHistory
from reprolam.trace.stored_json import load_json


@dataclass(frozen=True, slots=True)
class CacheAdvice:
    run_id: str  # the counterpart's run and index
    index: int
    changed: tuple[str, ...]  # e.g. ("params.C", "inputs.model"); empty: a cache hit
    counterpart_failed: bool = False  # it failed, or had not finished (see ``unfinished``)
    reused: bool = False
    store_wide: bool = False  # found by cache key anywhere in the store, not by index
    # The counterpart's record no longer holds its hash (edited in the store): its outputs
    # are not what its step produced, so they are never taken.
    edited: bool = False
    # how many files and environment variables the counterpart read, each checked to still
    # hold what it read (when it would be a hit): said with the reuse
    reads_checked: int = 0
    # The action is ``external``: it acts on the world outside the record (uploads, sends,
    # submits), so its steps are executed, never reused: taking the recorded outputs would
    # skip what it is run for. The advice still says whether the step is a hit.
    external: bool = False
    # Why the counterpart's outputs cannot be taken: one of them no longer verifies in the
    # store ("output 'X' (0e659ec8e30e): its stored bytes are damaged"). Executed instead.
    damaged: str | None = None
    # The counterpart had not finished when it was read (its run was still running, or was
    # interrupted during it): it neither failed nor has outputs.
    unfinished: bool = False
    # The undeclared effects the counterpart's outputs were computed with, when the run's
    # effects policy is strict: executed instead, as strict refuses them ("file_read: /x").
    undeclared: str | None = None

    @property
    def hit(self) -> bool:
        return not self.changed

    def to_dict(self) -> dict[str, Any]:
        return {
            "counterpart": [self.run_id, self.index],
            "hit": self.hit,
            "changed": list(self.changed),
            "counterpart_failed": self.counterpart_failed,
            "reused": self.reused,
            **({"store_wide": True} if self.store_wide else {}),
            **({"edited": True} if self.edited else {}),
            **({"reads_checked": self.reads_checked} if self.reads_checked else {}),
            **({"external": True} if self.external else {}),
            **({"damaged": self.damaged} if self.damaged else {}),
            **({"unfinished": True} if self.unfinished else {}),
            **({"undeclared": self.undeclared} if self.undeclared else {}),
        }

    def explain(self) -> str:
        where = f"step {self.index} of {self.run_id}"
        if self.reused:
            return f"reused the outputs of {where} ({same_as_recorded(self.reads_checked)})"
        if self.hit:
            if self.edited:
                return f"same as {where}, whose record was edited (not reused)"
            if self.damaged:
                return f"same as {where}, whose {self.damaged} (not reused)"
            if self.unfinished:
                return f"same as {where}, which had not finished"
            if self.undeclared:
                return (
                    f"same as {where}, whose outputs were computed with undeclared effects the "
                    f"strict effects policy refuses ({self.undeclared}; not reused)"
                )
            if self.counterpart_failed:
                return f"same as {where}, which failed"
            if self.external:
                return f"same as {where}; {EXTERNAL_NOT_REUSED}"
            return f"same as {where}: would give its outputs (reuse would take them)"
        return f"differs from {where}: {', '.join(self.changed)}"


class StepCache:
    """Advice for new steps against a recorded trace (the parent's, or the original's).

    With a ``store`` and ``reuse``, a step without a reusable counterpart is looked up by
    cache key in the whole store.
    """

    def __init__(
        self,
        reference: Sequence[StepRecord] = (),
        *,
        reuse: bool = False,
        store: TraceStore | None = None,
    ) -> None:
        # A recorded tail (a fork's parent after the fork point) is read page by page as the
        # new steps reach it; a plain list is indexed at once.
        self._tail = reference if isinstance(reference, StepHistory) else None
        self.by_index: dict[int, StepRecord] = {}
        if self._tail is None:
            self.by_index = {s.index: s for s in reference if s.kind is StepKind.ACTION}
        self.reuse = reuse
        self.store = store if reuse else None
        self._found: dict[tuple[str, int], StepRecord] = {}
        self._verified: dict[str, str | None] = {}  # digest -> why it cannot be served
        self._runs = store  # where the environments of the counterparts' runs are read
        self._environment: tuple[dict[str, Any], dict[str, str]] | None = None
        self._packages: dict[str, dict[str, str]] | None = None  # action -> imported: version
        self._recorded_packages: dict[str, dict[str, str] | None] = {}  # run id -> packages
        self._named: dict[str, list[str]] = {}  # input digest -> the code it names
        self._recorded_code: dict[str, dict[str, Any]] = {}  # run id -> code manifest
        self._code_now: dict[str, dict[str, Any]] = {}  # named code -> its parts now

    def run_environment(self, manifest: dict[str, Any], packages: dict[str, str]) -> None:
        """The code manifest and installed packages of the run the steps are for: a hit
        computed under other versions of the packages its action imports (itself or through
        the user code it reaches) differs (``packages.scikit-learn: 1.5.2 -> 1.6.0``), so it
        is executed, not reused; without this, only the cache key is compared."""
        self._environment = (manifest, packages)
        self._packages = None  # found when a step is a hit: the import names take a scan

    def advise(
        self, step: StepRecord, *, external: bool = False, strict: bool = False
    ) -> CacheAdvice | None:
        """``external``: the step's action is ``external`` (never reused, see CacheAdvice);
        ``strict``: the run refuses undeclared effects, so no outputs computed with one are
        taken (the step is executed, and refused if it has them still)."""
        advice = None
        states: dict[str, dict[str, Any]] = {}  # each file's state now, read once per step
        counterpart = self._counterpart_at(step.index)
        if counterpart is not None:
            changed = tuple(_changes(counterpart, step))
            failed = counterpart.status is not StepStatus.SUCCEEDED
            checked = 0
            if not changed and not failed:
                changed, checked = _check_reads(counterpart, self.store, states)
            if not changed and not failed:
                changed = self._package_changes(counterpart) + self._named_code_changes(counterpart)
            reuse = self.reuse and not changed and not failed and not external
            # Outputs are taken only from a record that still holds its hash: an edited one
            # (its outputs pointed at other bytes) would be laundered into a run that audits
            # clean. Checked only when reuse would take it (a hash per reused step).
            edited = reuse and not _intact(counterpart)
            damaged = None
            if reuse and not edited and self.store is not None:
                damaged = self._damaged_output(counterpart, self.store)
            undeclared = None
            if strict and reuse and not edited and damaged is None:
                undeclared = undeclared_behind(counterpart, self.store)
            advice = CacheAdvice(
                counterpart.run_id,
                counterpart.index,
                changed,
                failed,
                reuse and not edited and damaged is None and undeclared is None,
                edited=edited,
                reads_checked=checked,
                external=external and not changed and not failed,
                damaged=damaged,
                unfinished=counterpart.status is StepStatus.STARTED,
                undeclared=undeclared,
            )
        if self.store is not None and not external and (advice is None or not advice.reused):
            wide = self._store_wide(step, self.store, states, strict)
            if wide is not None and (wide.reused or advice is None):
                return wide
        return advice

    def _store_wide(
        self,
        step: StepRecord,
        store: TraceStore,
        states: dict[str, dict[str, Any]],
        strict: bool = False,
    ) -> CacheAdvice | None:
        """The first candidate in the store (``find_cached_steps``) whose record is intact and
        whose files still hold what it read, reused; when none holds, why the first intact one
        does not (its changed files), so the step is executed; None without candidates."""
        stale = None
        passed: set[tuple[str, int]] = set()  # the candidates looked at and not taken
        for found in store.find_cached_steps(step):
            passed.add((found.run_id, found.index))
            if _reused_from(found) in passed:
                continue  # it took the outputs (and the reads behind them) of one passed over
            # the reads first (each file is read once): the record's hash only for the one
            # taken, and the first stale one said
            changed, checked = _check_reads(found, store, states)
            changed = changed or self._package_changes(found) + self._named_code_changes(found)
            if changed or not _intact(found):
                if changed and stale is None and _intact(found):
                    stale = CacheAdvice(found.run_id, found.index, changed, store_wide=True)
                continue
            undeclared = undeclared_behind(found, store) if strict else None
            if undeclared is not None:
                if stale is None:
                    stale = CacheAdvice(
                        found.run_id, found.index, (), store_wide=True, undeclared=undeclared
                    )
                continue
            damaged = self._damaged_output(found, store)
            if damaged is None:
                self._found[found.run_id, found.index] = found
                return CacheAdvice(
                    found.run_id,
                    found.index,
                    (),
                    reused=True,
                    store_wide=True,
                    reads_checked=checked,
                )
            if stale is None:
                stale = CacheAdvice(found.run_id, found.index, (), store_wide=True, damaged=damaged)
        return stale

    def _package_changes(self, step: StepRecord) -> tuple[str, ...]:
        """``packages.NAME: THEN -> NOW`` for each package the step's action imports whose
        version differs from the one its outputs were computed under (in the run of the
        step they were reused from, when it reused them)."""
        if self._environment is None or self._runs is None:
            return ()
        if self._packages is None:
            manifest, packages = self._environment
            self._packages = {
                action: {name: packages[name] for name in sorted(names)}
                for action, names in action_packages(manifest, packages).items()
            }
        now = self._packages.get(step.action)
        if not now:
            return ()
        source = computed_by(step, self._runs)
        if source is None:
            return ()  # the step its outputs came from cannot be read: its reads say so
        then = self._packages_of(source.run_id)
        if then is None:
            return (f"packages: the environment of run {source.run_id} cannot be read",)
        return tuple(
            f"packages.{name}: {then.get(name) or 'absent'} -> {version}"
            for name, version in now.items()
            if then.get(name) != version
        )

    def _named_code_changes(self, step: StepRecord) -> tuple[str, ...]:
        """``code KEY (named by input 'x'): why`` for the user code an input names by module
        and name (a pickled object's class, ``FunctionTransformer(myfunc)``'s function, see
        ``engine.named_code``) that is not what the run that computed the step's outputs
        recorded (code that run's actions did not reach is not known, and not compared)."""
        if self._environment is None or self._runs is None or not step.inputs:
            return ()
        named = self._named_by_inputs(step.inputs, self._runs)
        if not named:
            return ()
        source = computed_by(step, self._runs)
        if source is None:
            return ()  # the step its outputs came from cannot be read: its reads say so
        then, run = self._recorded_code_of(source.run_id), source.run_id
        found: list[str] = []
        for input_name, paths in named.items():
            for path in paths:
                for key, value in sorted(self._code_parts_now(path).items()):
                    why = _code_part_change(then, key, value, run)
                    if why is not None:
                        found.append(f"code {key} (named by input {input_name!r}): {why}")
        return tuple(dict.fromkeys(found))

    def _named_by_inputs(self, inputs: dict[str, str], store: TraceStore) -> dict[str, list[str]]:
        """Input name -> the code its artifact names (only pickles and models are read)."""
        from reprolam.engine.named_code import NAMING_CODECS, named_in  # on a hit only

        records = store.artifact_records(list(inputs.values()))
        named: dict[str, list[str]] = {}
        for input_name, key in sorted(inputs.items()):
            record = records.get(key)
            if record is None or record.codec not in NAMING_CODECS:
                continue
            if key not in self._named:
                try:
                    _, data = store.get_artifact(key)
                except ReprolamError:
                    data = b""  # missing or damaged: the reuse checks its outputs, not this
                self._named[key] = named_in(record.codec, data) if data else []
            if self._named[key]:
                named[input_name] = self._named[key]
        return named

    def _code_parts_now(self, path: str) -> dict[str, Any]:
        """What the code ``path`` names is made of in this process ({}: not the user's
        code, or not found: loading the input would fail)."""
        if path not in self._code_now:
            from reprolam.engine.named_code import resolve

            found = resolve(path)
            self._code_now[path] = {} if found is None else code_parts([found])
        return self._code_now[path]

    def _recorded_code_of(self, run_id: str) -> dict[str, Any]:
        """The parts of run ``run_id``'s code manifest (``_manifest_parts``); {} for a run
        recorded without one, or whose manifest cannot be read: nothing known to compare."""
        if run_id not in self._recorded_code:
            assert self._runs is not None
            try:
                environment = load_json(self._runs, self._runs.get_run(run_id).environment)
                key = environment.get("code") if isinstance(environment, dict) else None
                manifest = load_json(self._runs, key) if isinstance(key, str) else None
            except ReprolamError:
                manifest = None
            self._recorded_code[run_id] = (
                _manifest_parts(manifest) if isinstance(manifest, dict) else {}
            )
        return self._recorded_code[run_id]

    def _packages_of(self, run_id: str) -> dict[str, str] | None:
        if run_id not in self._recorded_packages:
            assert self._runs is not None
            try:
                environment = load_json(self._runs, self._runs.get_run(run_id).environment)
                packages = environment.get("packages") if isinstance(environment, dict) else None
            except ReprolamError:
                packages = None
            self._recorded_packages[run_id] = packages if isinstance(packages, dict) else None
        return self._recorded_packages[run_id]

    def _damaged_output(self, step: StepRecord, store: TraceStore) -> str | None:
        """Why one of the step's outputs cannot be taken (its stored bytes, or a file's or a
        directory's contents, read and hashed, are missing or damaged), or None. Each
        artifact is read once per cache."""
        for name, key in step.outputs.items():
            why = self._unservable(store, key)
            if why is not None:
                return f"output {name!r} ({short(key)}) {why}"
            for part in _contents(store, key):
                why = self._unservable(store, part)
                if why is not None:
                    return f"output {name!r} ({short(key)}): its content {short(part)} {why}"
        return None

    def _unservable(self, store: TraceStore, key: str) -> str | None:
        if key not in self._verified:
            self._verified[key] = _unservable(store, key)
        return self._verified[key]

    def _counterpart_at(self, index: int) -> StepRecord | None:
        if self._tail is None:
            return self.by_index.get(index)
        position = index - self._tail.start
        if not 0 <= position < len(self._tail):
            return None
        step = self._tail[position]
        return step if step.kind is StepKind.ACTION and step.index == index else None

    def counterpart(self, advice: CacheAdvice) -> StepRecord:
        if advice.store_wide:
            return self._found[advice.run_id, advice.index]
        found = self._counterpart_at(advice.index)
        assert found is not None  # advised from it
        return found


def _manifest_parts(manifest: dict[str, Any]) -> dict[str, Any]:
    """A code manifest's units (their digests), constants and values, by key, and its
    modules' files (``"file:" + path`` -> module name): a module named otherwise now (the
    script run as ``__main__``, loaded by path as ``reprolam_user_workflow_NAME``) is
    matched by its file."""
    parts: dict[str, Any] = {
        key: unit.get("digest")
        for key, unit in (manifest.get("units") or {}).items()
        if isinstance(unit, dict)
    }
    parts.update(manifest.get("constants") or {})
    parts.update(manifest.get("values") or {})
    for name, module in (manifest.get("modules") or {}).items():
        if isinstance(module, dict) and isinstance(module.get("file"), str):
            parts[f"file:{os.path.realpath(module['file'])}"] = name
    return parts


def _code_part_change(then: dict[str, Any], key: str, now: Any, run: str) -> str | None:
    """Why part ``key`` of the code now (``now``: a digest, a constant, a value's
    description) is not what run ``run`` recorded, or None."""
    module, colon, rest = key.partition(":")
    if key not in then and colon:
        file = getattr(sys.modules.get(module), "__file__", None)
        renamed = then.get(f"file:{os.path.realpath(file)}") if isinstance(file, str) else None
        key = f"{renamed}:{rest}" if isinstance(renamed, str) else key
    if key not in then:  # not reached by the run's actions: what it was is not known
        return None
    if _same_value(then[key], now):
        return None
    return f"changed since run {run} computed the outputs"


def _unservable(store: TraceStore, key: str) -> str | None:
    """Why an artifact's stored bytes cannot be served (read through, verified), or None."""
    try:
        for _ in store.artifact_chunks(key):
            pass
    except NotFoundError:
        return "is missing from the store"
    except IntegrityError:
        return "is damaged in the store (its bytes do not match its digest)"
    except ReprolamError as exc:
        return f"cannot be read ({exc})"
    return None


def _contents(store: TraceStore, key: str) -> list[str]:
    """The contents a file or directory output's manifest names (verified already)."""
    from reprolam.codecs._files import contents_of

    record, data = store.get_artifact(key)
    return contents_of(record.codec, data) if record.codec in ("file", "dir") else []


def _intact(step: StepRecord) -> bool:
    """A damaged record, or one whose content no longer hashes to its hash, serves nothing."""
    return step.damaged is None and step.hash is not None and hash_holds(step)


def _check_reads(
    step: StepRecord, store: TraceStore | None, states: dict[str, dict[str, Any]]
) -> tuple[tuple[str, ...], int]:
    """``file PATH: why`` (``variable $NAME: why``) for each file (environment variable) the
    step read that no longer holds what it read, and how many reads were checked
    (``states``: what each holds now, filled as they are read, for checking several steps)."""
    found = []
    reads = recorded_reads(step, store)
    for effect in reads:
        target = str(effect.get("target"))
        # the whole environment less what the step set itself: per set of names left out
        key = "\0".join([target, *env_reads.excluded(effect)])
        now = states.get(key)
        if now is None:
            now = states[key] = state_now(effect)
        why = read_change(effect, now)
        if why is not None:
            noun = "variable" if effect.get("kind") == "env_read" else "file"
            found.append(f"{noun} {target}: {why}")
    return tuple(found), len(reads)


def state_now(effect: dict[str, Any]) -> dict[str, Any]:
    """What the path or variable a recorded read (``file_read``, ``env_read``) names holds now."""
    target = str(effect.get("target"))
    if effect.get("kind") == "env_read":
        return env_state(target.removeprefix(env_reads.PREFIX), env_reads.excluded(effect))
    return file_state(target)


def read_change(effect: dict[str, Any], again: dict[str, Any] | None = None) -> str | None:
    """Why what a recorded read (``file_read`` or ``env_read`` effect) read is not there any
    more, or None: compared with ``again`` (the same read in a re-execution, or a state from
    ``state_now``), by default with what the path or variable holds now."""
    if effect.get("kind") == "env_read":
        return env_change(effect, (recorded_env_state(again) or None) if again else None)
    return file_change(effect, (recorded_state(again) or None) if again else None)


_REUSE_HOPS = 16  # a chain of reuses longer than this is not followed
_READS = ("file_read", "env_read")


def recorded_reads(
    step: StepRecord, store: TraceStore | None, *, unseen: bool = True
) -> list[dict[str, Any]]:
    """The ``file_read`` and ``env_read`` effects behind a step's outputs: its own, or, for a
    step that reused another's outputs, that step's (looked up in ``store``; none without
    one). When that step cannot be read (a run imported without the one it reused from, a
    damaged record, a chain of reuses too long to follow), one read that cannot vouch for
    anything says so: what the outputs were computed from is unknown, so they are not reused.
    So does, with ``unseen``, each undeclared process launch or connection (``_UNSEEN``).
    """
    for _ in range(_REUSE_HOPS):
        observed = step.proposal.get("observed")
        if isinstance(observed, dict):  # most steps observed nothing
            effects = [e for e in observed.get("effects") or () if isinstance(e, dict)]
            reads = [e for e in effects if e.get("kind") in _READS]
            if unseen:
                reads += [
                    _unseen_reads(e)
                    for e in effects
                    if e.get("kind") in _UNSEEN and not e.get("declared")
                ]
            return reads
        source = _reused_from(step)
        if source is None or store is None:
            return []
        try:
            step = store.own_step(*source)
        except ReprolamError as exc:
            why = f"the step whose outputs it reused cannot be read ({exc})"
            return [_unknown_reads(*source, why)]
    why = f"a chain of more than {_REUSE_HOPS} reuses is not followed"
    return [_unknown_reads(step.run_id, step.index, why)]


def computed_by(step: StepRecord, store: TraceStore) -> StepRecord | None:
    """The step that computed ``step``'s outputs: itself, or the one it reused them from
    (followed through the store); None when that one cannot be read."""
    for _ in range(_REUSE_HOPS):
        source = _reused_from(step)
        if source is None:
            return step
        try:
            step = store.own_step(*source)
        except ReprolamError:
            return None
    return None


def undeclared_behind(step: StepRecord, store: TraceStore | None) -> str | None:
    """The undeclared effects behind a step's outputs (its own, or those of the step whose
    outputs it reused), as ``kind: target; ...``, or None."""
    for _ in range(_REUSE_HOPS):
        observed = step.proposal.get("observed")
        if isinstance(observed, dict):
            found = [
                f"{e.get('kind')}: {e.get('target')}"
                for e in observed.get("effects") or ()
                if isinstance(e, dict) and not e.get("declared")
            ]
            more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
            return "; ".join(found[:3]) + more if found else None
        source = _reused_from(step)
        if source is None or store is None:
            return None
        try:
            step = store.own_step(*source)
        except ReprolamError:
            return None  # its reads are unknown: recorded_reads keeps it from being reused
    return None


# Undeclared effects through which an action read data the watch cannot see: what the
# process or the connection read can never be checked again, so such a step is not reused
# (declaring the effect, in ``side_effects``, says its result may be reused by key alone).
_UNSEEN = {
    "subprocess": ("read by `{}`", "a process the action started"),
    "network": ("received over `{}`", "what the action received over the network"),
}


def _unseen_reads(effect: dict[str, Any]) -> dict[str, Any]:
    target, what = _UNSEEN[str(effect.get("kind"))]
    return _unverifiable(
        target.format(effect.get("target")),
        f"{what} is not seen by the effects watch, so what the outputs were computed from "
        "cannot be checked; declare the effect in the action's side_effects to have its "
        "steps reused by their cache key alone",
    )


def _unknown_reads(run_id: str, index: int, why: str) -> dict[str, Any]:
    return _unverifiable(
        f"the reads of step {index} of run {run_id}",
        f"{why}: what its outputs were computed from cannot be checked",
    )


def _unverifiable(what: str, why: str) -> dict[str, Any]:
    """A read that vouches for nothing (``file_reads.FAILED_KEYS``): the step is not reused."""
    return {"kind": "file_read", "target": f"({what})", "unverifiable": why}


def _reused_from(step: StepRecord) -> tuple[str, int] | None:
    cache = step.proposal.get("cache")
    if not isinstance(cache, dict) or cache.get("reused") is not True:
        return None
    where = cache.get("counterpart")
    if isinstance(where, list) and len(where) == 2 and type(where[1]) is int:
        return str(where[0]), where[1]
    return None


def _changes(old: StepRecord, new: StepRecord) -> list[str]:
    changed = [
        field
        for field in ("action", "action_version", "fingerprint", "seed")
        if getattr(old, field) != getattr(new, field)
    ]
    changed += _mapping_changes("params", old.params, new.params)
    changed += _mapping_changes("inputs", old.inputs, new.inputs)
    return changed


def _mapping_changes(label: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [
        f"{label}.{key}"
        for key in sorted(old.keys() | new.keys())
        if not _same_value(old.get(key), new.get(key))
    ]


def _same_value(old: Any, new: Any) -> bool:
    """Equal as recorded, as the store-wide cache key compares them (``canonical_json``):
    Python's == takes True for 1, 1 for 1.0 and -0.0 for 0.0, which an action may tell
    apart (``repr``, ``isinstance``, ``copysign``)."""
    return old is new or canonical_json(old) == canonical_json(new)
