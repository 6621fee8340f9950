"""The twin's fair-share usage, made cheaper (running spans kept, not rebuilt; ``accrued`` inlined in
``fold``), decides exactly as the plain rule: every running job's span rebuilt each cycle."""

from __future__ import annotations

import math
import random

from pnyx.inventory.rules import generate_facility
from pnyx.scheduler.fairshare import HALF_LIFE_S, Shares, Span, Usage, accrued, fold, spans_of
from pnyx.scheduler.model import Decisions
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import build_topology
from pnyx.sim.engine import SimConfig, Simulation
from pnyx.sim.experiment import entitlements
from pnyx.sim.synthetic import MIXES, Workload, generate


class Plain(Simulation):
    def fair_usage(self, at: float) -> Usage:
        half_life = self.config.shares.half_life_s
        self.history, self.finished = fold(self.history, self.finished, at, half_life), []
        return fold(self.history, spans_of(self.running.values()), at, half_life)


def _decisions(cls: type[Simulation], mix: str) -> list[tuple[float, Decisions]]:
    facility = generate_facility(2_048, seed=3)
    topology = build_topology(facility)
    members = entitlements(facility)
    trace = generate(topology, Workload(days=2, load=1.1, members=members, mix=MIXES[mix]), seed=3)
    log: list[tuple[float, Decisions]] = []
    config = SimConfig(policy=policy_named("full"), shares=Shares(members=members), days=2, seed=3)
    cls(topology, trace, config, on_decisions=lambda at, d: log.append((at, d))).run()
    return log


def test_the_cheaper_usage_decides_as_the_plain_rule() -> None:
    for mix in ("default", "frontier"):
        fast, plain = _decisions(Simulation, mix), _decisions(Plain, mix)
        assert sum(len(d.starts) for _, d in fast) > 100
        assert fast == plain


def test_fold_adds_each_span_decayed_to_now() -> None:
    rng = random.Random(5)
    spans = [
        Span(("DE", f"p{i % 3}", "u"), rng.randint(1, 64), rng.uniform(0, 5e5), rng.choice([None, 6e5]))
        for i in range(200)
    ]
    now = 7e5
    folded = fold(Usage(at=1e5, by_user={("DE", "p0", "u"): 1e6}), spans, now, HALF_LIFE_S)
    by_hand = {("DE", "p0", "u"): 1e6 * 0.5 ** (6e5 / HALF_LIFE_S)}
    for s in spans:
        by_hand[s.key] = by_hand.get(s.key, 0.0) + accrued(s, now, HALF_LIFE_S)
    assert folded.by_user.keys() == by_hand.keys()
    assert all(math.isclose(folded.by_user[k], v, rel_tol=1e-12) for k, v in by_hand.items())
    one_step = fold(Usage(), [Span(("FR", "p", "u"), 8, 0.0, 100.0)], 100.0, 1e9)
    assert math.isclose(one_step.by_user[("FR", "p", "u")], 800.0, rel_tol=1e-6)  # no decay: a x t
