"""Hierarchical fair share: member state -> project -> user, over usage that decays with a half-life.

Entitlements are data (the governance and allocation domains feed them; the simulator reads them
from the trace or a file). A member's *score* is its fraction of recent usage divided by its
fraction of the entitlements: below 1 it is under its share and goes first. Inside a member,
projects compete the same way by their award weights, and inside a project, users equally.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pnyx.scheduler.model import CLASS_RANK, PriorityClass, Running

Group = tuple[PriorityClass, str, str, str]  # (class, member, project, user)
UserKey = tuple[str, str, str]  # (member, project, user)
DAY_S = 86_400.0
HALF_LIFE_S = 7 * DAY_S  # Slurm's PriorityDecayHalfLife default
FORGOTTEN = 1e-3  # decayed accelerator-seconds below this are dropped from the history
UNKNOWN_SHARE = 1e-6  # a member without an entitlement only gets what nobody entitled wants


@dataclass(frozen=True, slots=True, kw_only=True)
class Shares:
    members: Mapping[str, float]  # entitlement weights (any scale; normalised here)
    projects: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (member, project) -> award
    half_life_s: float = HALF_LIFE_S

    def member_share(self, member: str) -> float:
        total = sum(self.members.values())
        weight = self.members.get(member, 0.0)
        return weight / total if total > 0 and weight > 0 else UNKNOWN_SHARE


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Decayed accelerator-seconds per user (members and projects are sums of their users)."""

    at: float = 0.0
    by_user: Mapping[UserKey, float] = field(default_factory=dict)


def decay(half_life_s: float, elapsed_s: float) -> float:
    return 0.5 ** (elapsed_s / half_life_s) if half_life_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Span:
    """``accelerators`` held by one user from ``start_s`` until ``end_s`` (None: still held)."""

    key: UserKey
    accelerators: int
    start_s: float
    end_s: float | None = None


def spans_of(running: Iterable[Running], end_s: float | None = None) -> list[Span]:
    """The spans of these runs, still held (``end_s`` None) or stopped at ``end_s``."""
    return [
        Span((r.job.member, r.job.project, r.job.user), r.placement.accelerators, r.start_s, end_s)
        for r in running
    ]


def accrued(span: Span, now: float, half_life_s: float) -> float:
    """The span's accelerator-seconds up to ``now``, each decayed by its age (the exact integral)."""
    end = now if span.end_s is None else min(span.end_s, now)
    start = min(span.start_s, end)
    rate = math.log(2) / half_life_s
    return span.accelerators * (decay(half_life_s, now - end) - decay(half_life_s, now - start)) / rate


def fold(usage: Usage, spans: Iterable[Span], now: float, half_life_s: float) -> Usage:
    """``usage`` decayed to ``now`` plus each span's decayed accelerator-seconds up to ``now``.

    The one rule the twin and the dispatcher share: both fold the work finished since the last cycle
    into the history they keep, then fold the work still running into that cycle's usage. A span
    must not be folded twice into the same history."""
    factor = decay(half_life_s, max(0.0, now - usage.at))
    out = {k: v * factor for k, v in usage.by_user.items() if v * factor > FORGOTTEN}
    rate, get = math.log(2) / half_life_s, out.get  # a zero half-life raises, as it always has
    if half_life_s < 0:  # nothing is remembered: every span adds 0
        return Usage(at=now, by_user=out)
    for span in spans:  # ``accrued``, inlined: this runs over every running job each cycle
        end_s = span.end_s
        if end_s is None or end_s >= now:  # held up to now: its end decays by 0.5 ** 0.0, exactly 1.0
            gone = 0.5 ** ((now - min(span.start_s, now)) / half_life_s)
            added = span.accelerators * (1.0 - gone) / rate
        else:
            start = min(span.start_s, end_s)
            gone = 0.5 ** ((now - start) / half_life_s)
            added = span.accelerators * (0.5 ** ((now - end_s) / half_life_s) - gone) / rate
        if added > 0:
            out[span.key] = get(span.key, 0.0) + added
    return Usage(at=now, by_user=out)


def advance(usage: Usage, now: float, held: Mapping[UserKey, int], half_life_s: float) -> Usage:
    """``fold`` of accelerators ``held`` since ``usage.at``, each user's as one span."""
    return fold(usage, [Span(key, n, usage.at) for key, n in held.items() if n], now, half_life_s)


def award_shares(
    members: Mapping[str, float],
    awards: Iterable[tuple[str, str, float]],
    *,
    half_life_s: float = HALF_LIFE_S,
) -> Shares:
    """The shares in force: members' entitlements and, inside each member, its projects weighted by
    their awarded hours ((member, project, hours); a project without an award weighs 1 hour)."""
    projects: dict[tuple[str, str], float] = {}
    for member, project, hours in awards:
        if hours > 0:
            projects[member, project] = projects.get((member, project), 0.0) + hours
    return Shares(members=dict(members), projects=projects, half_life_s=half_life_s)


def order_groups(groups: Iterable[Group], shares: Shares, usage: Usage) -> list[Group]:
    """Groups in fair order: class first, then member, project and user scores (lowest first)."""
    listed = list(groups)
    member_use, project_use = used_by(usage)
    total = sum(member_use.values())
    projects_of: dict[str, set[str]] = defaultdict(set)
    users_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for m, p, u in [*usage.by_user, *((g[1], g[2], g[3]) for g in listed)]:
        projects_of[m].add(p)
        users_of[m, p].add(u)

    weight_total = sum(shares.members.values())
    member_scores: dict[str, float] = {}
    project_weights: dict[str, tuple[dict[str, float], float]] = {}

    def member_score(m: str) -> float:
        if m not in member_scores:
            member_scores[m] = _member_score(shares, weight_total, member_use[m], total, m)
        return member_scores[m]

    def project_share(m: str, p: str) -> float:
        if m not in project_weights:
            weights = {q: shares.projects.get((m, q), 1.0) for q in sorted(projects_of[m])}
            project_weights[m] = (weights, sum(weights.values()))
        weights, weight_sum = project_weights[m]
        return weights[p] / weight_sum

    def key(g: Group) -> tuple[int, float, float, float, Group]:
        _c, m, p, u = g
        p_score = _score(project_use[m, p], member_use[m], project_share(m, p))
        u_score = _score(usage.by_user.get((m, p, u), 0.0), project_use[m, p], 1 / len(users_of[m, p]))
        return (CLASS_RANK[g[0]], member_score(m), p_score, u_score, g)

    return sorted(listed, key=key)


def used_by(usage: Usage) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """Decayed use per member state and per (member, project), summed in the usage's own order."""
    member_use: dict[str, float] = defaultdict(float)
    project_use: dict[tuple[str, str], float] = defaultdict(float)
    for (m, p, _u), v in usage.by_user.items():
        member_use[m] += v
        project_use[m, p] += v
    return member_use, project_use


def member_scores(shares: Shares, usage: Usage, members: Iterable[str]) -> dict[str, float]:
    """Each member state's fair-share score as ``order_groups`` ranks it (lowest goes first)."""
    member_use, _ = used_by(usage)
    total, weight_total = sum(member_use.values()), sum(shares.members.values())
    return {m: _member_score(shares, weight_total, member_use[m], total, m) for m in members}


def _member_score(shares: Shares, weight_total: float, used: float, total: float, m: str) -> float:
    weight = shares.members.get(m, 0.0)
    share = weight / weight_total if weight_total > 0 and weight > 0 else UNKNOWN_SHARE
    return _score(used, total, share)


def _score(used: float, of_total: float, share: float) -> float:
    """Fraction of usage over fraction of entitlement: under 1 means under share."""
    return (used / of_total if of_total > 0 else 0.0) / share
