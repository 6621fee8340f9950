"""Seed a demo facility through the ordinary services, so every record is also in the log.

The facility's recent history (a council vote on the pool split, an open call with peer review and
awards, a month of usage) is replayed with a clock set back in time, so that today the demo has
active allocations, a policy in force and a usage chart. Records made for the demo are named so:
projects' usage history carries job ids ``demo-history-*``. Both awarded projects classify as L2
(a general-purpose model): the safety officer confirms the first, so its jobs really run; the other
stays proposed, its jobs held for safety, so the officer's queue has something to show.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pnyx.allocation.model import (
    ApplicantType,
    CallMode,
    Eligibility,
    ProposalContent,
    ReviewPlan,
    SafetySelfAssessment,
    TeamMember,
    TechnicalSection,
    Timeline,
)
from pnyx.core.clock import FrozenClock
from pnyx.core.units import AcceleratorHours
from pnyx.governance.policy import Pool
from pnyx.identity.model import LOCAL_CONSOLE, IssuedToken, Principal
from pnyx.jobs.service import Submission
from pnyx.registry.samples import write_samples
from pnyx.safety.model import SafetyLevel
from pnyx.wiring import Platform, build_platform

# (code, name, annual contribution in EUR, population). Illustrative figures, not real budgets.
MEMBER_STATES: tuple[tuple[str, str, int, int], ...] = (
    ("DE", "Germany", 410_000_000, 84_600_000),
    ("FR", "France", 330_000_000, 68_400_000),
    ("IT", "Italy", 250_000_000, 58_900_000),
    ("ES", "Spain", 180_000_000, 48_600_000),
    ("NL", "Netherlands", 120_000_000, 17_900_000),
    ("FI", "Finland", 60_000_000, 5_600_000),
    ("GB", "United Kingdom", 300_000_000, 68_300_000),
    ("CA", "Canada", 170_000_000, 40_100_000),
    ("AU", "Australia", 110_000_000, 27_000_000),
)

# (user name, roles, member state); every member state also gets a delegate named del-<code>.
USERS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("olga", ("operator",), None),
    ("ada", ("researcher",), "DE"),
    ("benoit", ("researcher",), "FR"),
    ("rhea", ("reviewer",), None),
    ("ravi", ("reviewer",), None),
    ("ruth", ("reviewer",), None),
    ("sam", ("safety-officer",), None),
    ("sofia", ("safety-officer",), None),  # a release from L2 takes two officers' approvals
    ("aud", ("auditor",), None),
)
HOME = {name: state for name, _roles, state in USERS}  # each demo user's member state
REVIEWERS = {"rhea": "ETH Zurich", "ravi": "Inria", "ruth": "KTH"}
SAFETY_OFFICER = "sam"
HISTORY = timedelta(days=120)  # the replayed history starts this long ago


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoResult:
    seeded: bool
    tokens: tuple[tuple[str, IssuedToken], ...]
    log_entries: int
    projects: tuple[tuple[str, str, bool], ...] = ()  # (project id, its PI, confirmed: its jobs run)
    dataset: str | None = None  # the public demo dataset's version


def seed_demo(platform: Platform, *, accelerators: int = 100_000, seed: int = 0) -> DemoResult:
    """Seed an empty facility. A facility that already has member states is left as it is."""
    if platform.member_states.list():
        return DemoResult(seeded=False, tokens=(), log_entries=platform.log.drain())
    clock = FrozenClock(platform.clock.now() - HISTORY)
    past = build_platform(platform.settings, clock=clock, signer=platform.log.signer)
    try:
        people = _founding(past, accelerators, seed)
        _pool_split_vote(past, people)
        projects = _open_call(past, clock, people)
        clock.advance(platform.clock.now() - clock.now() - timedelta(days=30))
        _usage_history(past, clock, projects, random.Random(seed))
    finally:
        past.engine.dispose()
    names = [*(name for name, _r, _s in USERS), "del-de"]  # and one delegate, to try the council
    tokens = tuple((name, _demo_token(platform, name)) for name in names)
    confirmed = _safety_review(platform, projects)
    _jobs_now(platform, people, projects)
    dataset = _open_dataset(platform)
    return DemoResult(
        seeded=True,
        tokens=tokens,
        log_entries=platform.log.drain(),
        projects=tuple((project, pi, project in confirmed) for project, pi in sorted(projects.items())),
        dataset=dataset,
    )


def _demo_token(p: Platform, name: str) -> IssuedToken:
    """The console enrols a demo user, and redeems the enrolment on their behalf (it is a demo)."""
    enrolment = p.identity.enrol(name, by=LOCAL_CONSOLE, label="demo", days=1)
    return p.identity.redeem(enrolment.secret, label="demo", days=30)


def _founding(p: Platform, accelerators: int, seed: int) -> dict[str, Principal]:
    for code, name, euros, population in MEMBER_STATES:
        p.member_states.admit(
            code=code,
            name=name,
            contribution_minor_units=euros * 100,
            population=population,
            joined_on=date(2026, 1, 1),
        )
    people = {}
    users = [*USERS, *((f"del-{c.lower()}", ("delegate",), c) for c, _n, _e, _p in MEMBER_STATES)]
    for name, roles, state in users:
        user = p.identity.register_user(
            name=name, roles=roles, member_state=state, display_name=name.capitalize()
        )
        people[name] = Principal(user_id=user.id, name=user.name, roles=user.roles)
    for name, institution in REVIEWERS.items():
        p.review.register_reviewer(name, institution=institution, expertise=["llm", "multilingual", "vision"])
    p.inventory.generate(accelerators, seed=seed)
    return people


def _pool_split_vote(p: Platform, people: dict[str, Principal]) -> None:
    """The council splits capacity: half to member-state pools, the rest to calls, SMEs and the reserve."""
    motion = p.council.table(
        title="Capacity split between pools",
        text="Member-state pools 50%, open calls 30%, SMEs 10%, director's reserve 10%.",
        decision_type="ordinary",
        effect={
            "type": "set_pool_split",
            "member_pools": "1/2",
            "open_calls": "3/10",
            "sme": "1/10",
            "directors_reserve": "1/10",
        },
        effective_from=p.clock.now(),
        by=people["del-de"],
    )
    p.votes.open(motion.id, by=LOCAL_CONSOLE)
    for code, _n, _e, _p in MEMBER_STATES:
        choice = "abstain" if code == "GB" else "yes"
        p.votes.cast(motion.id, choice, by=people[f"del-{code.lower()}"])
    p.votes.close(motion.id, by=LOCAL_CONSOLE)


def _open_call(p: Platform, clock: FrozenClock, people: dict[str, Principal]) -> dict[str, str]:
    """An open call, two proposals, technical and scientific review, a panel, awards."""
    start = clock.now()
    day = timedelta(days=1)
    call = p.allocation.create_call(
        title="Open access 2026: foundation models",
        mode=CallMode.REGULAR,
        pool=Pool.OPEN_CALLS,
        budget=3_000_000,
        eligibility=Eligibility(
            applicant_types=frozenset({ApplicantType.RESEARCHER}),
            max_request=AcceleratorHours(Decimal(2_000_000)),
        ),
        timeline=Timeline(
            opens_at=start,
            closes_at=start + 20 * day,
            review_deadline=start + 35 * day,
            decision_at=start + 40 * day,
            allocation_starts_at=start + 45 * day,
            allocation_ends_at=start + 410 * day,
        ),
        plan=ReviewPlan(technical_reviewers=1, scientific_reviewers=1),
    )
    p.allocation.open_call(call.id)
    requests = {
        "ada": ("OpenEuroLM: a 30B open multilingual model", 1_500_000),
        "benoit": ("Vision-language models for public archives", 900_000),
    }
    proposals = {}
    for pi, (title, hours) in requests.items():
        proposal = p.allocation.create_proposal(call.id, _proposal(people[pi], title, hours), by=people[pi])
        p.allocation.submit(proposal.id, by=people[pi])
        proposals[proposal.id] = pi
    clock.advance(21 * day)
    p.allocation.close_call(call.id)
    marks = {"ada": 5, "benoit": 4}
    reviewers = {people[name].user_id: people[name] for name in REVIEWERS}
    for assignment in p.review.start_review(call.id):
        rubric = (
            ("feasibility", "scaling", "resilience", "data_readiness")
            if assignment.kind.value == "technical"
            else ("excellence", "impact", "methodology", "team")
        )
        p.review.submit_review(
            assignment.proposal_id,
            scores=dict.fromkeys(rubric, marks[proposals[assignment.proposal_id]]),
            comments="Demo review.",
            by=reviewers[assignment.reviewer_id],
        )
    clock.advance(15 * day)
    p.awards.rank(call.id)
    made = p.awards.decide(call.id, seed=1)
    return {a.project_id: ("ada" if a.member_state == "DE" else "benoit") for a in made}


def _proposal(pi: Principal, title: str, hours: int) -> ProposalContent:
    assert pi.user_id is not None
    return ProposalContent(
        title=title,
        abstract="Training an openly licensed model with published data order and checkpoints.",
        keywords=frozenset({"llm", "multilingual"}),
        applicant_type=ApplicantType.RESEARCHER,
        team=(
            TeamMember(
                name=pi.name.capitalize(),
                institution=f"{pi.name.capitalize()} University",
                user_id=pi.user_id,
                role="pi",
            ),
        ),
        requested={"H100-SXM": AcceleratorHours(Decimal(hours))},
        technical=TechnicalSection(
            scaling_evidence="Weak scaling to 4,096 accelerators at 91% efficiency.",
            checkpointing="Every 30 minutes, sharded.",
            data_management="Hashed shards.",
        ),
        safety=SafetySelfAssessment(
            planned_training_flop=3 * 10**23,
            general_purpose=True,
            dual_use_data=False,
            open_weights_planned=True,
        ),
    )


def _usage_history(p: Platform, clock: FrozenClock, projects: dict[str, str], rng: random.Random) -> None:
    """A month of finished work per member state (demo records, job ids ``demo-history-*``): a state
    whose researcher holds an award works in that project (its pool and call are the allocation's,
    as accounting files them); the others in their member-state pool."""
    shares = p.policies.member_shares(clock.now())
    awarded = {HOME[pi]: project for project, pi in projects.items()}
    start = clock.now()
    for i in range(240):
        state = rng.choices(list(shares), weights=[float(v) + 0.03 for v in shares.values()])[0]
        began: datetime = start + timedelta(hours=rng.uniform(0, 29 * 24))
        project = awarded.get(state)
        p.accounting.record_usage(
            job_id=f"demo-history-{i:04d}",
            project_id=project or f"demo-{state.lower()}-pool",
            accelerator_type=rng.choice(["H100-SXM", "H200", "GB200", "MI300X"]),
            accelerators=rng.choice([64, 256, 512, 1024, 2048]),
            started_at=began,
            ended_at=began + timedelta(hours=rng.uniform(2, 40)),
            member_state=state,
            pool=None if project else Pool.MEMBER_POOLS.value,
        )


def _safety_review(p: Platform, projects: dict[str, str]) -> set[str]:
    """Every project is classified from its proposal; the safety officer confirms all but the last,
    which waits in the officer's queue (its jobs held for safety until someone confirms it).
    Returns the projects whose jobs run."""
    officer = p.identity.principal_of(SAFETY_OFFICER)
    ordered = sorted(projects, key=lambda project: projects[project])  # ada's, then benoit's
    running = set()
    for project in ordered:
        waits = p.safety.ensure_classified(project).holds_jobs  # above L1: an officer must confirm
        if waits and project != ordered[-1]:
            p.safety.confirm(project, by=officer)
        if not waits or project != ordered[-1]:
            running.add(project)
    return running


def _jobs_now(p: Platform, people: dict[str, Principal], projects: dict[str, str]) -> None:
    """A few real jobs for the local executor: the server's dispatcher runs them."""
    py = "python3"  # on the sandbox's PATH; the server's own interpreter is not in the sandbox
    for project, pi in projects.items():
        who = p.identity.principal_of(people[pi].name)
        p.jobs.submit(
            who,
            Submission(
                name="tokenizer-check",
                project=project,
                accelerators=8,
                estimate_s=600,
                accelerator_type="H100-SXM",
                command=(py, "-c", "print('tokenizer ok: 50,257 entries')"),
            ),
        )
        p.jobs.submit(
            who,
            Submission(
                name="pretrain-smoke",
                project=project,
                accelerators=64,
                estimate_s=900,
                checkpoint_s=300,
                label=SafetyLevel.L2,
                command=(py, "-c", "import time\nfor s in range(60):\n print('step', s)\n time.sleep(5)"),
            ),
        )


DEMO_DATASET = "demo-multimodal"


def _open_dataset(p: Platform) -> str:
    """A public multimodal dataset the operator imported (samples the project generates: text, code,
    images, audio; nothing downloaded), for the registry pages and a first training job."""
    operator = p.identity.principal_of("olga")
    with tempfile.TemporaryDirectory(prefix="pnyx-demo-samples-") as directory:
        write_samples(Path(directory), per_source=24)
        imported = p.datasets.import_directory(
            operator,
            Path(directory),
            name=DEMO_DATASET,
            shard_samples=32,
            description="Generated demo samples: text, code, PGM images and WAV audio, under open licences.",
        )
    return imported.version.version
