"""A public log as the command line reads it for checks: where it is, whose keys it must carry, and how
much of a hostile server's time and bytes a reader gives it. Used by ``pnyx audit replay`` and
``pnyx simulate --from-log``, which verify a log the same way and differ only in what follows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pnyx.audit.entries import DirectoryTiles, Tiles
from pnyx.cli.log import HttpTiles
from pnyx.core.errors import InvalidInput
from pnyx.transparency import limits
from pnyx.transparency.cosignature import CosignatureVerifier
from pnyx.transparency.keys import key_text, witness_keys
from pnyx.transparency.monitor import AuditReport, audit
from pnyx.transparency.note import NoteVerifier


@dataclass(frozen=True, slots=True, kw_only=True)
class LogKeys:
    """Whose signatures the log must carry: its own key, and ``needed`` of the witnesses'."""

    verifier: NoteVerifier
    witnesses: tuple[CosignatureVerifier, ...] = ()
    needed: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """What a reader gives a log server: at most ``max_size`` entries, ``timeout_s`` a request."""

    max_size: int = limits.DEFAULT_MAX_SIZE
    timeout_s: float = limits.DEFAULT_TIMEOUT_S


def log_keys(key: str, witness: Sequence[str], min_witnesses: int | None) -> LogKeys:
    """The keys given (inline or as files); refuses more witnesses needed than given."""
    witnesses, needed = witness_keys(witness, min_witnesses)
    return LogKeys(verifier=NoteVerifier.from_vkey(key_text(key)), witnesses=tuple(witnesses), needed=needed)


@contextmanager
def opened(where: str, reading: Reading, *, named: str, field: str) -> Iterator[Tiles]:
    """The log at ``where``: a directory of its tiles, or its URL (http://HOST/log) read under
    ``reading``'s deadline per request; anything else is refused naming the option (``named``)."""
    if Path(where).is_dir():
        yield DirectoryTiles(Path(where))
    elif where.startswith(("http://", "https://")):
        with httpx.Client(base_url=where.rstrip("/") + "/") as client:
            yield HttpTiles(client, reading.timeout_s)
    else:
        raise InvalidInput(
            f"{named} wants the log's URL (http://HOST/log) or a directory of its tiles; got {where!r}",
            field=field,
        )


def checked(source: Tiles, keys: LogKeys, reading: Reading) -> AuditReport:
    """The log verified: signature, witnesses asked for, every tile and entry, the size cap."""
    return audit(
        source, keys.verifier, witnesses=keys.witnesses, min_witnesses=keys.needed, max_size=reading.max_size
    )
