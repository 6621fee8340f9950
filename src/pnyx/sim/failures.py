"""The failure model: accelerators fail at a constant rate; a failure takes its node down.

Default rate from Llama 3 (Meta, 2024): 419 unexpected interruptions in 54 days on 16,384 H100
GPUs, i.e. 419 / (54 x 86,400 x 16,384) = 5.48e-9 per accelerator-second, about 47 a day at
100,000 accelerators. Repair times are not in that paper: we assume an exponential repair with a
4-hour mean (reboot, reseat or swap), and a node that fails ``drain_after`` times within
``drain_window_s`` is drained for ``drain_s`` (sent for RMA) instead.
"""

from __future__ import annotations

from dataclasses import dataclass

LLAMA3_INTERRUPTIONS = 419
LLAMA3_DAYS = 54
LLAMA3_GPUS = 16_384
DEFAULT_RATE = LLAMA3_INTERRUPTIONS / (LLAMA3_DAYS * 86_400 * LLAMA3_GPUS)


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureModel:
    rate_per_accelerator_s: float = DEFAULT_RATE
    repair_mean_s: float = 4 * 3600.0
    drain_after: int = 3
    drain_window_s: float = 7 * 86_400.0
    drain_s: float = 7 * 86_400.0
    restart_s: float = 0.0  # extra time a requeued job loses (not modelled by default)

    @property
    def enabled(self) -> bool:
        return self.rate_per_accelerator_s > 0

    def per_day(self, accelerators: int) -> float:
        return self.rate_per_accelerator_s * accelerators * 86_400


NO_FAILURES = FailureModel(rate_per_accelerator_s=0.0)


class NodeHistory:
    """Failure times per node, to decide when a node is drained rather than repaired."""

    __slots__ = ("_times",)

    def __init__(self) -> None:
        self._times: dict[int, list[float]] = {}

    def record(self, node: int, now: float, model: FailureModel) -> bool:
        """Record a failure; True when the node has now failed often enough to be drained."""
        times = [t for t in self._times.get(node, []) if now - t <= model.drain_window_s]
        times.append(now)
        self._times[node] = times
        return len(times) >= model.drain_after
