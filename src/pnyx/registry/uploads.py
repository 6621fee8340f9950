"""Unpacking an uploaded tar of an import directory (hostile input).

Before ``tarfile`` reads anything, ``prescan`` walks the 512-byte headers of the uncompressed stream
(plain, gzip, bzip2 or xz) as ``tarfile`` will: a GNU long name or pax header over
``MAX_HEADER_BYTES`` is refused before it is read into memory, sparse members and global pax sizes
are refused, the file bytes are counted against the cap, the archive must end with its end-of-archive
block, and the compressed stream is read to its end (its trailer checked: a cut or padded-with-garbage
upload is refused). ``unpack`` then writes regular files and directories only: no absolute or ``..``
names, no name over ``PATH_MAX`` bytes or component over ``NAME_MAX``, capped in members and bytes.
Every refusal names the member by its name in the archive (cut to 200 characters), never a path on
this server.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from pnyx.core.errors import InvalidInput
from pnyx.registry import rules

BLOCK = 512
MAX_HEADER_BYTES = 4096  # a GNU long name or link, or one pax extended header
MAX_TRAILING = 1024 * 1024  # zero padding after the end-of-archive block
PATH_MAX = 4096
NAME_MAX = 255
MAX_DEPTH = 16
_LONG = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_PAX = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_PAX_RECORD = re.compile(rb"(\d{1,5}) ")
_BROKEN = (EOFError, OSError, lzma.LZMAError, zlib.error, ValueError)


def unpack(upload: BinaryIO, destination: Path, *, max_members: int, max_bytes: int) -> Path:
    """Unpack a tar (plain or compressed) of an import directory into ``destination``; the import
    root (``destination``, or its one top-level directory when ``sources.json`` lies inside it)."""
    prescan(upload, max_members=max_members, max_bytes=max_bytes)
    try:
        with tarfile.open(fileobj=upload, mode="r:*") as tar:
            _unpack_members(tar, destination, max_members, max_bytes)
    except (tarfile.TarError, *_BROKEN) as exc:
        raise InvalidInput(f"the upload is not a tar archive: {_why(exc)}", field="body") from None
    if (destination / rules.SOURCES_FILE).is_file():
        return destination
    tops = list(destination.iterdir())
    if len(tops) == 1 and tops[0].is_dir() and (tops[0] / rules.SOURCES_FILE).is_file():
        return tops[0]
    raise InvalidInput(f"the archive holds no {rules.SOURCES_FILE} file at its top", field=rules.SOURCES_FILE)


def prescan(upload: BinaryIO, *, max_members: int, max_bytes: int) -> None:
    """Walk the archive's headers as ``tarfile`` will, reading nothing big into memory (module doc)."""
    try:
        stream = _decompressed(upload)
        _walk(stream, max_members, max_bytes)
        _drain(stream)
    except _BROKEN as exc:
        raise InvalidInput(
            f"the upload is not a complete tar archive (plain, gzip, bzip2 or xz): {_why(exc)}", field="body"
        ) from None
    finally:
        upload.seek(0)


def _decompressed(upload: BinaryIO) -> IO[bytes]:
    magic = upload.read(6)
    upload.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=upload, mode="rb")  # type: ignore[return-value]  # an IO[bytes] at runtime
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(upload)
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(upload)
    return upload


def _walk(stream: IO[bytes], max_members: int, max_bytes: int) -> None:
    total, size_next, pending = 0, None, set[bytes]()  # extension headers seen before the member
    for _ in range(3 * max_members + 1):  # a member may come with a long name and a pax header
        header = _exactly(stream, BLOCK)
        if header == bytes(BLOCK):
            return
        kind, size = _header(header)
        if kind in _LONG or kind in _PAX:
            _once(kind, pending)
            data = _extension(stream, kind, size)
            size_next = _pax_size(data, kind) if kind in _PAX else size_next
            continue
        size, size_next, pending = (size if size_next is None else size_next), None, set()
        if kind == tarfile.GNUTYPE_SPARSE:
            raise InvalidInput("the archive holds a sparse member; send plain files", field="body")
        if kind in tarfile.REGULAR_TYPES or kind not in tarfile.SUPPORTED_TYPES:
            total += size
            if total > max_bytes:
                raise InvalidInput(f"the archive unpacks to more than {max_bytes} bytes", field="body")
            _skip(stream, _padded(size))
    raise InvalidInput(f"the archive has more than {max_members} members", field="body")


def _once(kind: bytes, pending: set[bytes]) -> None:
    """At most one extension header of each kind before a member: with two, ``tarfile`` and this walk
    would disagree on which one's size holds, so the walk could be led to skip what tarfile reads."""
    key = tarfile.XHDTYPE if kind == tarfile.SOLARIS_XHDTYPE else kind  # two spellings of a pax header
    if key in pending:
        raise InvalidInput("the archive has two extension headers of one kind before a member", field="body")
    pending.add(key)


def _header(block: bytes) -> tuple[bytes, int]:
    """A header block's type and size, its checksum checked (as ``tarfile`` checks it)."""
    stored = _number(block[148:156])
    unsigned = sum(block[:148]) + 256 + sum(block[156:])
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 256
    if stored not in (unsigned, signed):
        raise InvalidInput("the upload is not a tar archive: a header has a bad checksum", field="body")
    size = _number(block[124:136])
    if size < 0:
        raise InvalidInput("the archive has a header with a negative size", field="body")
    return block[156:157], size


def _number(field: bytes) -> int:
    """A tar number: octal text, or base-256 when the first byte's high bit is set."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value if field[0] == 0x80 else value - (1 << (8 * (len(field) - 1)))
    text = field.split(b"\0", 1)[0].strip()
    if text and not re.fullmatch(rb"[0-7]+", text):
        raise InvalidInput("the upload is not a tar archive: a header has a damaged number", field="body")
    return int(text, 8) if text else 0


def _extension(stream: IO[bytes], kind: bytes, size: int) -> bytes:
    if size > MAX_HEADER_BYTES:
        what = "long name" if kind in _LONG else "pax"
        raise InvalidInput(
            f"the archive has a {what} header of {size} bytes; the limit is {MAX_HEADER_BYTES}", field="body"
        )
    return _exactly(stream, _padded(size))[:size]


def _pax_size(data: bytes, kind: bytes) -> int | None:
    """The ``size`` a pax header gives the next member (refused in a global header)."""
    size, position = None, 0
    while position < len(data) and data[position:] != bytes(len(data) - position):
        match = _PAX_RECORD.match(data, position)
        length = 0 if match is None else int(match.group(1))
        record = data[position : position + length]
        if match is None or length <= len(match.group(0)) or not record.endswith(b"\n"):
            raise InvalidInput("the archive has a malformed pax header", field="body")
        key, _, value = record[match.end() - position : -1].partition(b"=")
        if key.startswith(b"GNU.sparse") or (key == b"size" and kind == tarfile.XGLTYPE):
            raise InvalidInput("the archive's pax headers hold sparse or global sizes", field="body")
        if key == b"size":
            size = int(value) if value.isdigit() and len(value) < 20 else -1
        position += length
    if size is not None and size < 0:
        raise InvalidInput("the archive has a pax header with a bad size", field="body")
    return size


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _exactly(stream: IO[bytes], count: int) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise InvalidInput(
            "the archive ends early (cut short, or no end-of-archive block): send the whole tar", field="body"
        )
    return data


def _skip(stream: IO[bytes], count: int) -> None:
    while count:
        count -= len(_exactly(stream, min(count, 1 << 20)))


def _drain(stream: IO[bytes]) -> None:
    """Read what follows the end-of-archive block: zero padding only (this checks a compressed
    stream's trailer too)."""
    seen = 0
    while chunk := stream.read(1 << 16):
        seen += len(chunk)
        if seen > MAX_TRAILING or chunk.strip(b"\0"):
            raise InvalidInput("the archive has data after its end-of-archive block", field="body")


def _why(exc: BaseException) -> str:
    return rules.shorten(str(exc) or type(exc).__name__)


# --- writing members -------------------------------------------------------------------------------


def _unpack_members(tar: tarfile.TarFile, destination: Path, max_members: int, max_bytes: int) -> None:
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    total = 0
    for count, member in enumerate(tar, start=1):
        if count > max_members:
            raise InvalidInput(f"the archive has more than {max_members} members", field="body")
        parts = safe_parts(member.name)
        if not member.isdir() and (not member.isfile() or not parts):
            shown = rules.shorten(member.name)
            raise InvalidInput(f"archive member {shown} is not a regular file or directory", field=shown)
        total += member.size if member.isfile() else 0
        if total > max_bytes:
            raise InvalidInput(f"the archive unpacks to more than {max_bytes} bytes", field="body")
        if parts:
            _write(tar, member, destination.joinpath(*parts))


def safe_parts(name: str) -> tuple[str, ...]:
    """A member's path below the import root (``()`` for the root itself: ``.`` or ``./``);
    InvalidInput naming the member (cut to 200 characters) for any unsafe or oversized name."""
    shown = rules.shorten(name)
    rules.check_text(name, "body")  # a name that is not text (or holds control characters) is refused
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) > PATH_MAX or any(len(p.encode()) > NAME_MAX for p in name.split("/")):
        raise InvalidInput(
            f"archive member {shown!r} has a name over {PATH_MAX} bytes or a part over {NAME_MAX}",
            field=shown,
        )
    parts = PurePosixPath(name).parts
    if name.startswith("/") or "\\" in name or ".." in parts or not (parts or name in (".", "./")):
        raise InvalidInput(f"archive member {shown!r} has an unsafe name", field=shown)
    if len(parts) > MAX_DEPTH:
        raise InvalidInput(f"archive member {shown!r} is nested too deep", field=shown)
    return tuple(p for p in parts if p != ".")


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    shown = rules.shorten(member.name)
    try:
        if member.isdir():
            target.mkdir(mode=0o700, parents=True, exist_ok=True)
        else:
            _extract(tar, member, target, shown)
    except OSError as exc:
        raise InvalidInput(
            f"archive member {shown} cannot be unpacked: {exc.strerror or 'clashes with another member'}"
            " (a file and a directory of the same name?)",
            field=shown,
        ) from None


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, shown: str) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = tar.extractfile(member)
    assert source is not None  # a regular member always has a file object
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        descriptor = os.open(target, flags, 0o600)
    except FileExistsError:
        raise InvalidInput(f"archive member {shown} appears twice", field=shown) from None
    with os.fdopen(descriptor, "wb") as out:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            out.write(chunk)
