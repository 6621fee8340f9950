"""Checks on a release before anything is written (pure): who may ask for an artifact's release, that
the request names the artifact as it is stored, where it may go, and which council motion counts.

A refusal names its field and never echoes what is stored (digest, label or path): someone who may
not ask gets the answer an unknown artifact gets, so asking reveals nothing about what exists.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from pnyx.core.errors import Conflict, InvalidInput, NotFound
from pnyx.identity.model import Principal, Role
from pnyx.safety.model import Label, Release, ReleaseGate, SafetyLevel
from pnyx.safety.rules import check_release_target, dominates
from pnyx.safety.subjects import StoredArtifact

SHA256 = re.compile(r"[0-9a-f]{64}")
EVALUATION = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}")
ADOPTED = "adopted"  # governance.motion.MotionState.ADOPTED
PUBLIC = Label(level=SafetyLevel.L1)  # readable by everyone: no level above L1, no compartment


def may_request(principal: Principal, stored: StoredArtifact, member: Label | None) -> bool:
    """A safety officer, or a member of the artifact's project (``member``: the label they hold
    there) whose clearance covers the artifact's label. The rule that no person reads at a
    jobs-only level (L3, L4) plays no part: a project may ask to release its own L3 output, and
    asking reads nothing.

    At L1 the gate needs no approval: the anchors' L1 gate is the principal investigator's say, and
    this check is that gate (only the project's members, whose team is its PI, may ask at all)."""
    if Role.SAFETY_OFFICER in principal.roles:
        return True
    return member is not None and dominates(member, stored.label)


def check_stored(
    artifact: str, stored: StoredArtifact | None, *, allowed: bool, sha256: str, from_label: Label
) -> StoredArtifact:
    """The stored artifact the request names, with exactly this content and label. Not found (the
    same answer as for no artifact at all) unless the requester is ``allowed`` to ask for it."""
    if not SHA256.fullmatch(sha256):
        raise InvalidInput("sha256 is 64 lowercase hex digits", field="sha256")
    if stored is None or not allowed:
        raise NotFound(f"no artifact {artifact!r}", field="artifact", code="artifact_not_found")
    if stored.sha256 != sha256:
        raise InvalidInput(
            "the given sha256 does not match the stored artifact", field="sha256", code="digest_mismatch"
        )
    if stored.label != from_label:
        raise InvalidInput(
            "the given from_label does not match the stored artifact's label",
            field="from_label",
            code="label_mismatch",
        )
    return stored


def release_gate(gate: ReleaseGate, to_label: Label) -> ReleaseGate:
    """What a release to ``to_label`` needs under its level's ``gate``: where the level bars a public
    release, a public one needs the council's decision, an adopted motion approving it."""
    if to_label == PUBLIC and not gate.public:
        return dataclasses.replace(gate, council_motion=True)
    return gate


def check_target(from_label: Label, to_label: Label, gate: ReleaseGate) -> None:
    """Strictly down the lattice. A public release its level bars is not refused here: its motion
    names the release, so the release is requested first and waits for it (``release_gate``)."""
    check_release_target(from_label, to_label, gate, public=False)


def check_motion(motion_id: str, release_id: str, state: str | None, approves: bool) -> None:
    """A motion counts for a release only once adopted and when its effect approves that release."""
    if state is None:
        raise NotFound(f"no council motion {motion_id!r}", field="motion_id", code="motion_not_found")
    if state != ADOPTED:
        raise InvalidInput(
            f"motion {motion_id} is {state}; a release needs an adopted motion",
            field="motion_id",
            code="motion_not_adopted",
        )
    if not approves:
        raise InvalidInput(
            f"motion {motion_id} did not decide release {release_id}: the council's motion for it has "
            f'the effect {{"type": "approve_release", "release_id": "{release_id}"}}, in force',
            field="motion_id",
            code="motion_not_for_release",
        )


def evaluation_names(names: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(names))
    for name in out:
        if not EVALUATION.fullmatch(name):
            raise InvalidInput(
                f"an evaluation name is 1-80 lowercase letters, digits or '._-'; got {name!r}",
                field="evaluations",
            )
    return out


def with_evaluation(release: Release, name: str) -> Release:
    if name in release.evaluations:
        raise Conflict(f"evaluation {name} is already attached", field="evaluations", code="duplicate")
    return dataclasses.replace(release, evaluations=(*release.evaluations, name))


def check_evidence(missing: Mapping[str, str | None]) -> None:
    """Each named evaluation backed by a result (``missing``: why not, by name; None where it is)."""
    for name, reason in missing.items():
        if reason is not None:
            raise InvalidInput(
                f"evaluation {name} cannot be attached: {reason}",
                field="evaluations",
                code="evaluation_result_missing",
            )
