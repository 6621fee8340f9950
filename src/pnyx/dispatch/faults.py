"""What the dispatcher makes of an engine call that failed for one job (pure).

One job's fault is that job's alone: an engine call for a job either succeeds, fails for a while
(``EngineUnavailable``: try again next cycle), is refused for good (``EngineRejected``), or raises
anything else - a job the engine cannot handle (an argument list the kernel refuses, supervisor
state that does not parse): that job fails with the error as its reason, and the cycle goes on.

Transient failures are counted per job attempt, in memory (a restarted dispatcher starts again from
zero): an attempt is given up after ``TRANSIENT_LIMIT`` consecutive cycles in which its call failed
while the same engine answered some other call. An engine that answers nobody is down, which is no
job's fault: its jobs wait for it, however long. A failure in the dispatcher's own handling of a job
(a write the database refuses, an engine answer it cannot use) counts in every cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from enum import StrEnum

from pnyx.jobs.model import EngineRejected, EngineUnavailable

TRANSIENT_LIMIT = 10  # consecutive failing cycles (about 20 s at the default 2 s interval)
REASON_CHARS = 300  # a reason is public (it is in the job's log entry): short, and no dumps


class Fault(StrEnum):
    TRANSIENT = "transient"  # try again next cycle
    REFUSED = "refused"  # the engine will never take this job
    BROKEN = "broken"  # anything else: this job cannot be handled; it fails


def fault_of(exc: BaseException) -> Fault:
    if isinstance(exc, EngineUnavailable):
        return Fault.TRANSIENT
    if isinstance(exc, EngineRejected):
        return Fault.REFUSED
    return Fault.BROKEN


def describe(exc: BaseException) -> str:
    """``OSError: [Errno 7] Argument list too long``, on one line and at most REASON_CHARS long."""
    return bounded(f"{type(exc).__name__}: {exc}")


def bounded(text: str) -> str:
    """One line, at most REASON_CHARS, storable by both databases (no NUL, valid UTF-8)."""
    clean = text.replace("\0", " ").encode("utf-8", "replace").decode("utf-8")
    one_line = " ".join(clean.split())
    return one_line if len(one_line) <= REASON_CHARS else one_line[: REASON_CHARS - 1] + "…"


def engine_reason(engine: str, verb: str, exc: BaseException) -> str:
    """The reason a job fails with when its engine call raised ``exc`` (not a transient error)."""
    if isinstance(exc, EngineRejected):
        return f"the {engine} engine refused the job: {bounded(exc.message)}"
    return f"the {engine} engine could not {verb} the job: {describe(exc)}"


def retry_note(job_id: str, what: str, tries: int, limit: int, exc: BaseException) -> str:
    """A side record (usage, outputs) that failed: which try of how many, and what comes next."""
    then = "tried again next cycle" if tries < limit else "given up"
    return f"job {job_id}: {what} not recorded (try {tries} of {limit}, {then}): {describe(exc)}"


def given_up_reason(engine: str | None, strikes: int, last: str) -> str:
    where = f"the {engine} engine" if engine is not None else "the dispatcher"
    return f"{where} failed on this job {strikes} cycles in a row; given up (last: {last})"


def next_strikes(
    previous: Mapping[str, int], failed: Mapping[str, str | None], answered: Set[str]
) -> dict[str, int]:
    """Consecutive failing cycles per job attempt (idempotency key), after one more cycle.

    ``failed``: the attempts that failed this cycle, with the engine whose transient error it was
    (``None``: the dispatcher's own handling failed, which always counts). ``answered``: the engines
    that answered some call this cycle. An attempt that did not fail this cycle drops out."""
    counts = {
        key: previous.get(key, 0) + (1 if engine is None or engine in answered else 0)
        for key, engine in failed.items()
    }
    return {key: n for key, n in counts.items() if n > 0}


def over_limit(strikes: Mapping[str, int], limit: int = TRANSIENT_LIMIT) -> list[str]:
    return sorted(key for key, n in strikes.items() if n >= limit)
