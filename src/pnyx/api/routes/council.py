"""The council: motions, deliberation, votes and the policies they adopt.

Public: read motions, comments, ballots, tallies, the rules and the policies in force.
Delegates and operators (the secretariat): table motions and amendments, comment.
Delegates: cast and change their own state's ballot. Operators: open and close votes, install rules.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from pnyx.api.auth import requires
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.council import (
    AmendmentIn,
    BallotChangeIn,
    BallotIn,
    BallotOut,
    CommentIn,
    CommentOut,
    MotionIn,
    MotionOut,
    OpenVotingIn,
    PoliciesInForceOut,
    PolicyOut,
    TallyFilesOut,
)
from pnyx.api.schemas.storable import Instant, JsonObject, Ref
from pnyx.governance.majority import parse_rule_set, rule_set_data
from pnyx.governance.motion import MotionState
from pnyx.governance.policy import Pool
from pnyx.identity.model import Principal, Role

router = APIRouter(prefix="/api/v1", tags=["council"])
Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]
Delegate = Annotated[Principal, Depends(requires(Role.DELEGATE))]
CouncilMember = Annotated[Principal, Depends(requires(Role.DELEGATE, Role.OPERATOR))]


@router.get("/council/motions")
def list_motions(platform: PlatformDep, state: MotionState | None = None) -> list[MotionOut]:
    return [MotionOut.of(m) for m in platform.council.motions(state=state)]


@router.post("/council/motions", status_code=status.HTTP_201_CREATED)
def table_motion(body: MotionIn, by: CouncilMember, platform: PlatformDep) -> MotionOut:
    motion = platform.council.table(
        title=body.title,
        text=body.text,
        decision_type=body.decision_type,
        effect=body.effect,
        effective_from=body.effective_from,
        by=by,
        submit=not body.draft,
    )
    return MotionOut.of(motion)


@router.get("/council/motions/{motion_id}")
def get_motion(motion_id: Ref, platform: PlatformDep) -> MotionOut:
    return MotionOut.of(platform.council.motion(motion_id))


@router.post("/council/motions/{motion_id}/submit")
def submit_motion(motion_id: Ref, by: CouncilMember, platform: PlatformDep) -> MotionOut:
    return MotionOut.of(platform.council.submit(motion_id, by=by))


@router.post("/council/motions/{motion_id}/withdraw")
def withdraw_motion(motion_id: Ref, by: CouncilMember, platform: PlatformDep) -> MotionOut:
    return MotionOut.of(platform.council.withdraw(motion_id, by=by))


@router.get("/council/motions/{motion_id}/amendments")
def list_amendments(motion_id: Ref, platform: PlatformDep) -> list[MotionOut]:
    return [MotionOut.of(m) for m in platform.council.amendments(motion_id)]


@router.post("/council/motions/{motion_id}/amendments", status_code=status.HTTP_201_CREATED)
def propose_amendment(
    motion_id: Ref, body: AmendmentIn, by: CouncilMember, platform: PlatformDep
) -> MotionOut:
    parent = platform.council.motion(motion_id)
    amendment = platform.council.table(
        title=body.title,
        text=body.text,
        decision_type=body.decision_type or parent.decision_type,
        effect=body.effect,
        by=by,
        amends=motion_id,
    )
    return MotionOut.of(amendment)


@router.get("/council/motions/{motion_id}/comments")
def list_comments(motion_id: Ref, platform: PlatformDep) -> list[CommentOut]:
    return [CommentOut.of(c) for c in platform.council.comments(motion_id)]


@router.post("/council/motions/{motion_id}/comments", status_code=status.HTTP_201_CREATED)
def post_comment(motion_id: Ref, body: CommentIn, by: CouncilMember, platform: PlatformDep) -> CommentOut:
    return CommentOut.of(platform.council.comment(motion_id, body.text, by=by))


@router.post("/council/motions/{motion_id}/voting")
def open_voting(motion_id: Ref, body: OpenVotingIn, by: Operator, platform: PlatformDep) -> MotionOut:
    return MotionOut.of(platform.votes.open(motion_id, by=by, closes_at=body.closes_at))


@router.post("/council/motions/{motion_id}/close")
def close_voting(motion_id: Ref, by: Operator, platform: PlatformDep) -> MotionOut:
    return MotionOut.of(platform.votes.close(motion_id, by=by))


@router.get("/council/motions/{motion_id}/ballots")
def list_ballots(motion_id: Ref, platform: PlatformDep) -> list[BallotOut]:
    return [BallotOut.of(b) for b in platform.votes.ballots(motion_id)]


@router.post("/council/motions/{motion_id}/ballots", status_code=status.HTTP_201_CREATED)
def cast_ballot(motion_id: Ref, body: BallotIn, by: Delegate, platform: PlatformDep) -> BallotOut:
    return BallotOut.of(platform.votes.cast(motion_id, body.choice, by=by, member_state=body.member_state))


@router.put("/council/motions/{motion_id}/ballots/{member_state}")
def change_ballot(
    motion_id: Ref, member_state: Ref, body: BallotChangeIn, by: Delegate, platform: PlatformDep
) -> BallotOut:
    return BallotOut.of(platform.votes.change(motion_id, body.choice, by=by, member_state=member_state))


@router.get("/council/motions/{motion_id}/tally-files")
def tally_files(motion_id: Ref, platform: PlatformDep) -> TallyFilesOut:
    rules, ballots = platform.votes.tally_files(motion_id)
    return TallyFilesOut(rules=rules, ballots=ballots)


@router.get("/council/rules")
def get_rules(platform: PlatformDep) -> dict[str, Any]:
    return rule_set_data(platform.council.rules())


@router.put("/council/rules")
def install_rules(body: JsonObject, by: Operator, platform: PlatformDep) -> PolicyOut:
    return PolicyOut.of(platform.council.install_rules(parse_rule_set(body), by=by))


@router.get("/policies")
def policy_history(platform: PlatformDep) -> list[PolicyOut]:
    return [PolicyOut.of(p) for p in platform.policies.history()]


@router.get("/policies/in-force")
def policies_in_force(
    platform: PlatformDep, at: Annotated[Instant | None, Query()] = None
) -> PoliciesInForceOut:
    when = at or platform.clock.now()
    split = platform.policies.pool_split(when)
    return PoliciesInForceOut(
        at=when,
        member_shares={k: str(v) for k, v in platform.policies.member_shares(when).items()},
        pool_split={p.value: str(split.share(p)) for p in Pool},
        rules_name=platform.council.rules(when).name,
        policies=[PolicyOut.of(p) for p in platform.policies.all_in_force(when)],
    )
