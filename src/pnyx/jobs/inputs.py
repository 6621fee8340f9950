"""A job's inputs: the dataset versions it names at submission, resolved by the registry (pure rules
and the Protocol wiring fills in; the service does the I/O).

Each version is resolved for the submitter and the job's label by ``DatasetInputs.resolve``: a
version that does not exist and one the submitter's jobs may not read get the same answer, 404
naming ``datasets`` (no existence oracle). A job reads what its submitter may read, and at a level
whose data only jobs read (no person), what its submitter's project clearance covers, under a label
that dominates the version's (the registry's ``readers`` decides). A job runs at or above the
level of every dataset it reads: a lower one is refused, naming the version and both levels (the
submitter asks for a higher ``label``). The job's outputs (files and logs) carry the join of its
label and its inputs' labels (``clearance.outputs_label``): the categories of a dataset it read
follow its outputs (no write down).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pnyx.core.errors import InvalidInput, NotFound
from pnyx.identity.model import Principal
from pnyx.safety.model import Label

MAX_DATASETS = 16  # versions one job may read
NO_INPUTS = frozenset({"kubernetes"})  # engines that cannot give a job its datasets yet (no shared volume)
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # one path component: /inputs/<version>


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedDataset:
    """A dataset version as the registry holds it: its directory and its label."""

    path: Path
    label: Label


class DatasetInputs(Protocol):
    """The registry's answer for a version ``principal`` names as the input of a job that runs under
    label ``job``: None when there is no such version *or* the job may not read it (one answer for
    both). Refusals that name the version to someone cleared for it (withdrawn, a label too low,
    files missing on this server) are raised, naming ``datasets``."""

    def resolve(self, principal: Principal, version: str, job: Label) -> ResolvedDataset | None: ...


class NoDatasets:
    """No registry: every version is unknown (a service built without one: unit tests, tools)."""

    def resolve(self, principal: Principal, version: str, job: Label) -> ResolvedDataset | None:
        return None


def check_versions(versions: Sequence[str]) -> tuple[str, ...]:
    """The named versions, each once, each a plain name (it becomes a directory name in the job)."""
    if len(versions) > MAX_DATASETS:
        raise InvalidInput(f"a job reads at most {MAX_DATASETS} dataset versions", field="datasets")
    for version in versions:
        if not isinstance(version, str) or not VERSION.match(version):
            raise InvalidInput(
                f"{version!r} is not a dataset version id (letters, digits, '.', '_', '-')",
                field="datasets",
                code="dataset_version_invalid",
            )
    if len(set(versions)) != len(versions):
        raise InvalidInput("a dataset version is named twice", field="datasets")
    return tuple(versions)


def check_engine(engine: str, versions: Sequence[str]) -> None:
    if versions and engine in NO_INPUTS:
        raise InvalidInput(
            f"the {engine} engine cannot give a job dataset inputs yet; use local, slurm or ray",
            field="datasets",
            code="dataset_engine_unsupported",
        )


def unknown(version: str) -> NotFound:
    """Not there, or not readable by the submitter: the same words either way."""
    return NotFound(f"unknown dataset version {version!r}", field="datasets", code="dataset_unknown")


def check_level(job: Label, version: str, dataset: Label) -> None:
    """A job runs at or above the level of what it reads (its categories join its outputs)."""
    if job.level < dataset.level:
        raise InvalidInput(
            f"dataset version {version} is labelled {dataset.level.name}; a job reading it runs at "
            f"{dataset.level.name} or above, and this one runs at {job.level.name} (ask for label "
            f"{int(dataset.level)})",
            field="datasets",
            code="dataset_above_job_level",
        )
