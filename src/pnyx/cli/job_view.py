"""A job as ``pnyx job show`` prints it: a record a person reads (times in UTC ISO 8601, durations,
statuses as their words, "-" for none), or with ``--json`` the machine form, in the same keys as the
API's ``GET /api/v1/jobs/{id}``. Never where its inputs lie on the control plane's disk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pnyx.jobs.model import InputKind, JobRecord

NONE = "-"


def when(value: datetime | None) -> str:
    """UTC, to the second, ISO 8601 with a Z: ``2026-11-25T09:00:00Z``; "-" for none."""
    if value is None:
        return NONE
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def duration(seconds: float | None) -> str:
    """``2 h 5 min``, ``45 s``, ``3 d 4 h``: the two largest units that are not zero."""
    if seconds is None:
        return NONE
    left, parts = int(seconds), list[str]()
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if left >= size or (size == 1 and not parts):
            parts.append(f"{left // size} {unit}")
            left %= size
    return " ".join(parts[:2])


def ran(job: JobRecord) -> str:
    """How long it ran: from its start to its end; "-" if it never started or has not ended."""
    if job.started_at is None or job.ended_at is None:
        return NONE
    return duration((job.ended_at - job.started_at).total_seconds())


def _versions(job: JobRecord, kind: InputKind) -> list[str]:
    return [i.version for i in job.inputs if i.kind is kind]


def _or_none(value: object) -> str:
    return NONE if value is None or value in ("", ()) else str(value)


def _status(job: JobRecord) -> str:
    return f"{job.status.value} (cancel requested)" if job.cancel_requested else job.status.value


def _gang(job: JobRecord) -> str:
    placed = f", placed on {job.placed_type}" if job.placed_type else ""
    return f"{job.accelerators} x {job.accelerator_type or 'any type'}{placed}"


def _checkpoint(job: JobRecord) -> str:
    return f"every {duration(job.checkpoint_s)}" if job.checkpoint_s else "never"


def _workspace(job: JobRecord) -> str:
    if job.workspace_id is None:  # how many objects it reads, never which
        return NONE
    return f"{job.workspace_id} ({job.sealed_inputs} objects read; outputs sealed)"


ROWS: tuple[tuple[str, Callable[[JobRecord], str]], ...] = (
    ("id", lambda j: j.id),
    ("name", lambda j: j.name),
    ("project", lambda j: j.project),
    ("user", lambda j: j.user),
    ("status", _status),
    ("reason", lambda j: _or_none(j.reason)),
    ("engine", lambda j: j.engine),
    ("accelerators", _gang),
    ("crosses sites", lambda j: "allowed" if j.allow_cross_site else "no"),
    ("estimate", lambda j: duration(j.estimate_s)),
    ("checkpoint", _checkpoint),
    ("priority", lambda j: j.priority_class.value),
    ("label", lambda j: str(j.label)),
    ("attempt", lambda j: str(j.attempt)),
    ("submitted", lambda j: when(j.submitted_at)),
    ("started", lambda j: when(j.started_at)),
    ("ended", lambda j: when(j.ended_at)),
    ("ran", ran),
    ("exit code", lambda j: _or_none(j.exit_code)),
    ("nodes", lambda j: ", ".join(j.node_ids) or NONE),
    ("datasets", lambda j: ", ".join(_versions(j, InputKind.DATASET)) or NONE),
    ("models", lambda j: ", ".join(_versions(j, InputKind.MODEL)) or NONE),
    ("workspace", _workspace),
)


def readable(job: JobRecord) -> list[tuple[str, str]]:
    """(name, value) rows, each value a word, a number, a UTC time, a duration or "-"."""
    return [(name, show(job)) for name, show in ROWS]


def machine(job: JobRecord) -> dict[str, Any]:
    """The API's record of the job (``JobOut``): plain JSON values, times in ISO 8601 UTC."""
    return {
        "id": job.id,
        "name": job.name,
        "project": job.project,
        "user": job.user,
        "engine": job.engine,
        "status": job.status.value,
        "accelerators": job.accelerators,
        "accelerator_type": job.accelerator_type,
        "placed_type": job.placed_type,
        "allow_cross_site": job.allow_cross_site,
        "estimate_s": job.estimate_s,
        "checkpoint_s": job.checkpoint_s,
        "priority_class": job.priority_class.value,
        "label": int(job.label.level),
        "categories": sorted(job.label.categories),
        "attempt": job.attempt,
        "cancel_requested": job.cancel_requested,
        "submitted_at": _iso(job.submitted_at),
        "started_at": _iso(job.started_at),
        "ended_at": _iso(job.ended_at),
        "exit_code": job.exit_code,
        "node_ids": list(job.node_ids),
        "reason": job.reason,
        "datasets": _versions(job, InputKind.DATASET),
        "models": _versions(job, InputKind.MODEL),
        "workspace_id": job.workspace_id,
        "sealed_inputs": job.sealed_inputs,
    }


def _iso(value: datetime | None) -> str | None:
    """Full precision, as the API writes it: ``2026-11-25T09:00:00.123456Z``."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
