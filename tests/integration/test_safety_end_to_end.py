"""Issue 11 end to end, through the real services on both databases (the engine is the fake one, the
dispatcher the real loop): a project self-assessed L1 that asks for L2 compute is classified L2, its
job is held until an officer confirms, runs on L2-certified nodes alone, and its output is read by no
L1 project until two distinct officers sign its release; an incident on it suspends its team's
tokens, stops its running job and freezes its outputs until two officers lift it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pnyx.adapters import AllocationProjects, AwardedProjects, JobContainment, JobOutputs, ProjectTeam
from pnyx.core.errors import Conflict, Forbidden, NotFound, Unauthenticated
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import IssuedToken, Principal
from pnyx.jobs.model import Artifact, EngineState, JobRecord, JobStatus
from pnyx.jobs.service import JobService, Submission
from pnyx.jobs.topology import fit_check
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.incident_service import FrozenSubjects, IncidentService
from pnyx.safety.model import ClassificationStatus, IncidentStatus, Label, Release, ReleaseStatus, SafetyLevel
from pnyx.safety.signing import approval_message
from pnyx.safety.verify import PublicKey, parse_entries, verify_release
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform
from tests.unit.allocation.allocation_builders import World

WEIGHTS = Artifact(path="ckpt/step-100.safetensors", sha256="a" * 64, size=7)
PUBLIC = Label(level=SafetyLevel.L1)  # a plain L1 label: no level above L1, no compartment
EVALS_L2 = ["safety-suite", "capability-screening"]  # by name, until the evaluation issue


class Facility:
    """Alice's project asks for L2 compute (grace confirmed she is on its team, hugo did not); bob's
    project is L1. Officers olga and omar hold Ed25519 keys. Jobs run on a fake engine through the
    real dispatcher; releases and incidents are the platform's services over the same jobs."""

    def __init__(self, platform: Platform, tmp_path: Path) -> None:
        self.platform = platform
        self.world = World(platform)
        for name in ("alice", "bob", "grace", "hugo"):
            self.world.user(name, ["researcher"])
        self.keys = {name: self._officer(name) for name in ("olga", "omar")}
        self.call = self.world.call()
        platform.allocation.open_call(self.call.id)
        platform.inventory.generate(64, seed=1)
        self.engine = FakeExecutor(platform.clock)
        self.jobs = JobService(
            platform.uow,
            projects=AllocationProjects(platform.awards, platform.accounting, platform.safety),
            fits=fit_check(platform.topology),
            executors={"fake": self.engine},
            default_engine="fake",
            policy=DEFAULT_POLICY,
            freezes=FrozenSubjects(platform.uow),
            releases=platform.releases,
        )
        self.incidents = IncidentService(
            platform.uow,
            projects=AwardedProjects(platform.awards),
            artifacts=JobOutputs(platform.uow),
            containment=JobContainment(self.jobs, platform.identity, ProjectTeam(platform.uow)),
        )
        self.dispatcher = Dispatcher(
            jobs=self.jobs,
            topology=platform.topology.topology,
            executors={"fake": self.engine},
            shares=lambda _at: {"DE": Decimal(1)},
            clock=platform.clock,
            policy=policy_named("full"),
            leadership=FileLeadership(tmp_path / "dispatch.lock"),
        )
        self.big = self._project("alice", hours=100_000, team=("grace", "hugo"))  # 1.4e23 FLOP: L2
        self.small = self._project("bob", hours=100)  # L1

    def __getitem__(self, name: str) -> Principal:
        return self.world[name]

    def _officer(self, name: str) -> Ed25519PrivateKey:
        self.world.user(name, ["safety-officer"])
        private = Ed25519PrivateKey.generate()
        raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.platform.safety.register_key(self.world[name], base64.b64encode(raw).decode("ascii"))
        return private

    def _project(self, pi: str, hours: int, team: tuple[str, ...] = ()) -> str:
        """An awarded project whose PI self-assessed it narrow and small (L1), asking ``hours``."""
        members = [{"name": n, "institution": "Uni Nowhere", "user": n} for n in team]
        assessment = {"planned_training_flop": 10**21, "general_purpose": False, "dual_use_data": False}
        proposal = self.world.propose(
            self.call,
            pi,
            requested_hours={"H100": hours},
            team=members,
            safety={**assessment, "open_weights_planned": True},
        )
        if "grace" in team:  # grace confirms she is on the team; hugo never does
            self.platform.allocation.confirm_membership(proposal.id, by=self.world["grace"])
        return self.world.award(self.call, proposal)

    def submit(self, who: str, project: str) -> JobRecord:
        s = Submission(name="train", project=project, accelerators=8, estimate_s=600, command=("t",))
        return self.jobs.submit(self[who], s)

    def job(self, job_id: str) -> JobRecord:
        return self.jobs.get(self["olga"], job_id)  # an officer sees every record

    def run_to_completion(self, job: JobRecord) -> None:
        """The engine ends the job with its weights; the dispatcher closes it and records them."""
        self.engine.finish(self.job(job.id).idempotency_key, EngineState.SUCCEEDED, artifacts=[WEIGHTS])
        self.dispatcher.cycle()
        assert self.dispatcher.outputs.wait(timeout=20)  # outputs are recorded off the dispatch thread
        assert self.job(job.id).status is JobStatus.COMPLETED

    def approve(self, release: Release, officer: str) -> Release:
        """The officer signs the approval text where their private key lives, here in the test."""
        signature = self.keys[officer].sign(approval_message(release))
        key_id = self.platform.safety.keys(officer)[0].key_id
        return self.platform.releases.approve(
            self[officer], release.id, key_id, base64.b64encode(signature).decode("ascii")
        )


@pytest.fixture
def facility(platform: Platform, tmp_path: Path) -> Iterator[Facility]:
    built = Facility(platform, tmp_path)
    yield built
    built.dispatcher.close()


def test_an_l1_self_assessment_asking_l2_compute_runs_at_l2_and_is_released_by_two_officers(
    facility: Facility, platform: Platform
) -> None:
    big, jobs = facility.big, facility.jobs

    # classified L2 from its requested compute, whatever it declared; its job waits for an officer
    job = facility.submit("alice", big)
    assert (job.status, job.label) == (
        JobStatus.HELD_FOR_SAFETY,
        Label(level=SafetyLevel.L2, categories=frozenset({f"project:{big}"})),
    )
    classified = platform.safety.classification(big)
    assert (classified.level, classified.status) == (SafetyLevel.L2, ClassificationStatus.PROPOSED)
    assert "L2 threshold" in classified.basis
    theirs = facility.submit("bob", facility.small)  # L1: no officer needed
    assert theirs.status is JobStatus.PENDING
    facility.dispatcher.cycle()
    assert facility.job(job.id).status is JobStatus.HELD_FOR_SAFETY  # held while nobody confirmed

    # an officer confirms: the next cycle releases it and places it on L2-certified nodes, alone
    platform.safety.confirm(big, by=facility["olga"])
    report = facility.dispatcher.cycle()
    assert report.released == 1
    running, other = facility.job(job.id), facility.job(theirs.id)
    assert (running.status, other.status) == (JobStatus.RUNNING, JobStatus.RUNNING)
    topology = platform.topology.topology()
    certified = {topology.pools[topology.node_pool[topology.index_of[n]]].level for n in running.node_ids}
    assert min(certified) >= SafetyLevel.L2
    assert not set(running.node_ids) & set(other.node_ids)  # exclusive: no other project beside it
    assert facility.engine.submitted[running.idempotency_key].safety_level is SafetyLevel.L2
    grant = facility.engine.grants[running.idempotency_key]
    assert grant.certification is not None
    assert grant.certification >= SafetyLevel.L2
    # Egress: the L2 control is a logged allowlist. On the local executor a job has no network at
    # all (bubblewrap --unshare-all: loopback only), stricter than L2 asks; the fake engine runs
    # nothing, so what is checked here is the partition (level) the engine is handed.

    # its outputs carry its label: its PI reads them, the L1 project's PI does not
    facility.run_to_completion(job)
    [weights] = jobs.artifacts(facility["alice"], job.id)
    assert weights.label == running.label
    with pytest.raises(NotFound):
        jobs.artifacts(facility["bob"], job.id)

    # only its project asks for its release: to another project's PI it does not exist
    artifact = f"{job.id}/{WEIGHTS.path}"
    with pytest.raises(NotFound) as outsider:
        platform.releases.request(
            facility["bob"],
            artifact=artifact,
            sha256=WEIGHTS.sha256,
            from_label=weights.label,
            to_label=PUBLIC,
        )
    assert (outsider.value.code, outsider.value.field) == ("artifact_not_found", "artifact")

    # a release to a plain L1 label: one officer's signed approval is not enough
    release = platform.releases.request(
        facility["alice"],
        artifact=artifact,
        sha256=WEIGHTS.sha256,
        from_label=weights.label,
        to_label=PUBLIC,
        evaluations=EVALS_L2,
    )
    release = facility.approve(release, "olga")
    assert release.status is ReleaseStatus.REQUESTED
    assert platform.releases.missing(release) == ("1 more approval(s) by: safety-officer",)
    with pytest.raises(Conflict):
        facility.approve(release, "olga")  # the same officer twice counts once
    with pytest.raises(NotFound):
        jobs.artifacts(facility["bob"], job.id)
    platform.log.drain()  # the public log names the weights by job and reference until released
    before = b"".join(e.data for e in platform.log.entries(0, platform.log.size()))
    assert WEIGHTS.path.encode() not in before

    # a second, distinct officer: released, and the L1 member reads the released record
    release = facility.approve(release, "omar")
    assert release.status is ReleaseStatus.RELEASED
    [record] = jobs.artifacts(facility["bob"], job.id)
    assert (record.path, record.sha256, record.label, record.release) == (
        WEIGHTS.path,
        WEIGHTS.sha256,
        PUBLIC,
        release.id,
    )
    [original] = jobs.artifacts(facility["alice"], job.id)
    assert (original.label, original.release) == (running.label, None)  # never relabelled
    assert platform.releases.released_of(artifact)[0].label == PUBLIC

    # anyone holding the log and the officers' public keys checks the decision offline
    platform.log.drain()
    exported = b"\n".join(e.data for e in platform.log.entries(0, platform.log.size()))
    registered = platform.safety.keys()
    keys = {k.key_id: PublicKey(user=k.user, key_id=k.key_id, public_key=k.public_key) for k in registered}
    verdict = verify_release(release.id, parse_entries(exported), keys)
    assert verdict.ok, verdict
    assert verdict.valid_approvers == ("olga", "omar")


def test_an_incident_suspends_the_team_stops_the_running_job_freezes_outputs_until_two_officers_lift(
    facility: Facility, platform: Platform
) -> None:
    big, jobs, identity = facility.big, facility.jobs, platform.identity
    tokens: dict[str, IssuedToken] = {n: identity.issue_token(n) for n in ("alice", "grace", "hugo", "bob")}
    platform.safety.ensure_classified(big)  # L2, proposed: an officer confirms it
    platform.safety.confirm(big, by=facility["olga"])
    done = facility.submit("alice", big)
    facility.dispatcher.cycle()
    facility.run_to_completion(done)
    running = facility.submit("alice", big)
    theirs = facility.submit("bob", facility.small)
    facility.dispatcher.cycle()
    assert facility.job(running.id).status is JobStatus.RUNNING

    incident = facility.incidents.open(facility["olga"], "project", big, "weights seen outside", True)

    # tokens: the PI's and the confirmed member's are suspended, and say so; others work
    suspended = {tokens["alice"].token.id, tokens["grace"].token.id}
    for name in ("alice", "grace"):
        with pytest.raises(Unauthenticated) as info:
            identity.authenticate(tokens[name].secret)
        assert info.value.code == "token_suspended"
        assert incident.id in info.value.message
    assert identity.authenticate(tokens["hugo"].secret).name == "hugo"  # never confirmed: not the team
    assert identity.authenticate(tokens["bob"].secret).name == "bob"

    # the running job is asked to stop; the dispatcher's next cycle stops it at its engine
    stopping = facility.job(running.id)
    assert (stopping.status, stopping.cancel_requested) == (JobStatus.RUNNING, True)
    facility.dispatcher.cycle()
    assert facility.engine.states[stopping.idempotency_key] is EngineState.CANCELLED
    assert facility.job(running.id).status is JobStatus.CANCELLED
    assert facility.job(theirs.id).status is JobStatus.RUNNING  # another project's work goes on

    # its outputs are frozen: even its PI (signed in another way) is refused, naming the incident
    for read in (jobs.artifacts, jobs.logs):
        with pytest.raises(Forbidden) as refused:
            read(facility["alice"], done.id)
        assert (refused.value.code, incident.id in refused.value.message) == ("artifact_frozen", True)
    with pytest.raises(Conflict) as frozen:
        facility.submit("alice", big)
    assert (frozen.value.code, incident.id in frozen.value.message) == ("project_frozen", True)

    actions = facility.incidents.actions(incident.id)
    assert ("freeze-artifact", f"project:{big}") in actions
    assert ("preempt-job", running.id) in actions
    assert {t for a, t in actions if a == "suspend-token"} == suspended

    # lifting takes two different officers: then tokens work again and outputs thaw
    facility.incidents.lift(facility["olga"], incident.id)
    with pytest.raises(Unauthenticated):
        identity.authenticate(tokens["alice"].secret)
    with pytest.raises(Conflict):
        facility.incidents.lift(facility["olga"], incident.id)
    lifted = facility.incidents.lift(facility["omar"], incident.id)
    assert (lifted.status, lifted.lift_by) == (IncidentStatus.LIFTED, ("olga", "omar"))
    assert identity.authenticate(tokens["alice"].secret).name == "alice"
    assert identity.authenticate(tokens["grace"].secret).name == "grace"
    assert [a.path for a in jobs.artifacts(facility["alice"], done.id)] == [WEIGHTS.path]
    assert facility.submit("alice", big).status is JobStatus.PENDING

    # every step is a public log entry; the tokens' secrets never are
    platform.log.drain()
    logged = [json.loads(e.data) for e in platform.log.entries(0, platform.log.size())]
    kinds = [e["type"] for e in logged]
    for kind in (
        "safety.incident.opened",
        "jobs.job.cancel_requested",
        "identity.token.suspended",
        "identity.token.restored",
        "safety.incident.lift_changed",
    ):
        assert kind in kinds, kind
    assert all(t.secret not in json.dumps(logged) for t in tokens.values())
