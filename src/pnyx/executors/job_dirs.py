"""A job's directory on an engine's shared filesystem (Slurm, Ray): where it starts, where its
inputs appear and where its outputs are collected from (pure, but ``collect`` and ``open_file``).

Each job runs in ``<working directory>/pnyx-<id>/`` (the Slurm job id; Ray's submission id), made
by the job's own start-up lines (``prelude``), private to the engine's user (umask 077):

- ``inputs/<version>``: a link to each dataset version it reads, at the path the engine's nodes see
  the registry's dataset directories (``dataset_mount``; the control plane's path when unset); the
  job reads them through ``$PNYX_INPUTS``;
- ``outputs/`` (``$PNYX_OUTPUT_DIR``, relative, as for local jobs): hashed once the job succeeded,
  when the control plane sees the working directory (``work_mount``), by the same bounded walk
  as local outputs (``local_outputs``: no symlink followed, caps on entries, sizes and time).

The deployer shares the working directory between the nodes (and with the control plane, to collect
outputs) and the registry's dataset directories with the nodes, read-only: the same filesystem here.
Jobs on these engines all run as the engine's one user: a job can reach another's directory, which
is why outputs are collected with the hostile-input walk and nothing there is trusted.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from pnyx.core.errors import InvalidInput
from pnyx.executors.local_outputs import Hashed, OutputCaps, hash_outputs, open_output
from pnyx.jobs.model import EngineRejected, JobInput

log = logging.getLogger(__name__)
PREFIX = "pnyx-"
MAX_NOTES = 20
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
PLAIN_PATH = re.compile(r"^/[A-Za-z0-9_./-]*$")  # safe between double quotes in a shell line


def job_dir_name(job: str) -> str:
    if not NAME.match(job):
        raise EngineRejected(f"{job!r} cannot name a job directory", field="job")
    return f"{PREFIX}{job}"


def node_path(job_input: JobInput, dataset_mount: str | None) -> str:
    """Where the engine's nodes see a dataset version: under ``dataset_mount`` by its id, or the
    control plane's own path (one shared filesystem at the same path)."""
    if dataset_mount is None:
        return job_input.path
    return str(PurePosixPath(dataset_mount) / job_input.version)


def prelude(job_dir: str, inputs: Sequence[JobInput], dataset_mount: str | None) -> list[str]:
    """Shell lines that make the job's directory and enter it. ``job_dir`` goes between double
    quotes (a plain path, or one naming ``$SLURM_JOB_ID``); everything else is quoted."""
    links = [
        f"ln -sfn {shlex.quote(node_path(i, dataset_mount))} {shlex.quote('inputs/' + i.version)}"
        for i in inputs
    ]
    return [
        "umask 077",
        f'mkdir -p "{job_dir}/outputs" "{job_dir}/inputs"',
        f'cd "{job_dir}"',
        *links,
        'export PNYX_INPUTS="$PWD/inputs" PNYX_OUTPUT_DIR=outputs',
    ]


def collect(work_mount: str | None, job: str, caps: OutputCaps) -> Hashed:
    """The job's outputs as the control plane sees them; nothing when it sees no working directory."""
    if work_mount is None:
        return Hashed()
    return hash_outputs(Path(work_mount) / job_dir_name(job), caps)


def open_file(work_mount: str | None, job: str, path: str, size: int, engine: str) -> BinaryIO:
    """One output file of a finished job (``local_outputs.open_output``: no symlink followed)."""
    if work_mount is None:
        raise InvalidInput(
            f"this {engine} cluster's working directory is not readable here (set {engine}.work_mount)",
            field="path",
        )
    return open_output(Path(work_mount) / job_dir_name(job), path, size)


def append_notes(log_file: Path, notes: Sequence[str], job: str) -> None:
    """What collecting outputs skipped, appended to the job's log where its owner reads it (never
    through a link the job may have put there: then only the server's log says it)."""
    lines = [f"pnyx: {n} (not recorded)" for n in notes[:MAX_NOTES]]
    try:
        fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    except OSError as exc:
        log.warning("%s: %d outputs not recorded, and its log cannot say so (%s)", job, len(notes), exc)
        return
    with os.fdopen(fd, "ab") as f:
        f.write(("\n".join(lines) + "\n").encode())
