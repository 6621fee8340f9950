"""The batch script of a Slurm job (pure): its own directory, its rendezvous point, its command.

It runs on the first node of the allocation. ``job_dirs.prelude`` makes and enters
``pnyx-$SLURM_JOB_ID`` under the working directory (inputs linked, outputs there). It exports the
first node and a port of the job's own (``PNYX_MASTER_ADDR``, ``PNYX_MASTER_PORT``), and for a gang
of several nodes torchrun's settings for a c10d rendezvous on them (torchrun reads ``PET_<OPTION>``
for each option it is not given): ``srun torchrun --nproc-per-node N -m ...`` then meets its peers
on every node with nothing more on its command line.
"""

from __future__ import annotations

from pnyx.executors import job_dirs
from pnyx.jobs.model import JobSpec

PORT_BASE, PORT_SPAN = 20_000, 20_000  # the job's rendezvous port: PORT_BASE + job id % PORT_SPAN


def batch_script(spec: JobSpec, command: str, *, dataset_mount: str | None) -> str:
    lines = [
        "#!/bin/bash",
        "set -e",
        *job_dirs.prelude(f"{job_dirs.PREFIX}$SLURM_JOB_ID", spec.inputs, dataset_mount),
        f"export PNYX_MASTER_ADDR=$(hostname) PNYX_MASTER_PORT=$(({PORT_BASE} + SLURM_JOB_ID % {PORT_SPAN}))",
    ]
    if spec.nodes > 1:
        lines.append(
            f"export PET_NNODES={spec.nodes} PET_RDZV_BACKEND=c10d PET_RDZV_ID=$SLURM_JOB_ID "
            'PET_RDZV_ENDPOINT="$PNYX_MASTER_ADDR:$PNYX_MASTER_PORT"'
        )
    return "\n".join([*lines, f"exec {command}", ""])
