"""Checkpoints registered while their job runs, and what the job's end must agree with (pure).

While a job runs, its engine finds its complete checkpoints (``jobs.executor.CheckpointReader``) and
the registry registers each (``lineage_running``) once its ``pnyx-checkpoint.json`` is read back and
checked here: the step its directory names; the config hash and dataset version of the attempt's
other checkpoints; one of the job's input dataset versions, when it has any. When the job ends, its
manifest may list a checkpoint registered while it ran only with its files as registered then (a job
that rewrote or added to a checkpoint since rewrote history: its model is refused), and every
checkpoint of the attempt must be of the manifest's config and dataset.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import NoReturn

from pnyx.core.errors import InvalidInput
from pnyx.registry.lineage_model import (
    CHECKPOINT_MANIFEST,
    Checkpoint,
    CheckpointFile,
    CheckpointManifest,
    CheckpointRef,
    Manifest,
)
from pnyx.registry.lineage_rules import MAX_CHECKPOINT_MANIFEST_BYTES

CHECKPOINTS_DIR = "checkpoints"  # under the outputs, as the recipe writes them


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointKey:
    """What a registered checkpoint's successors are checked against (no files: a cheap read)."""

    step: int
    config_hash: str
    dataset: str


def step_dir(step: int) -> str:
    """``checkpoints/step-NNNNNN``: where the recipe writes the checkpoint of ``step``."""
    return f"{CHECKPOINTS_DIR}/step-{step:06d}"


def marker_of(step: int, files: Sequence[CheckpointFile]) -> CheckpointFile:
    """The checkpoint's ``pnyx-checkpoint.json`` among ``files``, small enough to read; every file
    inside the step's directory (InvalidInput naming what is wrong)."""
    prefix = step_dir(step) + "/"
    stray = next((f.path for f in files if not f.path.startswith(prefix)), None)
    if stray is not None:
        raise InvalidInput(f"checkpoint step {step}: {stray} is not under {prefix}", field="checkpoint")
    marker = next((f for f in files if f.path == prefix + CHECKPOINT_MANIFEST), None)
    if marker is None:
        raise InvalidInput(f"checkpoint {prefix} has no readable {CHECKPOINT_MANIFEST}", field="checkpoint")
    if marker.size > MAX_CHECKPOINT_MANIFEST_BYTES:
        raise InvalidInput(f"{marker.path} is {marker.size} bytes; the limit is "
                           f"{MAX_CHECKPOINT_MANIFEST_BYTES}", field="checkpoint")  # fmt: skip
    return marker


def check_running(
    step: int, found: CheckpointManifest, earlier: Sequence[CheckpointKey], inputs: Collection[str]
) -> None:
    """A checkpoint found while its job runs: of the step its directory names, of the config and
    dataset of the attempt's first registered checkpoint, of a dataset version the job reads."""
    if found.step != step:
        _mismatch(step, "step", found.step, step, "its directory's")
    if earlier and found.config_hash != earlier[0].config_hash:
        _mismatch(step, "config_hash", found.config_hash, earlier[0].config_hash, _first(earlier))
    if earlier and found.dataset != earlier[0].dataset:
        _mismatch(step, "dataset", found.dataset, earlier[0].dataset, _first(earlier))
    if found.dataset not in inputs:
        raise InvalidInput(
            f"checkpoint step {step}: dataset {found.dataset} is not among the job's inputs",
            field="checkpoint.dataset",
            code="config_mismatch",
        )


def _first(earlier: Sequence[CheckpointKey]) -> str:
    return f"step {earlier[0].step}'s (registered before)"


def _mismatch(step: int, key: str, found: object, wanted: object, whose: str) -> NoReturn:
    raise InvalidInput(
        f"checkpoint step {step}: its {key} is {found}, {whose} is {wanted}",
        field=f"checkpoint.{key}",
        code="config_mismatch",
    )


def check_unchanged(registered: Checkpoint, ref: CheckpointRef, files: Sequence[CheckpointFile]) -> None:
    """At the job's end: a listed checkpoint registered while the job ran, in the same directory,
    each file recorded now as it was registered then (digest, size) and none added since;
    InvalidInput ``checkpoint_rewritten`` naming the first that differs otherwise. A file registered
    then but not recorded now is no rewrite (the end's recording has caps of its own, and what was
    registered stays registered)."""
    before = {f.path: f for f in registered.files}
    if ref.dir != registered.dir:
        _rewritten(registered, f"it is listed as {ref.dir}, it was registered as {registered.dir}")
    for now in sorted(files, key=lambda f: f.path):
        was = before.get(now.path)
        if was != now:
            _rewritten(registered, f"{now.path} was {_said(was)} then, is {_said(now)} now")


def _said(f: CheckpointFile | None) -> str:
    return "absent" if f is None else f"{f.size} bytes with SHA-256 {f.sha256}"


def _rewritten(registered: Checkpoint, what: str) -> NoReturn:
    raise InvalidInput(
        f"checkpoint step {registered.step} was registered while the job ran at "
        f"{registered.recorded_at.isoformat()}, and the job rewrote it since: {what}",
        field="manifest.checkpoints",
        code="checkpoint_rewritten",
    )


def check_same_run(manifest: Manifest, registered: Sequence[Checkpoint]) -> None:
    """Every checkpoint registered while the job ran is of the manifest's config and dataset."""
    for c in registered:
        if c.config_hash != manifest.config_hash:
            _mismatch(c.step, "config_hash", c.config_hash, manifest.config_hash, "the manifest's")
        if c.dataset and c.dataset != manifest.datasets[0]:
            _mismatch(c.step, "dataset", c.dataset, manifest.datasets[0], "the manifest's")
