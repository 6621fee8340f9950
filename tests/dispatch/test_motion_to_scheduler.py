"""End to end: a council motion changes member shares, and the scheduler's next cycle uses them.

Two member states each run one job on a facility with room for one more; each then queues one job
(the German one first). Under the contribution shares (DE 90%, FR 10%) Germany's job goes first.
The council adopts equal-opposite shares (DE 10%, FR 90%); in the very next cycle France's goes
first. The log holds the motion, every ballot, the tally, the policy and the jobs' changes.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from pnyx.core.clock import FrozenClock
from pnyx.core.ids import UserId
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import LOCAL_CONSOLE, Principal, Role
from pnyx.jobs.model import JobStatus
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform

RESEARCHER = Principal(user_id=UserId("usr_r"), name="r", roles=frozenset({Role.RESEARCHER}))


class StateProjects:
    def project(self, project_id: str) -> ProjectInfo | None:
        state = project_id.split("-", maxsplit=1)[0].upper()
        return ProjectInfo(id=project_id, member_state=state, members=frozenset(), over_budget=False)


def _job(jobs: JobService, project: str) -> str:
    return jobs.submit(
        RESEARCHER,
        Submission(
            name=project,
            project=project,
            accelerators=8,
            estimate_s=86_400,
            accelerator_type="H100-SXM",
            command=("train",),
            engine="fake",
        ),
    ).id


def test_an_adopted_motion_steers_the_next_cycle(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=900, population=84)
    platform.member_states.admit(code="FR", name="France", contribution_minor_units=100, population=68)
    platform.inventory.generate(48, seed=1)  # 24 H100-SXM: three 8-accelerator nodes
    fake = FakeExecutor()
    jobs = JobService(
        platform.uow,
        projects=StateProjects(),
        executors={"fake": fake},
        default_engine="fake",
        fits=fit_check(platform.topology),
    )
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=platform.topology.topology,
        executors={"fake": fake},
        shares=platform.policies.member_shares,
        clock=clock,
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "lock"),
    )

    try:
        _contest(platform, clock, jobs, dispatcher)
    finally:
        dispatcher.leadership.release()


def _contest(platform: Platform, clock: FrozenClock, jobs: JobService, dispatcher: Dispatcher) -> None:
    first = [_job(jobs, "de-base"), _job(jobs, "fr-base")]
    assert dispatcher.cycle().started == 2
    clock.advance(timedelta(hours=1))
    de_one, fr_one = _job(jobs, "de-one"), _job(jobs, "fr-one")
    assert dispatcher.cycle().started == 1
    assert jobs.get(LOCAL_CONSOLE, de_one).status is JobStatus.RUNNING  # DE holds 90%: it goes first
    assert jobs.get(LOCAL_CONSOLE, fr_one).status is JobStatus.PENDING

    # The council reverses the shares, in force at once.
    delegates = {}
    for code in ("DE", "FR"):
        user = platform.identity.register_user(
            name=f"del{code.lower()}", roles=["delegate"], member_state=code
        )
        delegates[code] = Principal(user_id=user.id, name=user.name, roles=user.roles)
    motion = platform.council.table(
        title="Rebalance entitlements",
        text="France's share rises to nine tenths.",
        decision_type="ordinary",
        effect={"type": "set_member_shares", "shares": {"DE": "1/10", "FR": "9/10"}},
        effective_from=clock.now(),
        by=delegates["FR"],
    )
    platform.votes.open(motion.id, by=LOCAL_CONSOLE)
    platform.votes.cast(motion.id, "yes", by=delegates["FR"])
    platform.votes.cast(motion.id, "yes", by=delegates["DE"])
    assert platform.votes.close(motion.id, by=LOCAL_CONSOLE).outcome is not None
    assert platform.policies.member_shares(clock.now()) == {"DE": Decimal("0.1"), "FR": Decimal("0.9")}

    # Free the slot, and queue a new German job ahead of the waiting French one's next rival.
    jobs.cancel(LOCAL_CONSOLE, de_one)
    de_two = _job(jobs, "de-two")
    clock.advance(timedelta(minutes=1))
    dispatcher.cycle()  # reconciles the cancel, then schedules with the new shares
    assert jobs.get(LOCAL_CONSOLE, de_one).status is JobStatus.CANCELLED
    assert jobs.get(LOCAL_CONSOLE, fr_one).status is JobStatus.RUNNING
    assert jobs.get(LOCAL_CONSOLE, de_two).status is JobStatus.PENDING
    assert all(jobs.get(LOCAL_CONSOLE, j).status is JobStatus.RUNNING for j in first)

    platform.log.drain()
    entries = [json.loads(e.data) for e in platform.log.entries(0, platform.log.size())]
    types = [e["type"] for e in entries]
    for expected in (
        "governance.motion.tabled",
        "governance.motion.voting_opened",
        "governance.motion.tallied",
        "governance.motion.decided",
        "governance.policy.adopted",
        "jobs.job.submitted",
    ):
        assert expected in types, expected
    assert types.count("governance.ballot.cast") == 2
    started = [
        e["data"]["job_id"]
        for e in entries
        if e["type"] == "jobs.job.state_changed" and e["data"]["action"] == "dispatch"
    ]
    assert started.index(fr_one) > started.index(de_one)  # the order the shares decided, on the record
