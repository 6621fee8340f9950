"""How the recipe is started by hand on this machine: ``torchrun -m pnyx.training.run`` on CPU, with a
free rendezvous port and one thread per rank (the tests and the CPU benchmark run it exactly so)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

CPU_ENV = {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def free_port() -> int:
    """A TCP port free on the loopback now (the rendezvous of one run)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun_argv(*args: str | Path, ranks: int = 2, port: int | None = None) -> list[str]:
    """``python -m torch.distributed.run --nproc-per-node RANKS -m pnyx.training.run ARGS``."""
    rendezvous = str(port or free_port())
    head = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks)]
    return [*head, "--master-port", rendezvous, "-m", "pnyx.training.run", *map(str, args)]


def run_on_cpu(
    *args: str | Path, ranks: int = 2, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the recipe on CPU with ``ranks`` one-thread processes; the caller reads the exit code."""
    env = {**os.environ, **CPU_ENV}
    return subprocess.run(
        torchrun_argv(*args, ranks=ranks),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
