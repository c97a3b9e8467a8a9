"""The crate's fixed vocabulary: profiles it claims, ids, license choice, time format."""

from __future__ import annotations

import re
from typing import Any

from reprolam.errors import ConfigError
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


# An SPDX license id (CC0-1.0, GPL-3.0-or-later, LicenseRef-x) or an absolute URL: what a
# crate's license @id can be built from (a space, <, > or " makes an @id no IRI, and
# rocrate-validator then finds no license on the root).
SPDX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
LICENSE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"{}|\\^`]+")

CHOSEN = "chosen by the exporter"  # how a license given to the export is described


def crate_license(graph: RunGraph, chosen: str | None) -> tuple[str, str]:
    """(SPDX id or URL, how it was chosen): the user's, else the workflow's, else the default."""
    if chosen is not None:  # an empty one too: a crate names its license, refused below
        return check_license(chosen), CHOSEN
    declared = graph.workflow_snapshot.get("license")
    if isinstance(declared, str) and declared:
        where = f"the license workflow {graph.run.workflow} declares,"
        return check_license(declared, where=where), f"declared by workflow {graph.run.workflow}"
    return DEFAULT_LICENSE, (
        f"default: workflow {graph.run.workflow} declares no license and none was chosen "
        "when exporting; choose one with the export's license option"
    )


def check_license(license_id: str, *, where: str = "license") -> str:
    """``license_id`` if it is an SPDX id or an absolute URL, else a ``ConfigError``."""
    if SPDX_ID.fullmatch(license_id) or LICENSE_URL.fullmatch(license_id):
        return license_id
    raise ConfigError(
        f"{where} {license_id!r} is neither an SPDX license id (CC0-1.0, MIT, "
        "GPL-3.0-or-later) nor a URL (https://...): a crate's license must be one of them; "
        "pass one as {license=SPDX_OR_URL}"
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
