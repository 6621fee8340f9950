"""An SME workspace's job on the local executor: what its sandbox looks like (data; one ``stat``).

A job with ``JobSpec.sealed`` reads objects its SME encrypted and writes outputs only the SME can
open (``pnyx.workspaces.envelope``). On this machine:

- Its data keys travel in memory only: ``LocalExecutor.submit`` puts the ``keys_document`` on the
  spawner's hand-over line (a pipe), the supervisor (root) passes it on in a pipe the in-sandbox
  runner inherits at ``local_mounts.KEYS_FD``. bwrap passes that descriptor on and never reads it:
  what bwrap reads (``--file``, ``--ro-bind-data``) stays in its freed heap, not zeroed. The launch
  record in the state directory says only ``sealed``; the database and the logs never see a key. A
  supervisor relaunched after the executor restarted has no keys: the job fails (``KEYS_LOST``) and
  is never run without them.
- The runner is the sandbox's init (bwrap ``--as-pid-1``): no bwrap process stays in the sandbox. An
  init of bwrap's would run as the job's uid, dumpable, so the command could read (and write) its
  memory through ``/proc/1/mem``; it holds no secret now, but nothing the sandbox is given should
  depend on bwrap's heap staying clean. The runner makes itself undumpable before it reads the keys
  pipe (to its end), closes it and zeroes its buffer; the command (same uid, no capabilities) can
  neither read nor trace it, nor, as init, kill it from inside. As init the runner reaps what the
  command orphans and, once the command has exited, ends every process left in the sandbox before
  it seals. Ordinary jobs keep bwrap's init: a command as pid 1 would ignore the supervisor's
  SIGTERM unless it handled it.
- Each input's ciphertext is bound read-only (idmapped) at ``/inputs/.sealed/<object id>``.
- ``/job`` (its working directory), ``/job/outputs`` (sized to the output cap) and
  ``/inputs/workspace`` (sized to the ciphertexts) are tmpfs: no path of the sandbox leads to the
  machine's disk, so no plaintext is ever written there. The job's real outputs directory reaches
  the runner only as an open descriptor (``local_mounts.SEALED_FD``).
- Inside, ``python -I -m pnyx.workspaces.sandbox`` (the server's runtime, PNYX_LOCAL_RUNTIME=server)
  reads the keys, decrypts each input into ``/inputs/workspace/<its name>``, runs
  the job's command with its output captured to ``outputs/pnyx-job.log``, then seals every file of
  ``outputs/`` to the workspace's public key as ``<object id>.pxo`` beside ``pnyx-sealed.json``.

Not protected against: root on this machine while the job runs (it can read the job's memory, its
tmpfs and the supervisor's memory), the kernel, and swap (tmpfs and process pages may be swapped
out unless swap is off or encrypted). Keeping data from the machine's own administrators needs
confidential computing (TEE-backed VMs or GPUs), which this executor does not provide.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Sequence

from pnyx.core.errors import InvalidInput
from pnyx.executors.local_mounts import KEYS_FD, SEALED_FD
from pnyx.executors.local_outputs import OutputCaps
from pnyx.executors.sandbox import (
    INPUTS_DIR,
    JOB_DIR,
    HostFacts,
    SandboxConfig,
    launch_record,
    limits_for,
)
from pnyx.jobs.model import Grant, JobSpec, SealedWork
from pnyx.workspaces.envelope import KEY_BYTES, context_of, parse_public_key
from pnyx.workspaces.model import OBJECT_ID_HEX

WORKSPACE_DIR = f"{INPUTS_DIR}/workspace"  # the decrypted inputs, on a tmpfs
KEYS_MAX_BYTES = 512 << 10  # the keys document (a pipe holds it whole)
TMPFS_SLACK = 1 << 20
RUNNER = "pnyx.workspaces.sandbox"
KEYS_LOST = (
    "its data keys are held in memory only and were lost when the executor restarted; authorise it again"
)
HEX = frozenset("0123456789abcdef")


def sealed_refusal(spec: JobSpec, config: SandboxConfig) -> str | None:
    """Why this SME workspace job may not run here, or None (also None for any other job)."""
    sealed = spec.sealed
    if sealed is None:
        return None
    if not config.enabled:
        return "SME workspace jobs run sandboxed only: PNYX_SANDBOX=off could leave their data on disk"
    if not config.runtime.path or not os.access(runner_argv(config, ())[0], os.X_OK):
        return (
            "SME workspace jobs decrypt and seal inside their sandbox with the server's Python: "
            "start the server with PNYX_LOCAL_RUNTIME=server"
        )
    return _bad_work(sealed) or _too_many_keys(sealed)


def _bad_work(sealed: SealedWork) -> str | None:
    try:
        parse_public_key(sealed.public_key)
    except InvalidInput:
        return "SME workspace job: its workspace's public key is not an x25519 key"
    seen: set[str] = set()
    for item in sealed.inputs:
        ok = is_object_id(item.object_id) and item.object_id not in seen
        if not ok or item.context != context_of(sealed.workspace_id, item.object_id):
            return f"SME workspace job: input {item.object_id[:64]!r} is not an object of its workspace"
        if len(item.data_key) != KEY_BYTES:
            return f"SME workspace job: input {item.object_id} has no 256-bit data key"
        seen.add(item.object_id)
    return None


def _too_many_keys(sealed: SealedWork) -> str | None:
    if len(keys_document(sealed, OutputCaps())) > KEYS_MAX_BYTES:
        return f"SME workspace job: too many inputs ({len(sealed.inputs)}) for one job"
    return None


def is_object_id(text: str) -> bool:
    return len(text) == OBJECT_ID_HEX and set(text) <= HEX


def keys_document(sealed: SealedWork, outputs: OutputCaps) -> bytes:
    """What the in-sandbox runner reads on ``KEYS_FD`` (``workspaces.sandbox``): secret (the data
    keys), so it goes through memory and pipes only, and through no process the job can read."""
    inputs = [
        {
            "object_id": item.object_id,
            "context": item.context,
            "sealed_meta": base64.b64encode(item.sealed_meta).decode(),
            "data_key": base64.b64encode(item.data_key).decode(),
        }
        for item in sealed.inputs
    ]
    doc = {
        "version": 1,
        "workspace_id": sealed.workspace_id,
        "public_key": sealed.public_key,
        "max_files": outputs.entries,
        "inputs": inputs,
    }
    return json.dumps(doc).encode()


def runner_argv(config: SandboxConfig, command: Sequence[str]) -> tuple[str, ...]:
    """The job's command, run by the in-sandbox runner of the server's runtime."""
    python = f"{config.runtime.path[0]}/python3"
    flags = ("--keys-fd", str(KEYS_FD), "--sealed-fd", str(SEALED_FD))
    return (python, "-I", "-m", RUNNER, *flags, "--", *command)


def work_mounts(
    spec: JobSpec, config: SandboxConfig, host: HostFacts, outputs: OutputCaps
) -> tuple[str, ...]:
    """bwrap's /job of a sealed job: tmpfs throughout, nothing of the machine's disk."""
    limits = limits_for(spec, config, host)
    ciphertexts = sum(ciphertext_size(i.path) for i in spec.sealed.inputs) if spec.sealed else 0
    return (
        *("--size", str(limits.tmpfs), "--tmpfs", JOB_DIR),
        *("--size", str(outputs.total_bytes), "--tmpfs", f"{JOB_DIR}/outputs"),
        *("--size", str(ciphertexts + TMPFS_SLACK), "--tmpfs", WORKSPACE_DIR),
        *("--symlink", INPUTS_DIR, f"{JOB_DIR}/inputs"),
    )


def ciphertext_size(path: str) -> int:
    """Its size on disk; 0 when it is missing (the supervisor then fails the job naming the object)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def sealed_launch(
    spec: JobSpec,
    grant: Grant,
    config: SandboxConfig,
    host: HostFacts,
    *,
    outputs: OutputCaps,
    work_dir: str,
    locks: str,
) -> dict[str, object]:
    """``sandbox.launch_record`` of a sealed job: its command under the runner, which is the
    sandbox's init (``--as-pid-1``), /job on tmpfs, no links on disk, ``sealed`` set (the keys are
    not in it: they go by the hand-over)."""
    wrapped = dataclasses.replace(spec, command=runner_argv(config, spec.command))
    work = work_mounts(spec, config, host, outputs)
    record = launch_record(wrapped, grant, config, host, work_dir=work_dir, locks=locks, work=work)
    assert isinstance(record["env"], dict)
    assert isinstance(record["argv"], list)
    bwrap, *rest = record["argv"]
    env = {**record["env"], "PNYX_WORKSPACE_INPUTS": WORKSPACE_DIR}
    return {**record, "argv": [bwrap, "--as-pid-1", *rest], "env": env, "links": [], "sealed": True}
