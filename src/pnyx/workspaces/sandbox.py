"""Inside an SME workspace job's sandbox: decrypt its inputs, run its command, seal its outputs.

``python -I -m pnyx.workspaces.sandbox --keys-fd K --sealed-fd N -- ARGV...``, as the job's uid in its
bwrap sandbox, whose init it is (``--as-pid-1``: ``pnyx.executors.local_sealed`` builds it and says
why; standard library, ``cryptography`` and ``envelope`` only):

1. It makes itself undumpable (the job's command, same uid, cannot read its memory or descriptors
   through /proc), then reads the keys document from the pipe at ``K`` to its end, closes it and
   zeroes its buffer: the command never sees a data key, and no other process of the sandbox held
   one (bwrap passed the pipe on unread).
2. It decrypts each input (``/inputs/.sealed/<object id>``) into ``/inputs/workspace/<its name>``
   (a tmpfs), the name from its sealed metadata: relative, no ``..``, printable, unique. Any bad
   name, tag or digest fails the job before the command runs, naming the object id only.
3. It runs the command in ``/job`` (a tmpfs) with stdout and stderr in ``outputs/pnyx-job.log``
   (the job's log may print its data: it is sealed with the rest); its own lines, counts and object
   ids, never names or sizes, go to the job's real log. SIGTERM (cancel, time limit) reaches the
   command; the runner waits for it and seals what it left, within the supervisor's grace period.
   As init it reaps what the command orphans, and ends whatever is left before it seals.
4. Whatever the exit code, it seals every regular file under ``outputs/`` (links, special files and
   unprintable names skipped, counted) into the real outputs directory, open at ``N`` and bound
   nowhere, as ``<object id>.pxo`` under a fresh data key wrapped to the workspace's public key,
   with its sealed metadata, and writes ``pnyx-sealed.json``. It exits with the command's code.

Not protected against: root on the machine during the run (it reads any process's memory and the
tmpfs), the kernel, swap. That needs confidential computing.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from pnyx.workspaces.envelope import (
    ObjectMeta,
    Tampered,
    decrypt_stream,
    new_object_id,
    open_meta,
    seal_object,
)

SEALED_INPUTS = "/inputs/.sealed"
WORKSPACE = "/inputs/workspace"
OUTPUTS = "/job/outputs"
JOB_LOG = "pnyx-job.log"
MANIFEST = "pnyx-sealed.json"  # workspaces.model.SEALED_MANIFEST
SUFFIX = ".pxo"  # workspaces.model.SEALED_SUFFIX
INPUT_FAILED_EXIT = 65  # EX_DATAERR: an input did not open; the command did not run
SEAL_FAILED_EXIT = 74  # EX_IOERR: the command succeeded but an output could not be sealed
PR_SET_DUMPABLE = 4
KEYS_MAX_BYTES = 512 << 10  # local_sealed.KEYS_MAX_BYTES: the executor refuses a longer document
MAX_NAME = 4096
NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
SHOWN_IDS = 20


class InputError(Exception):
    """An input that does not open: the message names its object id, never its name."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Work:
    """The keys document (``local_sealed.keys_document``)."""

    workspace_id: str
    public_key: str
    max_files: int
    inputs: tuple[dict[str, str], ...]


@dataclass(slots=True)
class Sealed:
    objects: list[dict[str, object]]
    skipped: int = 0
    failed: int = 0


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        _say("no command to run")
        return 2
    if not _undumpable():  # before any key is read: else the command could read them from us
        _say("cannot make the runner undumpable; the command did not run")
        return INPUT_FAILED_EXIT
    os.set_inheritable(args.sealed_fd, False)  # never the command's
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write over RLIMIT_FSIZE fails, it does not kill
    try:
        work = read_keys(args.keys_fd)
        opened = decrypt_inputs(work, SEALED_INPUTS, WORKSPACE)
    except InputError as exc:
        _say(f"{exc}; the command did not run")
        return INPUT_FAILED_EXIT
    work = replace(work, inputs=())  # the data keys are needed no more
    _say(f"decrypted {len(opened)} workspace inputs into {WORKSPACE} (objects {_ids(opened)})")
    code = run_command(command, OUTPUTS)
    sealed = seal_outputs(OUTPUTS, args.sealed_fd, work)
    _report(code, sealed)
    return SEAL_FAILED_EXIT if code == 0 and sealed.failed else code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pnyx.workspaces.sandbox")
    parser.add_argument("--keys-fd", type=int, required=True, help="a pipe holding the keys document")
    parser.add_argument("--sealed-fd", type=int, required=True, help="the real outputs directory, open")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser


def _undumpable() -> bool:
    """PR_SET_DUMPABLE 0: no core, no ptrace, /proc/self/{mem,fd,environ} closed to the same uid."""
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)


def read_keys(fd: int) -> Work:
    """The keys document, read to its end from the pipe at ``fd``, which is closed; the buffer it was
    read into is zeroed once parsed (the parser's own copies cannot be: the runner is undumpable)."""
    buffer = bytearray(b" " * (KEYS_MAX_BYTES + 1))  # JSON may end in blanks: parsed in place
    try:
        if _read_whole(fd, buffer) > KEYS_MAX_BYTES:
            raise ValueError("the keys document is too long")
        raw = json.loads(buffer)
        return Work(
            workspace_id=str(raw["workspace_id"]),
            public_key=str(raw["public_key"]),
            max_files=int(raw["max_files"]),
            inputs=tuple({str(k): str(v) for k, v in item.items()} for item in raw["inputs"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"the keys document is missing or unreadable ({type(exc).__name__})") from None
    finally:
        buffer[:] = bytes(len(buffer))


def _read_whole(fd: int, buffer: bytearray) -> int:
    """How much the pipe at ``fd`` held, read into ``buffer`` (up to its size); ``fd`` is closed."""
    filled = 0
    with open(fd, "rb", buffering=0) as pipe, memoryview(buffer) as view:
        while filled < len(buffer) and (got := pipe.readinto(view[filled:])):
            filled += got
    return filled


def decrypt_inputs(work: Work, sealed_dir: str, workspace: str) -> list[str]:
    """Each input decrypted into ``workspace``; their object ids. InputError at the first that fails
    (what it had written is deleted)."""
    names: set[str] = set()
    done = []
    for item in work.inputs:
        object_id = item.get("object_id", "?")
        key, meta = _opened(item, names)
        source = os.path.join(sealed_dir, object_id)
        _decrypt_one(source, os.path.join(workspace, meta.name), key, meta, item)
        names.add(meta.name)
        done.append(object_id)
    return done


def _opened(item: dict[str, str], names: set[str]) -> tuple[bytes, ObjectMeta]:
    """The input's data key and sealed metadata, its name checked."""
    object_id = item.get("object_id", "?")
    try:
        key = base64.b64decode(item["data_key"], validate=True)
        meta = open_meta(base64.b64decode(item["sealed_meta"], validate=True), key, item["context"])
    except (Tampered, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"input object {object_id}: its sealed metadata does not open") from exc
    if not valid_name(meta.name):
        raise InputError(f"input object {object_id}: its name is not a printable relative path")
    if meta.name in names:
        raise InputError(f"input object {object_id}: its name repeats another input's")
    return key, meta


def valid_name(name: object) -> bool:
    """A relative path of printable characters, no empty, ``.`` or ``..`` part."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME or not name.isprintable():
        return False
    return not name.startswith("/") and all(part not in ("", ".", "..") for part in name.split("/"))


def _decrypt_one(source: str, target: str, key: bytes, meta: ObjectMeta, item: dict[str, str]) -> None:
    object_id = item["object_id"]
    try:
        os.makedirs(os.path.dirname(target), 0o700, exist_ok=True)
        fd = os.open(target, NEW, 0o600)
    except OSError as exc:
        raise InputError(f"input object {object_id}: its name collides with another input's") from exc
    try:
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            digest = decrypt_stream(src, dst, key, item["context"])
    except Tampered as exc:
        os.unlink(target)
        raise InputError(f"input object {object_id}: its ciphertext failed its authentication tag") from exc
    except OSError as exc:
        os.unlink(target)
        raise InputError(f"input object {object_id}: cannot be read or written ({exc.strerror})") from exc
    if (digest.plaintext_sha256, digest.plaintext_size) != (meta.plaintext_sha256, meta.size):
        os.unlink(target)
        raise InputError(f"input object {object_id}: its content does not match its sealed metadata")


def run_command(command: Sequence[str], outputs: str) -> int:
    """The command's exit code (128 + N when a signal N ended it), its output in ``outputs``."""
    log = os.open(
        os.path.join(outputs, JOB_LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600
    )
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)  # it reaches the command; we seal after
    try:
        child = subprocess.Popen(
            list(command), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    except OSError as exc:
        os.write(log, f"pnyx: {command[0]}: {exc.strerror}\n".encode())
        return 127
    finally:
        os.close(log)
    child.returncode = code = _wait(child)
    _end_the_rest(child.pid)
    return 128 - code if code < 0 else code


def _wait(child: subprocess.Popen[bytes]) -> int:
    """The command's exit code (-N for a signal N). As the sandbox's init the runner reaps every
    process the command orphans meanwhile: else their zombies would count against its uid's
    process limit until the job ends."""
    if os.getpid() != 1:
        return child.wait()
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child.pid:
            return os.waitstatus_to_exitcode(status)


def _end_the_rest(pgid: int) -> None:
    """What the command left running stops writing before its outputs are sealed: every other process
    of the sandbox when the runner is its init (kill -1 reaches its pid namespace only), else the
    command's process group."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpid() == 1:
            os.kill(-1, signal.SIGKILL)
        else:
            os.killpg(pgid, signal.SIGKILL)


def seal_outputs(outputs: str, sealed_fd: int, work: Work) -> Sealed:
    """Every regular file under ``outputs`` sealed into the directory open at ``sealed_fd``; then the
    manifest. A file that fails midway is removed and counted (nothing half-sealed is listed)."""
    result = Sealed(objects=[])
    for path, name in _files(outputs, result):
        if len(result.objects) >= work.max_files:
            result.skipped += 1
            continue
        try:
            result.objects.append(seal_file(path, name, sealed_fd, work))
        except OSError:
            result.failed += 1
    manifest = {"version": 1, "workspace_id": work.workspace_id, "objects": result.objects}
    _write_manifest(sealed_fd, json.dumps(manifest, indent=1).encode())
    return result


def _files(top: str, result: Sealed) -> Iterator[tuple[str, str]]:
    """(path, name relative to ``top``) of its regular files, no link followed, sorted."""
    stack = [""]
    while stack:
        prefix = stack.pop()
        with os.scandir(os.path.join(top, prefix) if prefix else top) as entries:
            found = sorted(entries, key=lambda e: e.name)
        for entry in found:
            name = f"{prefix}{entry.name}"
            if not valid_name(name):
                result.skipped += 1
            elif entry.is_dir(follow_symlinks=False):
                stack.append(f"{name}/")
            elif entry.is_file(follow_symlinks=False):
                yield entry.path, name
            else:
                result.skipped += 1


def seal_file(path: str, name: str, sealed_fd: int, work: Work) -> dict[str, object]:
    """One output sealed as ``<object id>.pxo``: its manifest entry."""
    object_id = new_object_id()
    file = f"{object_id}{SUFFIX}"
    fd = os.open(file, NEW, 0o600, dir_fd=sealed_fd)
    try:
        with open(path, "rb", opener=_no_follow) as src, os.fdopen(fd, "wb") as dst:
            sealed = seal_object(
                src,
                dst,
                object_id=object_id,
                name=name,
                public_key=work.public_key,
                workspace_id=work.workspace_id,
            )
    except OSError:
        os.unlink(file, dir_fd=sealed_fd)
        raise
    return {
        "object_id": object_id,
        "file": file,
        "wrapped_key": base64.b64encode(sealed.wrapped_key).decode(),
        "sealed_meta": base64.b64encode(sealed.sealed_meta).decode(),
        "commitment": sealed.commitment,
        "ciphertext_sha256": sealed.digest.ciphertext_sha256,
        "ciphertext_size": sealed.digest.ciphertext_size,
    }


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)


def _write_manifest(sealed_fd: int, data: bytes) -> None:
    tmp = f".{MANIFEST}.tmp"
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=sealed_fd
    )
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, MANIFEST, src_dir_fd=sealed_fd, dst_dir_fd=sealed_fd)


def _report(code: int, sealed: Sealed) -> None:
    ids = [str(o["object_id"]) for o in sealed.objects]
    _say(f"the command exited with {code}; sealed {len(ids)} outputs (objects {_ids(ids)})")
    if sealed.skipped:
        _say(f"{sealed.skipped} outputs not sealed: links, special files, unprintable names, too many")
    if sealed.failed:
        _say(f"{sealed.failed} outputs could not be sealed (disk full or over a size limit): lost")


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:SHOWN_IDS])
    more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return (shown + more) or "none"


def _say(text: str) -> None:
    print(f"pnyx: {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
