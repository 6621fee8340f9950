"""What the release and incident services read from, and ask of, other domains: small Protocols that
``wiring`` fills in (jobs for artifacts, membership and containment, allocation for projects,
governance for motions). Kept here because both services consume them; nothing in this module does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from pnyx.identity.model import Principal
from pnyx.safety.model import Label


class StoredArtifact(NamedTuple):
    """What the facility holds about an artifact: its label, its content digest and its project."""

    label: Label
    sha256: str
    project: str


class Artifacts(Protocol):
    """Artifacts by id (a job output, later a registry entry); None when there is no such artifact."""

    def artifact(self, artifact_id: str) -> StoredArtifact | None: ...


class Projects(Protocol):
    """Whether a project exists (the jobs service's ``Projects`` answers this as it is)."""

    def project(self, project_id: str) -> object | None: ...


class Members(Protocol):
    """Who belongs to a project, as the jobs side decides who reads its outputs (``jobs.clearance``:
    the project's team, the project's label with its own ``project:<id>`` compartment)."""

    def member_clearance(self, principal: Principal, project_id: str) -> Label | None:
        """The label ``principal`` holds as a member of the project; None for anyone else (staff
        included) and for an unknown project."""
        ...


class Motions(Protocol):
    """Council motions, as a release gate reads them."""

    def motion_state(self, motion_id: str) -> str | None:
        """The motion's state (``governance.motion.MotionState`` value); None when unknown."""
        ...

    def approves_release(self, motion_id: str, release_id: str) -> bool | None:
        """Whether the motion is adopted, in force, and its effect approves this release
        (``approve_release`` naming ``release_id``); None when there is no such motion."""
        ...


class Containment(Protocol):
    """The containment steps of an incident, carried out by the domains that own jobs and tokens.

    Each step answers what it acted on (so the log can name each one) and is idempotent: a second
    call answers only what it newly acted on."""

    def preempt_jobs(self, project: str, reason: str) -> Sequence[str]:
        """Ask the project's active jobs to checkpoint and stop (pending ones end at once); job ids."""
        ...

    def suspend_tokens(self, project: str, reason: str) -> Sequence[str]:
        """Suspend the API tokens of the project's team (reversibly); token ids."""
        ...

    def restore_tokens(self, token_ids: Sequence[str]) -> Sequence[str]:
        """Restore tokens an incident suspended (unless revoked meanwhile); token ids restored."""
        ...
