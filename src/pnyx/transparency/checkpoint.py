"""C2SP transparency log checkpoints (c2sp.org/tlog-checkpoint): the signed note body. Pure.

<origin>
<tree size, decimal, no leading zeroes>
<base64 root hash>
[extension lines]
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from pnyx.core.errors import InvalidInput

HASH_SIZE = 32
MAX_SIZE = 2**64 - 1

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class MalformedCheckpoint(InvalidInput):
    """The text is not a checkpoint body, or the fields cannot make one."""

    code = "checkpoint_malformed"


def _check_line(line: str, what: str) -> None:
    """A non-empty line of valid UTF-8 without control characters (tlog-checkpoint, "Note text")."""
    if not line:
        raise MalformedCheckpoint(f"the {what} line must be non-empty", field=what)
    if any(ord(c) < 0x20 for c in line):
        raise MalformedCheckpoint(f"the {what} line must not contain control characters", field=what)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedCheckpoint(f"the {what} line must be valid UTF-8", field=what) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A log's tree head at ``size`` leaves: origin, size, RFC 6962 root, opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_SIZE:
            raise MalformedCheckpoint(f"tree size {self.size!r} is not in [0, 2**64)", field="size")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise MalformedCheckpoint(f"root hash must be {HASH_SIZE} bytes", field="root")
        for line in self.extensions:
            _check_line(line, "extension")

    def body(self) -> str:
        """The note text to sign: three lines, then the extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii"), *self.extensions]
        return "".join(line + "\n" for line in lines)


def _parse_size(line: str) -> int:
    if not (line.isascii() and _DECIMAL.fullmatch(line)):
        raise MalformedCheckpoint("tree size must be decimal without leading zeroes", field="size")
    return int(line)


def _parse_root(line: str) -> bytes:
    try:
        root = base64.b64decode(line, validate=True) if line.isascii() else b""
    except binascii.Error as exc:
        raise MalformedCheckpoint("root hash must be base64", field="root") from exc
    if len(root) != HASH_SIZE or base64.b64encode(root).decode("ascii") != line:
        raise MalformedCheckpoint(
            f"root hash must be the canonical base64 of {HASH_SIZE} bytes", field="root"
        )
    return root


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse a checkpoint note text strictly (tlog-checkpoint, "Note text")."""
    if not body.endswith("\n"):
        raise MalformedCheckpoint("a checkpoint body ends with a newline", field="body")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedCheckpoint("a checkpoint body has at least three lines", field="body")
    origin, size, root, *extensions = lines
    return Checkpoint(
        origin=origin, size=_parse_size(size), root=_parse_root(root), extensions=tuple(extensions)
    )
