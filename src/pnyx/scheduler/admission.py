"""Admission at submit: a job that could never run is rejected with its reason, never left waiting."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pnyx.inventory.model import Facility
from pnyx.scheduler.model import Job, JobDoesNotFit
from pnyx.scheduler.topology import FACILITY, SITE, Topology, build_topology


def check_fits(job: Job, facility: Facility | Topology) -> None:
    """Raise ``JobDoesNotFit`` (stable ``code``, ``field``) unless the empty facility could hold the job."""
    t = facility if isinstance(facility, Topology) else build_topology(facility)
    if job.accelerators <= 0 or job.estimate_s <= 0:
        raise JobDoesNotFit(
            f"job {job.id} asks for {job.accelerators} accelerators for {job.estimate_s} s; both must be > 0",
            field="accelerators",
            code="job_invalid",
        )
    if job.accelerator_type is not None and all(p.accelerator_type != job.accelerator_type for p in t.pools):
        known = ", ".join(sorted({p.accelerator_type for p in t.pools}))
        raise JobDoesNotFit(
            f"job {job.id} asks for accelerator type {job.accelerator_type!r}, which the facility does not "
            f"have (it has: {known})",
            field="accelerator_type",
            code="accelerator_type_unknown",
        )
    pools = t.pools_for(job.accelerator_type, job.label)
    if not pools:
        raise JobDoesNotFit(
            f"job {job.id} is labelled {job.label.name}; no partition of its type is certified that high",
            field="label",
            code="label_unsupported",
        )
    largest = largest_gang(t, pools, exclusive=job.exclusive, cross_site=job.allow_cross_site)
    if job.accelerators > largest:
        raise _too_large(job, largest, crossing=_fits_crossing_sites(job, t, pools))


def _fits_crossing_sites(job: Job, t: Topology, pools: tuple[int, ...]) -> bool:
    """Whether a job held to one site would fit were it allowed to span sites."""
    if job.allow_cross_site:
        return False
    return job.accelerators <= largest_gang(t, pools, exclusive=job.exclusive, cross_site=True)


def _too_large(job: Job, largest: int, *, crossing: bool) -> JobDoesNotFit:
    hint = "; it fits if allowed to cross sites" if crossing else ""
    return JobDoesNotFit(
        f"job {job.id} asks for {job.accelerators} accelerators; the largest gang its type, label and "
        f"site constraint allow is {largest}{hint}",
        field="accelerators",
        code="job_too_large",
        remedy="allow_cross_site" if crossing else None,
    )


def largest_gang(t: Topology, pools: tuple[int, ...], *, exclusive: bool, cross_site: bool) -> int:
    level = FACILITY if cross_site else SITE
    if exclusive:
        return max((t.pool_max_nodes[level][p] * t.pools[p].per_node for p in pools), default=0)
    return max((t.pool_max_cap[level][p] for p in pools), default=0)


@contextmanager
def remedies_named(words: Mapping[str, str]) -> Iterator[None]:
    """At an edge: a refusal with a ``remedy`` says how the caller applies it there (``words``: remedy
    -> what to do, in the edge's terms: a CLI flag, an API field, a form's checkbox)."""
    try:
        yield
    except JobDoesNotFit as exc:
        said = words.get(exc.remedy or "")
        if said is None:
            raise
        raise JobDoesNotFit(
            f"{exc.message}: {said}", field=exc.field, code=exc.code, remedy=exc.remedy
        ) from exc
