"""Who reads a dataset version (pure): people by their clearance, jobs by their submitter's.

A person reads a version that is public (L1, no category), or one their clearance (a member's of its
project, or staff's L1) dominates, never at a level whose readers are jobs only. A job reads what its
submitter may read; at a jobs-only level, also a version its submitter's clearance dominates (the
job reads it, the person never does), provided the job's own label dominates the version's: the job
runs at that level, in that compartment, so its outputs stay there too.
"""

from __future__ import annotations

from pnyx.core.errors import InvalidInput
from pnyx.safety import rules as safety
from pnyx.safety.model import Label, Readers, SafetyLevel, SafetyPolicy

PUBLIC = Label(level=SafetyLevel.L1)


def may_read(held: Label | None, label: Label, policy: SafetyPolicy, *, human: bool) -> bool:
    """``held``: the reader's clearance for the version (None: none); ``human``: a person reads it
    (False: a job of theirs does)."""
    if label == PUBLIC:
        return True
    return held is not None and safety.may_read(held, label, policy, human=human)


def check_job_label(version: str, job: Label, label: Label, policy: SafetyPolicy) -> None:
    """At a level only jobs read, a job reads the version only under a label that dominates it
    (InvalidInput naming the version, its label and the job's)."""
    if policy.of(label.level).readers is not Readers.JOBS_ONLY or safety.dominates(job, label):
        return
    categories = ", ".join(sorted(label.categories)) or "none"
    raise InvalidInput(
        f"dataset version {version} is labelled {label}, a level whose data only jobs read: a job "
        f"reading it runs under a label that dominates it (level {label.level.name} or above, with "
        f"categories {categories}); this job runs under {job} (ask for label {int(label.level)} in "
        "the project the dataset belongs to)",
        field="version",
        code="dataset_above_job_label",
    )
