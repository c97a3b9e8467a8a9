"""The crate's fixed vocabulary: profiles it claims, ids, license choice, time format."""

from __future__ import annotations

from typing import Any

from reprolam.provenance._model import RunGraph, utc

RO_CRATE_VERSION = "1.1"
WFRUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
WFRUN_VERSION = "0.5"  # the version rocrate-validator checks (built on RO-Crate 1.1)
PROVENANCE_PROFILE = f"https://w3id.org/ro/wfrun/provenance/{WFRUN_VERSION}"
PROFILES = (
    (f"https://w3id.org/ro/wfrun/process/{WFRUN_VERSION}", "Process Run Crate"),
    (f"https://w3id.org/ro/wfrun/workflow/{WFRUN_VERSION}", "Workflow Run Crate"),
    (PROVENANCE_PROFILE, "Provenance Run Crate"),
)
WORKFLOW_RO_CRATE = "https://w3id.org/workflowhub/workflow-ro-crate/1.0"
REPROLAM_URL = "https://reprolam.dev/"
DEFAULT_LICENSE = "CC-BY-4.0"
COMPLETED = "http://schema.org/CompletedActionStatus"
FAILED = "http://schema.org/FailedActionStatus"
ACTIVE = "http://schema.org/ActiveActionStatus"
# SoftwareApplications get absolute ids (the profiles recommend it): URNs, like PROV's.
ACTION_URN = "urn:reprolam:action:"
BIOSCHEMAS_WORKFLOW = "https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE"


CHOSEN = "chosen by the exporter"  # how a license given to the export is described


def crate_license(graph: RunGraph, chosen: str | None) -> tuple[str, str]:
    """(SPDX id or URL, how it was chosen): the user's, else the workflow's, else the default."""
    if chosen:
        return chosen, CHOSEN
    declared = graph.workflow_snapshot.get("license")
    if isinstance(declared, str) and declared:
        return declared, f"declared by workflow {graph.run.workflow}"
    return DEFAULT_LICENSE, (
        f"default: workflow {graph.run.workflow} declares no license and none was chosen "
        "when exporting; choose one with the export's license option"
    )


def crate_time(ts: float | None) -> str | None:
    """ISO 8601 to the millisecond, the form the Process Run Crate profile checks for; the
    exact recorded timestamps are in ``reprolam/trace.json``."""
    return None if ts is None else utc(ts).isoformat(timespec="milliseconds")


def single_values(crate: Any) -> None:
    """One-element lists as plain values, as RO-Crate 1.1 recommends (same JSON-LD graph)."""
    for entity in crate.get_entities():
        data = entity._jsonld
        for key, value in data.items():
            if isinstance(value, list) and len(value) == 1 and key != "@type":
                data[key] = value[0]


def planner_id(run_id: str) -> str:
    return f"urn:reprolam:planner:{run_id}"


def license_url(license_id: str) -> str:
    if "://" in license_id:
        return license_id
    return f"https://spdx.org/licenses/{license_id}"
