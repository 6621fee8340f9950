"""What a local job sees beyond its work directory, made visible by its supervisor (stdlib only:
``local_runner`` imports it after ``python -I -S``).

Job uids cannot bind what they cannot reach: a dataset version lies in the 0700 data directory, its
files are the server's (0600), and the server's Python may sit under /root. So the supervisor's
child, still root and before it drops to the job's uid, gives the job a mount namespace of its own
(nothing propagates back to the machine), mounts a small tmpfs over the job root's ``stage``
directory (empty on the machine) and puts each directory the job is to see at ``stage/N``, read-only,
nosuid, nodev; bwrap, run as the job's uid, then binds ``stage/N`` where the job sees it.

- A dataset version (``/inputs/<version>``) is an idmapped mount: its files, the server's (uid 0),
  read as the job uid's own, read-only. No mode is loosened on the machine; the job reads its inputs
  and nothing else of the data directory.
- A runtime directory (PNYX_LOCAL_RUNTIME) is a plain bind: it must be readable by other uids
  (checked, naming what is not), as any installed software is.
- An SME workspace object's ciphertext (``/inputs/.sealed/<object id>``) is a file, idmapped as the
  inputs are. Its data keys reach the in-sandbox runner on a pipe it inherits (``KEYS_FD``, which
  bwrap passes on unread), and its real outputs directory as an open descriptor (``SEALED_FD``),
  bound nowhere: see ``local_sealed``.

mount(2) and unshare(2) through libc, open_tree(2), mount_setattr(2) and move_mount(2) by number
(the same on x86_64 and aarch64): Python 3.11's ``os`` has none of them.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
from collections.abc import Sequence
from stat import S_ISDIR, S_ISLNK, S_ISREG

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT = 0x1, 0x2, 0x4, 0x20
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_MOUNT_SETATTR = 428, 429, 442
OPEN_TREE_CLONE, AT_RECURSIVE, AT_EMPTY_PATH, AT_FDCWD = 0x1, 0x8000, 0x1000, -100
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_IDMAP = 0x1, 0x2, 0x4, 0x100000
STAGE_MAX_ENTRIES = 4096  # entries of a plainly bound directory checked for readability
KEYS_FD = 62  # a sealed job's keys: a pipe its runner inherits and reads whole (bwrap never reads it)
SEALED_FD = 63  # a sealed job's real outputs directory, inherited open by its runner (never a path)
PIPE_MIN = 1 << 16


class StageError(OSError):
    """What the job should see (its runtime, its inputs) could not be made visible to it."""


def staged(
    binds: Sequence[tuple[str, str]], stage: str | None, idmapped_under: str
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, str, bool], ...]]:
    """bwrap's sources for ``binds``, and what the supervisor stages first (host directory, staged
    path, where the job sees it, idmapped: the inputs under ``idmapped_under``, whose files are the
    server's).
    Job uids (``stage``, the job root's stage directory) cannot bind what they cannot reach (the
    0700 data directory, a Python under /root): the supervisor, still root, binds each into a
    mount namespace of the job's own, at ``stage/N``, which the uid can reach. Not root: bwrap binds
    the host directories themselves (the server's uid reaches them). ``local_mounts`` stages."""
    if stage is None:
        return tuple(binds), ()
    places = [f"{stage}/{n}" for n in range(len(binds))]
    sources = tuple((at, dst) for at, (_src, dst) in zip(places, binds, strict=True))
    stages = tuple(
        (src, at, dst, dst.startswith(f"{idmapped_under}/"))
        for at, (src, dst) in zip(places, binds, strict=True)
    )
    return sources, stages


def stage(root: str, binds: list[tuple[str, str, str, bool]], uid: int | None) -> None:
    """``binds``: (host directory, staged path under ``root``, where the job sees it, idmapped)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    userns = _userns(libc, uid) if uid is not None and any(b[3] for b in binds) else None
    try:
        _checked(libc.unshare(CLONE_NEWNS), "a mount namespace for the job")
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE, "the job's mounts kept private")
        os.makedirs(root, 0o711, exist_ok=True)
        _mount(libc, "pnyx-stage", root, "tmpfs", MS_NOSUID | MS_NODEV, "the stage", b"mode=0711,size=64k")
        for source, at, seen_as, idmap in binds:
            _mount_point(source, at, seen_as, file_ok=idmap)
            if idmap and userns is not None:
                _idmapped(libc, source, at, userns, seen_as)
            else:
                _plain(libc, source, at, seen_as)
    finally:
        if userns is not None:
            os.close(userns)


def _plain(libc: ctypes.CDLL, source: str, at: str, seen_as: str) -> None:
    _check_readable(source, seen_as)
    _mount(libc, source, at, None, MS_BIND | MS_REC, seen_as)
    _mount(libc, None, at, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, seen_as)


def _idmapped(libc: ctypes.CDLL, source: str, at: str, userns: int, seen_as: str) -> None:
    """A read-only clone of ``source`` whose uid-0 files read as the job uid's, moved to ``at``."""
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC | AT_RECURSIVE
    tree = _checked(libc.syscall(SYS_OPEN_TREE, AT_FDCWD, source.encode(), flags), seen_as)
    try:
        attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_IDMAP
        attr = ctypes.create_string_buffer(struct.pack("QQQQ", attrs, 0, 0, userns))
        size = ctypes.sizeof(attr) - 1  # the buffer's trailing NUL is not the struct's
        _checked(
            libc.syscall(SYS_MOUNT_SETATTR, tree, b"", AT_EMPTY_PATH | AT_RECURSIVE, attr, size), seen_as
        )
        _checked(
            libc.syscall(SYS_MOVE_MOUNT, tree, b"", AT_FDCWD, at.encode(), MOVE_MOUNT_F_EMPTY_PATH), seen_as
        )
    finally:
        os.close(tree)


def _userns(libc: ctypes.CDLL, uid: int) -> int:
    """A user namespace mapping 0 to ``uid`` (an idmapped mount's mapping), as an open descriptor: a
    child enters a new one and waits while its maps are written and its namespace opened."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r)
            os.close(go_w)
            code = 0 if libc.unshare(CLONE_NEWUSER) == 0 else 1
            os.write(ready_w, b"1" if code == 0 else b"0")
            os.read(go_r, 1)
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise StageError("cannot make a user namespace for the job's idmapped inputs")
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(f"0 {uid} 1\n")
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(go_w)  # the child ends
        os.waitpid(pid, 0)


def _mount(
    libc: ctypes.CDLL,
    source: str | None,
    target: str,
    kind: str | None,
    flags: int,
    what: str,
    data: bytes | None = None,
) -> None:
    encoded = [None if x is None else x.encode() for x in (source, target, kind)]
    _checked(libc.mount(*encoded, flags, data), what)


def _checked(result: int, what: str) -> int:
    if result < 0:
        raise StageError(f"cannot mount {what}: {os.strerror(ctypes.get_errno())}")
    return result


def _mount_point(source: str, at: str, seen_as: str, *, file_ok: bool) -> None:
    """A directory at ``at`` (a file for an idmapped file: a sealed object's ciphertext). Names only
    where the job sees it, never the host path (the job's log is the owner's)."""
    try:
        st = os.stat(source)
    except OSError as exc:
        raise StageError(f"{seen_as} is missing on this machine ({exc.strerror})") from None
    if S_ISDIR(st.st_mode):
        os.mkdir(at, 0o711)
    elif file_ok and S_ISREG(st.st_mode):
        os.close(os.open(at, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    else:
        raise StageError(f"{seen_as} is not a {'file' if file_ok else 'directory'} on this machine")


def _check_readable(source: str, seen_as: str) -> None:
    """A plainly bound directory must be readable by other uids, itself and what it holds: else the
    job would fail inside on EACCES without saying why."""
    mode = os.stat(source).st_mode
    if mode & 0o005 != 0o005:
        raise StageError(f"{seen_as} is not a directory other uids may read (mode {mode & 0o777:o})")
    with os.scandir(source) as entries:
        for n, entry in enumerate(entries):
            if n >= STAGE_MAX_ENTRIES:
                return
            mode = entry.stat(follow_symlinks=False).st_mode
            need = 0o005 if S_ISDIR(mode) else 0o004
            if not S_ISLNK(mode) and mode & need != need:
                raise StageError(
                    f"{seen_as}/{entry.name} is not readable by other uids (mode {mode & 0o777:o})"
                )


def with_data(argv: list[str], seccomp: bytes | None, hosts: bytes) -> tuple[list[str], list[int]]:
    """bwrap's argv with ``--seccomp FD`` (the filter) and ``--ro-bind-data FD /etc/hosts`` (the
    sandbox's own: localhost and its host name, so a job's processes find each other on its
    loopback), each a pipe bwrap reads to its end; and those descriptors. Never a secret: whatever
    bwrap reads stays in its heap (``KEYS_FD`` for a sealed job's keys)."""
    extra: list[str] = []
    fds: list[int] = []
    for flags, data, dest in ((("--seccomp",), seccomp, ()), (("--ro-bind-data",), hosts, ("/etc/hosts",))):
        if data:
            fds.append(pipe_holding(data))
            extra += [*flags, str(fds[-1]), *dest]
    return [argv[0], *extra, *argv[1:]] if fds else argv, fds


def pipe_holding(data: bytes) -> int:
    """The read end of a pipe holding ``data`` (grown past the default 64 KiB when it must be: a
    sealed job's keys; the executor bounds them)."""
    read, write = os.pipe()
    if len(data) > PIPE_MIN:
        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, len(data))
    os.write(write, data)
    os.close(write)
    return read


def link_inputs(work_dir: str, links: list[tuple[str, str]]) -> None:
    """Links in the job's fresh work directory (``name`` -> ``target``): ``inputs`` -> /inputs in
    the sandbox, so ``inputs/<version>`` reads the same on every engine; unsandboxed (development),
    ``inputs/<version>`` -> each version's directory."""
    for target, name in links:
        link = os.path.join(work_dir, name)
        os.makedirs(os.path.dirname(link), 0o700, exist_ok=True)
        if not os.path.lexists(link):
            os.symlink(target, link)
