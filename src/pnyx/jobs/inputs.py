"""A job's inputs: the dataset and model versions it names at submission, resolved by the registry
(pure rules and the Protocols wiring fills in; the service does the I/O). Model versions (an
evaluation's model) follow the same rules as datasets, naming ``models``.

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
from pnyx.jobs.model import InputKind
from pnyx.safety.model import Label

MAX_DATASETS = 16  # versions one job may read
MAX_MODELS = 8  # model versions one job may read
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


class ModelInputs(Protocol):
    """The registry's answer for a model version (an evaluation's model), as ``DatasetInputs``'
    for a dataset version: None for none and for one the job may not read; other refusals are
    raised, naming ``models``."""

    def resolve(self, principal: Principal, version: str, job: Label) -> ResolvedDataset | None: ...


class NoDatasets:
    """No registry: every version is unknown (a service built without one: unit tests, tools)."""

    def resolve(self, principal: Principal, version: str, job: Label) -> ResolvedDataset | None:
        return None


def check_versions(versions: Sequence[str], kind: InputKind = InputKind.DATASET) -> tuple[str, ...]:
    """The named versions, each once, each a plain name (it becomes a directory name in the job)."""
    field, most = _FIELDS[kind], MAX_MODELS if kind is InputKind.MODEL else MAX_DATASETS
    if len(versions) > most:
        raise InvalidInput(f"a job reads at most {most} {kind} versions", field=field)
    for version in versions:
        if not isinstance(version, str) or not VERSION.match(version):
            raise InvalidInput(
                f"{version!r} is not a {kind} version id (letters, digits, '.', '_', '-')",
                field=field,
                code=f"{kind}_version_invalid",
            )
    if len(set(versions)) != len(versions):
        raise InvalidInput(f"a {kind} version is named twice", field=field)
    return tuple(versions)


def check_distinct(datasets: Sequence[str], models: Sequence[str]) -> None:
    """Each input is a directory ``/inputs/<version>``: a name given as both would clash."""
    if set(datasets) & set(models):
        raise InvalidInput("a version is named both as a dataset and as a model", field="models")


def check_engine(engine: str, versions: Sequence[str], kind: InputKind = InputKind.DATASET) -> None:
    if versions and engine in NO_INPUTS:
        raise InvalidInput(
            f"the {engine} engine cannot give a job {kind} inputs yet; use local, slurm or ray",
            field=_FIELDS[kind],
            code=f"{kind}_engine_unsupported",
        )


def unknown(version: str, kind: InputKind = InputKind.DATASET) -> NotFound:
    """Not there, or not readable by the submitter: the same words either way."""
    return NotFound(f"unknown {kind} version {version!r}", field=_FIELDS[kind], code=f"{kind}_unknown")


def check_level(job: Label, version: str, dataset: Label, kind: InputKind = InputKind.DATASET) -> None:
    """A job runs at or above the level of what it reads (its categories join its outputs)."""
    if job.level < dataset.level:
        raise InvalidInput(
            f"{kind} version {version} is labelled {dataset.level.name}; a job reading it runs at "
            f"{dataset.level.name} or above, and this one runs at {job.level.name} (ask for label "
            f"{int(dataset.level)})",
            field=_FIELDS[kind],
            code=f"{kind}_above_job_level",
        )


_FIELDS = {InputKind.DATASET: "datasets", InputKind.MODEL: "models"}  # the submission's fields
