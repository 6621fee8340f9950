"""What a simulation measured: counters, integrals over time, and hourly series for the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(slots=True, kw_only=True)
class Series:
    t_s: list[float] = field(default_factory=list)
    utilization: list[float] = field(default_factory=list)
    queue: list[int] = field(default_factory=list)
    lost_failures_acc_s: list[float] = field(default_factory=list)
    lost_preemptions_acc_s: list[float] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Recorder:
    """Mutable accumulators the engine feeds; ``summary`` turns them into metrics.json."""

    accelerators: int
    entitlements: Mapping[str, float]
    submitted: int = 0
    completed: int = 0
    rejected: int = 0
    preemptions: int = 0
    failures: int = 0
    interruptions: int = 0
    busy: int = 0  # accelerators allocated right now
    busy_acc_s: float = 0.0
    last_s: float = 0.0
    lost_failures_acc_s: float = 0.0
    lost_preemptions_acc_s: float = 0.0
    member_acc_s: dict[str, float] = field(default_factory=dict)
    jct_s: list[float] = field(default_factory=list)
    wait_s: list[float] = field(default_factory=list)
    series: Series = field(default_factory=Series)
    _sample_busy: float = 0.0
    _sample_at: float = 0.0

    def advance(self, now: float) -> None:
        if now > self.last_s:
            self.busy_acc_s += self.busy * (now - self.last_s)
            self.last_s = now

    def allocate(self, member: str, accelerators: int, seconds: float) -> None:
        self.member_acc_s[member] = self.member_acc_s.get(member, 0.0) + accelerators * seconds

    def sample(self, now: float, queued: int) -> None:
        self.advance(now)
        span = now - self._sample_at
        s = self.series
        s.t_s.append(now)
        busy = self.busy_acc_s - self._sample_busy
        s.utilization.append(busy / (self.accelerators * span) if span > 0 else 0.0)
        s.queue.append(queued)
        s.lost_failures_acc_s.append(self.lost_failures_acc_s)
        s.lost_preemptions_acc_s.append(self.lost_preemptions_acc_s)
        self._sample_busy, self._sample_at = self.busy_acc_s, now

    def shares(self) -> dict[str, tuple[float, float]]:
        """Per member: (received share, entitled share), both fractions."""
        received_total = sum(self.member_acc_s.values())
        entitled_total = sum(self.entitlements.values())
        names = sorted(set(self.entitlements) | set(self.member_acc_s))
        return {
            m: (
                self.member_acc_s.get(m, 0.0) / received_total if received_total else 0.0,
                self.entitlements.get(m, 0.0) / entitled_total if entitled_total else 0.0,
            )
            for m in names
        }

    def summary(self, *, horizon_s: float, wall_s: float, events: int) -> dict[str, float | int]:
        lost = self.lost_failures_acc_s + self.lost_preemptions_acc_s
        gaps = [abs(r - e) * 100 for r, e in self.shares().values()]
        return {
            "jobs_submitted": self.submitted,
            "jobs_completed": self.completed,
            "jobs_rejected": self.rejected,
            "utilization": _r(self.busy_acc_s / (self.accelerators * horizon_s) if horizon_s else 0.0),
            "goodput": _r(1 - lost / self.busy_acc_s if self.busy_acc_s else 1.0),
            "jct_mean_s": _r(_mean(self.jct_s)),
            "jct_p50_s": _r(percentile(self.jct_s, 50)),
            "jct_p99_s": _r(percentile(self.jct_s, 99)),
            "wait_mean_s": _r(_mean(self.wait_s)),
            "share_deviation_max": _r(max(gaps, default=0.0)),
            "preemptions": self.preemptions,
            "failures": self.failures,
            "interruptions": self.interruptions,
            "lost_to_failures_acc_h": _r(self.lost_failures_acc_s / 3600),
            "lost_to_preemptions_acc_h": _r(self.lost_preemptions_acc_s / 3600),
            "simulated_days": _r(horizon_s / 86_400),
            "wall_s": _r(wall_s),
            "sim_events_per_s": _r(events / wall_s if wall_s > 0 else 0.0),
        }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _r(x: float) -> float:
    return round(x, 6)
