"""What the jobs service asks of the safety domain: small Protocols that ``wiring`` fills in (open
incidents' freezes, and release decisions' lower-labelled records), with the do-nothing answers a
service built without them gets. Nothing here does I/O itself.

Artifact ids are ``<job id>/<path>`` (``artifact_id``), as safety names a job's output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pnyx.core.errors import Conflict, Forbidden
from pnyx.safety.model import Label


def artifact_id(job_id: str, path: str) -> str:
    return f"{job_id}/{path}"


class Freezes(Protocol):
    """Open incidents' freezes: each answers the id of the incident that froze the subject, or None."""

    def frozen_project(self, project_id: str) -> str | None:
        """The incident that froze the project (its submissions and all its outputs)."""
        ...

    def frozen_artifact(self, artifact_id: str) -> str | None:
        """The incident that froze this artifact by itself (its project's freeze: ``frozen_project``)."""
        ...


class ReleasedRecord(Protocol):
    """A release decision's new record of an artifact: the same content under a lower label."""

    @property
    def release_id(self) -> str: ...

    @property
    def sha256(self) -> str: ...

    @property
    def label(self) -> Label: ...


class Releases(Protocol):
    """The released records of an artifact (``safety.release_service.ReleaseService`` answers this)."""

    def released_of(self, artifact: str) -> Sequence[ReleasedRecord]: ...


class NoFreezes:
    """Nothing is frozen: a service built without the safety domain (unit tests, tools)."""

    def frozen_project(self, project_id: str) -> str | None:
        return None

    def frozen_artifact(self, artifact_id: str) -> str | None:
        return None


class NoReleases:
    def released_of(self, artifact: str) -> Sequence[ReleasedRecord]:
        return ()


def check_submittable(freezes: Freezes, project_id: str) -> None:
    """A frozen project takes no new job (Conflict naming the incident; nothing is stored)."""
    incident = freezes.frozen_project(project_id)
    if incident is not None:
        raise Conflict(
            f"project {project_id} is frozen by safety incident {incident}: it takes no new jobs "
            "until two officers lift the incident",
            field="project",
            code="project_frozen",
        )


def check_thawed(freezes: Freezes, project_id: str, artifact_ids: Sequence[str]) -> None:
    """Refuse, naming the incident, to read outputs an open incident froze (with their project, or
    one by one)."""
    incident = freezes.frozen_project(project_id)
    if incident is not None:
        _frozen(f"project {project_id}'s outputs are", incident)
    for artifact in artifact_ids:
        incident = freezes.frozen_artifact(artifact)
        if incident is not None:
            _frozen(f"output {artifact} is", incident)


def _frozen(what: str, incident: str) -> None:
    raise Forbidden(
        f"{what} frozen by safety incident {incident}: not read until two officers lift the incident",
        field="job_id",
        code="artifact_frozen",
    )
