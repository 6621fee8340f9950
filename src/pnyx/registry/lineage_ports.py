"""What the model service needs from the rest of the platform, as small Protocols (``wiring`` hands
in the services that answer them)."""

from __future__ import annotations

from typing import Protocol

from pnyx.identity.model import Principal
from pnyx.jobs.model import JobRecord
from pnyx.safety.model import Label
from pnyx.transparency.model import SignedCheckpoint


class Clearances(Protocol):
    """The label ``principal`` holds as a member of a project; None for anyone else
    (``adapters.ProjectMembers`` answers it)."""

    def member_clearance(self, principal: Principal, project_id: str) -> Label | None: ...


class InclusionHashes(Protocol):
    @property
    def hashes(self) -> list[bytes]: ...


class LogIndex(Protocol):
    """The public log as downloads are checked against it (``transparency.service.LogService``)."""

    def find(self, event_type: str, data: bytes) -> int | None:
        """Where an event's exact entry bytes were logged."""
        ...

    def checkpoint(self) -> SignedCheckpoint: ...

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionHashes: ...


class Jobs(Protocol):
    """A job's record for whoever may see it (``jobs.service.JobService.get``)."""

    def get(self, principal: Principal, job_id: str) -> JobRecord: ...
