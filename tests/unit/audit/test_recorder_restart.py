"""Real dispatch cycles under the council's shares and an award (issue 14): the shares every record
uses are the ones the log's own governance and allocation entries give, and the replay checks them;
a restarted dispatcher's reset record names the last record written before it, read back from the
outbox or from the log, and a record removed before it is named. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pnyx.allocation.events import AllocationCreated
from pnyx.allocation.model import Allocation, CallId, ProjectId, ProposalId
from pnyx.allocation.weights import award_weights
from pnyx.audit import bundle
from pnyx.audit.ledger import joined
from pnyx.audit.replay import CYCLE, replay
from pnyx.audit.version import scheduler_version
from pnyx.core.canonical import canonical_json
from pnyx.core.clock import FrozenClock
from pnyx.core.ids import UserId
from pnyx.core.units import AcceleratorHours
from pnyx.dispatch import decision_log
from pnyx.dispatch.decision_log import DecisionRecorder
from pnyx.dispatch.fair import FairShare
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.fake import FakeExecutor
from pnyx.governance.council import record_policy, sha256
from pnyx.governance.motion import Motion, MotionDecided, MotionId, MotionState, MotionTabled
from pnyx.governance.motion_store import MotionRepository
from pnyx.governance.policy import EntitlementFormula, Pool, SetEntitlementFormula, effect_data
from pnyx.identity.model import Principal, Role
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.fairshare import Span
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform
from tests.dispatch.test_decision_records import logged
from tests.unit.audit.test_bundle import isolated
from tests.unit.audit.test_bundle_replay import _served, _written

ANA = Principal(user_id=UserId("usr_ana"), name="ana", roles=frozenset({Role.RESEARCHER}))
Entries = list[tuple[int, dict[str, Any]]]


class StateProjects:
    def project(self, project_id: str) -> ProjectInfo | None:
        state = project_id.split("-", maxsplit=1)[0].upper()
        return ProjectInfo(id=project_id, member_state=state, members=frozenset(), over_budget=False)


@dataclass
class Awarded:
    """Fair share's ledger over one award (production's ``award_weights``), no finished work."""

    allocations: Sequence[Allocation]

    def finished(
        self, ended_since: datetime | None, known: Collection[str] = ()
    ) -> Sequence[tuple[str, Span]]:
        return ()

    def awards(self, at: datetime) -> Iterable[tuple[str, str, float]]:
        return award_weights(self.allocations, at)


def _council(platform: Platform, now: datetime) -> Allocation:
    """DE (600 a year, but 300 in cash and 500 in kind this year) and FR (400); the council counts
    cash only; project de-a holds an award of 500 hours, logged as the award service logs it."""
    platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=600, population=84)
    platform.member_states.admit(code="FR", name="France", contribution_minor_units=400, population=68)
    platform.member_states.record_contribution("DE", now.year, cash=300, in_kind=500)
    award = Allocation(
        project_id=ProjectId("de-a"),
        call_id=CallId("call"),
        proposal_id=ProposalId("prop"),
        title="t",
        pi_user_id=UserId("usr_ana"),
        member_state="DE",
        pool=Pool.MEMBER_POOLS,
        hours={"H100-SXM": AcceleratorHours(Decimal(500))},
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        created_at=now,
    )
    with platform.uow.write() as tx:
        cash = SetEntitlementFormula(formula=EntitlementFormula.CASH)
        since = now - timedelta(days=1)
        MotionRepository(tx.conn).add(
            Motion(
                id=MotionId("mot_cash"),
                title="cash only",
                text="cash only",
                decision_type="ordinary",
                effect=cash,
                state=MotionState.ADOPTED,
                tabled_by="usr_ana",
                member_state="DE",
                created_at=now,
            )
        )
        tx.emit(  # the motion the policy carries out, as the vote service logs it (tabled, decided)
            MotionTabled(
                motion_id="mot_cash",
                title="cash only",
                text_sha256=sha256("cash only"),
                decision_type="ordinary",
                effect=effect_data(cash),
                tabled_by="usr_ana",
                member_state="DE",
                amends=None,
                effective_from=since,
            )
        )
        tx.emit(MotionDecided(motion_id="mot_cash", state="adopted", amends=None))
        record_policy(tx, cash, motion_id="mot_cash", effective_from=since)
        tx.emit(
            AllocationCreated(
                project_id=award.project_id,
                call_id=award.call_id,
                proposal_id=award.proposal_id,
                member_state=award.member_state,
                pool=award.pool,
                hours={"H100-SXM": "500"},
                starts_at=award.starts_at,
                ends_at=award.ends_at,
            )
        )
    return award


def _dispatcher(
    platform: Platform,
    clock: FrozenClock,
    jobs: JobService,
    fake: FakeExecutor,
    lock: Path,
    award: Allocation,
) -> Dispatcher:
    return Dispatcher(
        jobs=jobs,
        topology=platform.topology.topology,
        executors={"fake": fake},
        shares=FairShare(platform.member_shares, Awarded([award])),
        clock=clock,
        policy=policy_named("full"),
        leadership=FileLeadership(lock),
        decisions=DecisionRecorder(platform.uow),
    )


def _submit(jobs: JobService, project: str) -> str:
    wanted = Submission(
        name=project,
        project=project,
        accelerators=8,
        estimate_s=86_400,
        accelerator_type="H100-SXM",
        command=("train",),
        engine="fake",
    )
    return jobs.submit(ANA, wanted).id


def _restarted_log(
    platform: Platform, clock: FrozenClock, tmp_path: Path, drained: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[Entries, int]:
    """Two records of one dispatcher, then a new dispatcher's reset record; checked as it goes. The
    log's entries and the reset record's index."""
    monkeypatch.setattr(decision_log, "PAGE", 1)  # read back a part at a time: every page is walked
    platform.inventory.generate(48, seed=1)  # three nodes of eight H100s
    award = _council(platform, clock.now())
    fake = FakeExecutor(clock)
    jobs = JobService(
        platform.uow,
        projects=StateProjects(),
        executors={"fake": fake},
        default_engine="fake",
        fits=fit_check(platform.topology),
    )
    first = _dispatcher(platform, clock, jobs, fake, tmp_path / "lock", award)
    try:
        for project in ("de-a", "fr-a"):
            _submit(jobs, project)
            first.cycle()
            clock.advance(timedelta(minutes=5))
    finally:
        first.close()
    if drained:
        platform.log.drain()
    second = _dispatcher(platform, clock, jobs, fake, tmp_path / "lock", award)
    try:
        _submit(jobs, "de-b")
        second.cycle()
    finally:
        second.close()

    entries = logged(platform)
    records = [(i, e["data"]) for i, e in entries if e["type"] == CYCLE]
    assert [d["seq"] for _, d in records] == [1, 2, 1]
    shares = joined([records[0][1]])["shares"]  # a record of one part: its lists joined in place
    assert shares["members"] == [
        ["DE", float(Decimal(3) / Decimal(7))],
        ["FR", float(Decimal(4) / Decimal(7))],
    ]
    assert shares["projects"] == [["DE", "de-a", 500]]
    assert records[0][1]["body"]["follows"] is None
    assert records[2][1]["body"]["follows"]["seq"] == 2

    report = replay(entries, {scheduler_version()})
    assert report.problems == []
    assert report.agreed == 3
    assert report.notes == []  # the shares were checked
    assert report.resets == [records[2][0]]

    gone = [(i, e) for i, e in entries if i != records[1][0]]
    said = [p for p in replay(gone, {scheduler_version()}).problems if p.index == records[2][0]]
    assert any("record(s) missing or altered between" in p.message for p in said)
    return entries, records[2][0]


@pytest.mark.parametrize("drained", [False, True], ids=["in-the-outbox", "in-the-log"])
def test_a_restart_names_the_last_record_and_the_shares_are_the_councils(
    platform: Platform, clock: FrozenClock, tmp_path: Path, drained: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _restarted_log(platform, clock, tmp_path, drained, monkeypatch)


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "pnyx-audit.pyz"
    bundle.write(bundle.plan(), out)
    return out


def test_the_standalone_auditor_checks_the_shares_too(
    platform: Platform, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pyz: Path
) -> None:
    """The bundle (no Pnyx, no site-packages) checks the same shares: the honest log passes, checked;
    the same log with a member's weight changed in the reset record, signed anew, names it."""
    entries, reset = _restarted_log(platform, clock, tmp_path, True, monkeypatch)
    assert platform.log.signer is not None
    key = tmp_path / "log.vkey"
    key.write_text(platform.log.signer.vkey + "\n")
    ran = isolated(str(pyz), str(_served(platform, tmp_path / "log")), "--key", str(key))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "not checked" not in ran.stdout
    forged = [canonical_json(e) for _, e in entries]
    changed = json.loads(forged[reset])
    changed["data"]["body"]["shares"]["members"][0][1] = 0.9
    forged[reset] = canonical_json(changed)
    signed = _written(forged, platform.log.signer, tmp_path / "forged")
    ran = isolated(str(pyz), str(signed), "--key", str(key))
    assert ran.returncode == 1, ran.stdout + ran.stderr
    said = "record 1: shares: member state DE weighs 0.9 in the record; the council's entries give 0.428"
    assert said in ran.stdout + ran.stderr
