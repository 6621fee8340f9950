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

from pnyx.scheduler.model import CLASS_RANK, PriorityClass

Group = tuple[PriorityClass, str, str, str]  # (class, member, project, user)
UserKey = tuple[str, str, str]  # (member, project, user)
DAY_S = 86_400.0
UNKNOWN_SHARE = 1e-6  # a member without an entitlement only gets what nobody entitled wants


@dataclass(frozen=True, slots=True, kw_only=True)
class Shares:
    members: Mapping[str, float]  # entitlement weights (any scale; normalised here)
    projects: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (member, project) -> award
    half_life_s: float = 7 * DAY_S  # Slurm's PriorityDecayHalfLife default

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


def advance(usage: Usage, now: float, held: Mapping[UserKey, int], half_life_s: float) -> Usage:
    """Decay ``usage`` to ``now`` and add what ``held`` accelerators accrued meanwhile (exact integral)."""
    dt = now - usage.at
    if dt <= 0:
        return usage
    factor = decay(half_life_s, dt)
    rate = math.log(2) / half_life_s
    accrued = (1 - factor) / rate if rate > 0 else dt
    out = {k: v * factor for k, v in usage.by_user.items() if v * factor > 1e-3}
    for key, accelerators in held.items():
        if accelerators:
            out[key] = out.get(key, 0.0) + accelerators * accrued
    return Usage(at=now, by_user=out)


def order_groups(groups: Iterable[Group], shares: Shares, usage: Usage) -> list[Group]:
    """Groups in fair order: class first, then member, project and user scores (lowest first)."""
    listed = list(groups)
    member_use: dict[str, float] = defaultdict(float)
    project_use: dict[tuple[str, str], float] = defaultdict(float)
    for (m, p, _u), v in usage.by_user.items():
        member_use[m] += v
        project_use[m, p] += v
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
            weight = shares.members.get(m, 0.0)
            share = weight / weight_total if weight_total > 0 and weight > 0 else UNKNOWN_SHARE
            member_scores[m] = _score(member_use[m], total, share)
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


def _score(used: float, of_total: float, share: float) -> float:
    """Fraction of usage over fraction of entitlement: under 1 means under share."""
    return (used / of_total if of_total > 0 else 0.0) / share
