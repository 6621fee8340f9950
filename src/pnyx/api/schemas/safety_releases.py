"""Release and incident bodies. Labels are written as the log writes them: ``L2+bio+project:p1``.

What is public names an artifact that is not released as the log does: its job and an opaque
reference (``job``, ``artifact_ref``), never its path; a released record names the path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pnyx.api.schemas.storable import Ref, Str
from pnyx.core.errors import InvalidInput
from pnyx.safety.incident_service import MAX_SUMMARY
from pnyx.safety.model import Approval, Incident, Release, ReleaseStatus, SubjectKind
from pnyx.safety.release_store import ReleasedArtifact
from pnyx.safety.signing import public_artifact
from pnyx.safety.verify import parse_label


def _label(text: str) -> str:
    try:
        parse_label(text)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    return text


LabelText = Annotated[str, Field(max_length=2000, examples=["L2+project:p1"]), AfterValidator(_label)]
EvaluationName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,79}$", examples=["safety-suite"])]


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    artifact: Ref = Field(min_length=1, description="The artifact's id (a job output: <job id>/<path>)")
    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="The content released, as stored")
    from_label: LabelText = Field(description="The artifact's label, as stored")
    to_label: LabelText = Field(description="Strictly below from_label; L1 alone is a public release")
    evaluations: list[EvaluationName] = Field(default_factory=list, max_length=20)


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(pattern="^[0-9a-f]{16}$", description="The approver's registered key")
    signature: str = Field(
        min_length=1, max_length=100, description="Base64 Ed25519 signature over GET .../message"
    )


class EvaluationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: EvaluationName


class MotionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    motion_id: Ref = Field(
        min_length=1, description="An adopted motion whose effect is approve_release naming this release"
    )


class ApprovalOut(BaseModel):
    approver: str
    role: str
    key_id: str
    signature: str
    at: datetime

    @classmethod
    def of(cls, a: Approval) -> ApprovalOut:
        return cls(approver=a.approver, role=a.role, key_id=a.key_id, signature=a.signature, at=a.at)


class ReleasedOut(BaseModel):
    """The new record a release decision published: the same content under the lower label."""

    artifact: str
    sha256: str
    label: str
    released_at: datetime

    @classmethod
    def of(cls, r: ReleasedArtifact) -> ReleasedOut:
        return cls(artifact=r.artifact, sha256=r.sha256, label=str(r.label), released_at=r.released_at)


class ReleaseOut(BaseModel):
    """Public: the same facts the log holds."""

    id: str
    job: str = Field(description="The job whose output is released")
    artifact_ref: str = Field(description="The artifact's opaque reference (its path is not public)")
    artifact: str | None = Field(description="The artifact's id (<job id>/<path>), once released")
    sha256: str
    from_label: str
    to_label: str
    requester: str
    status: str = Field(description="requested | released | refused | withdrawn")
    approvals: list[ApprovalOut]
    motion_id: str | None
    evaluations: list[str]
    missing: list[str] = Field(description="What the gate still needs; empty once decided")
    requested_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, r: Release, missing: tuple[str, ...]) -> ReleaseOut:
        job, ref = public_artifact(r.artifact)
        return cls(
            id=r.id,
            job=job,
            artifact_ref=ref,
            artifact=r.artifact if r.status is ReleaseStatus.RELEASED else None,
            sha256=r.sha256,
            from_label=str(r.from_label),
            to_label=str(r.to_label),
            requester=r.requester,
            status=r.status.value,
            approvals=[ApprovalOut.of(a) for a in r.approvals],
            motion_id=r.motion_id,
            evaluations=list(r.evaluations),
            missing=list(missing) if r.decided_at is None else [],
            requested_at=r.requested_at,
            decided_at=r.decided_at,
        )


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_kind: SubjectKind
    subject: Ref = Field(min_length=1, description="A project id, or an artifact id")
    summary: Str = Field(min_length=1, max_length=MAX_SUMMARY, description="Public")
    details_withheld: bool = Field(default=True, description="The log says details exist and are withheld")


class ActionOut(BaseModel):
    action: str = Field(
        description="freeze-artifact | preempt-job | suspend-token | thaw-artifact | restore-token"
    )
    target: str = Field(description="A job or token id, project:<id>, or an artifact's job id")
    artifact_ref: str | None = Field(description="An artifact's opaque reference, when it is one")

    @classmethod
    def of(cls, action: str, target: str) -> ActionOut:
        artifact = action in ("freeze-artifact", "thaw-artifact") and not target.startswith("project:")
        name, ref = _named(target if artifact else None, target)
        return cls(action=action, target=name, artifact_ref=ref)


class IncidentOut(BaseModel):
    """Public: the fact, the summary, the status and the actions; never the details."""

    id: str
    subject_kind: str
    subject: str = Field(description="The project's id, or the artifact's job id")
    artifact_ref: str | None = Field(description="The artifact's opaque reference (its path is not public)")
    summary: str
    details_withheld: bool
    status: str = Field(description="open | lifting | lifted")
    opened_by: str
    opened_at: datetime
    lift_by: list[str]
    lifted_at: datetime | None
    actions: list[ActionOut] | None = Field(default=None, description="In the single view only")

    @classmethod
    def of(cls, i: Incident, actions: list[tuple[str, str]] | None = None) -> IncidentOut:
        subject, ref = _named(i.subject if i.subject_kind is SubjectKind.ARTIFACT else None, i.subject)
        return cls(
            id=i.id,
            subject_kind=i.subject_kind.value,
            subject=subject,
            artifact_ref=ref,
            summary=i.summary,
            details_withheld=i.details_withheld,
            status=i.status.value,
            opened_by=i.opened_by,
            opened_at=i.opened_at,
            lift_by=list(i.lift_by),
            lifted_at=i.lifted_at,
            actions=None if actions is None else [ActionOut.of(a, t) for a, t in actions],
        )


def _named(artifact_id: str | None, plain: str) -> tuple[str, str | None]:
    """A public name and reference: an artifact's job and opaque reference; anything else as it is."""
    return (plain, None) if artifact_id is None else public_artifact(artifact_id)
