"""A store worth looking at, for the UI tests: a small sweep, a fork, tags and notes, and one
hand-built hostile run (markup, event handlers and ANSI escapes in its params, LLM reply,
error and note; a PNG image output; a failure and its recovery)."""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass, field, replace

from reprolam import api
from reprolam.hashing import canonical_json_bytes, digest
from reprolam.history.annotate import note, tag
from reprolam.history.fork import fork as fork_run
from reprolam.trace import (
    ArtifactRecord,
    ErrorInfo,
    RunRecord,
    RunStatus,
    StepKind,
    StepRecord,
    StepStatus,
    TraceStore,
)
from reprolam.trace.records import seal

HOSTILE = '<script>window.__xss=1;alert(1)</script>"onerror=alert(2) \x1b[31mred\x1b[0m'
NOTE = '<img src=x onerror="window.__xss=3">'
SWEEP_C = (0.01, 1.0, 100.0)


def png(width: int = 24, height: int = 16) -> bytes:
    """A small RGB gradient as a real PNG file."""
    raw = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 10 % 256, y * 15 % 256, 128))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@dataclass
class UiData:
    sweep: list[str] = field(default_factory=list)
    fork: str = ""
    hostile: str = ""
    image: str = ""  # digest of the PNG output


def build(store: TraceStore) -> UiData:
    data = UiData()
    for c in SWEEP_C:
        result = api.run(
            "breast-cancer", store=store, planner="rules", overrides={"train_model": {"C": c}}
        )
        data.sweep.append(result.id)
    tag(store, data.sweep[0], ["sweep", "baseline"])
    tag(store, data.sweep[1], ["sweep"])
    tag(store, data.sweep[2], ["sweep"])
    note(store, data.sweep[0], NOTE)
    forked = fork_run(store, data.sweep[0], at="train_model", overrides={"train_model": {"C": 5.0}})
    data.fork = forked.run.id
    data.hostile, data.image = hostile_run(store)
    return data


def hostile_run(store: TraceStore) -> tuple[str, str]:
    """A run whose recorded text tries to inject markup; returns (run id, PNG digest)."""
    run_id = f"0000-hostile-{time.time_ns()}"
    now = time.time()
    store.create_run(
        RunRecord(id=run_id, workflow="hostile<b>", seed=3, created_at=now, planner={"name": "llm"})
    )
    image = png()
    image_record = ArtifactRecord(digest(image), "png", len(image))
    text = canonical_json_bytes(HOSTILE)
    text_record = ArtifactRecord(digest(text), "json", len(text))
    decision = {
        "kind": "llm_call",
        "request": {"messages": [{"role": "user", "content": HOSTILE}]},
        "response": {"choices": [{"message": {"role": "assistant", "content": HOSTILE}}]},
        "usage": {"prompt_tokens": 12, "completion_tokens": 7},
    }
    steps: list[StepRecord] = []
    prev = ""

    def add(step: StepRecord) -> None:
        nonlocal prev
        sealed = seal(replace(step, prev_hash=prev))
        prev = sealed.hash or ""
        steps.append(sealed)

    add(
        StepRecord(
            run_id,
            0,
            StepKind.ACTION,
            "draw<i>",
            StepStatus.SUCCEEDED,
            now,
            params={"title": HOSTILE, "x": 1},
            outputs={"image": image_record.digest, "caption": text_record.digest},
            seed=11,
            duration=0.01,
            proposal={"planner": "llm", "rationale": HOSTILE, "decision": decision},
        )
    )
    add(
        StepRecord(
            run_id,
            1,
            StepKind.ACTION,
            "fit",
            StepStatus.FAILED,
            now + 1,
            params={"label": HOSTILE},
            seed=12,
            duration=0.02,
            error=ErrorInfo("ValueError", HOSTILE, f"Traceback:\n  {HOSTILE}"),
        )
    )
    add(
        StepRecord(
            run_id,
            2,
            StepKind.ACTION,
            "fit",
            StepStatus.SUCCEEDED,
            now + 2,
            params={"label": "retry"},
            seed=13,
            duration=0.02,
            recovers=1,
        )
    )
    store.record(
        steps=steps,
        artifacts=[(image_record, image), (text_record, text)],
        run=replace(
            store.get_run(run_id), status=RunStatus.SUCCEEDED, finished_at=now + 3, error=None
        ),
    )
    note(store, run_id, HOSTILE)
    return run_id, image_record.digest
