"""The witness's side of c2sp.org/tlog-witness ``add-checkpoint``: the request and the decision. Pure.

What this module relies on (tlog-witness, "add-checkpoint"):

- Request body: ``old <N>\\n`` (decimal, no leading zeroes), zero to 63 lines of one base64
  RFC 6962 consistency-proof hash each, an empty line, then the signed checkpoint note (which may
  carry several signatures).
- Unknown origin: 404. No signature by a key the witness trusts for the origin: 403. Old size
  above the checkpoint's size, or a malformed body: 400. Old size other than the size the witness
  last cosigned for the origin (0 if none): 409, body ``<size>\\n``, ``Content-Type:
  text/x.tlog.size``. Equal sizes with different roots: 409. A proof that does not verify (or a
  non-empty one from size 0): 422. Otherwise the witness records the new (size, root), atomically
  with the check, and answers 200 with its cosignature lines.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pnyx.core.errors import InvalidInput
from pnyx.transparency.checkpoint import Checkpoint, parse_checkpoint
from pnyx.transparency.merkle import ProofError
from pnyx.transparency.note import BadSignature, NoteError, NoteVerifier, UnknownKey, open_note
from pnyx.transparency.verification import verify_consistency

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class MalformedRequest(InvalidInput):
    """An add-checkpoint body that breaks the tlog-witness format (400)."""

    code = "witness_bad_request"


@dataclass(frozen=True, slots=True, kw_only=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: str  # the signed checkpoint, byte for byte


@dataclass(frozen=True, slots=True, kw_only=True)
class WitnessedState:
    """What a witness remembers of one log: the latest (size, root) it cosigned."""

    size: int
    root: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    checkpoint: Checkpoint
    body: str  # the note text the cosignature covers
    state: WitnessedState  # what the witness records before it answers


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    status: int  # the HTTP status tlog-witness prescribes
    reason: str
    size: int | None = None  # with 409 for an old-size mismatch: the witness's recorded size


Decision = Accepted | Refused


def format_request(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    lines = [f"old {old_size}", *(base64.b64encode(h).decode("ascii") for h in proof)]
    return ("".join(line + "\n" for line in lines) + "\n" + note).encode()


def _decimal(text: str, what: str) -> int:
    if not (text.isascii() and _DECIMAL.fullmatch(text)):
        raise MalformedRequest(f"{what} must be decimal without leading zeroes", field=what)
    return int(text)


def _hash(line: str) -> bytes:
    try:
        raw = base64.b64decode(line, validate=True) if line.isascii() else b""
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise MalformedRequest("each proof line is one base64 SHA-256 hash", field="proof")
    return raw


def parse_request(body: bytes) -> AddCheckpoint:
    """The add-checkpoint body, strictly."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest("the body must be UTF-8", field="body") from exc
    head, sep, note = text.partition("\n\n")
    if not sep or not head.startswith("old "):
        raise MalformedRequest("the body is 'old N', proof lines, a blank line, a checkpoint", field="body")
    old, *proof = head.split("\n")
    if len(proof) > MAX_PROOF_LINES:
        raise MalformedRequest(f"at most {MAX_PROOF_LINES} proof lines", field="proof")
    return AddCheckpoint(
        old_size=_decimal(old.removeprefix("old "), "old"), proof=tuple(map(_hash, proof)), note=note
    )


def format_size(size: int) -> str:
    """The body of a 409 for an old-size mismatch."""
    return f"{size}\n"


def parse_size(text: str) -> int:
    return _decimal(text.removesuffix("\n"), "size")


# --- the decision ------------------------------------------------------------------------------------


def _open(request: AddCheckpoint, logs: Mapping[str, Sequence[NoteVerifier]]) -> Checkpoint | Refused:
    """The checkpoint, once its origin is known and a trusted key signed it."""
    try:
        body = request.note.rpartition("\n\n")[0] + "\n"
        checkpoint = parse_checkpoint(body)
        verifiers = logs.get(checkpoint.origin)
        if verifiers is None:
            return Refused(status=404, reason=f"unknown log origin {checkpoint.origin!r}")
        open_note(request.note, verifiers)
    except (UnknownKey, BadSignature) as exc:
        return Refused(status=403, reason=exc.message)
    except (NoteError, InvalidInput) as exc:
        return Refused(status=400, reason=exc.message)
    return checkpoint


def _consistent(request: AddCheckpoint, held: WitnessedState, checkpoint: Checkpoint) -> Refused | None:
    if held.size == 0:
        if request.proof:
            return Refused(status=422, reason="a proof from size 0 must be empty")
        return None
    if held.size == checkpoint.size:
        if held.root != checkpoint.root or request.proof:
            return Refused(status=409, reason="a different root at the size already cosigned", size=held.size)
        return None
    try:
        verify_consistency(held.size, checkpoint.size, request.proof, held.root, checkpoint.root)
    except ProofError as exc:
        return Refused(status=422, reason=f"the consistency proof does not verify: {exc.message}")
    return None


def decide(
    request: AddCheckpoint,
    logs: Mapping[str, Sequence[NoteVerifier]],
    held: Mapping[str, WitnessedState],
) -> Decision:
    """What a witness trusting ``logs`` (origin -> keys) and holding ``held`` does with ``request``."""
    opened = _open(request, logs)
    if isinstance(opened, Refused):
        return opened
    if request.old_size > opened.size:
        return Refused(status=400, reason=f"old size {request.old_size} is above size {opened.size}")
    state = held.get(opened.origin, WitnessedState(size=0, root=b""))
    if request.old_size != state.size:
        return Refused(status=409, reason=f"the witness last cosigned size {state.size}", size=state.size)
    refused = _consistent(request, state, opened)
    if refused is not None:
        return refused
    body = request.note.rpartition("\n\n")[0] + "\n"
    return Accepted(checkpoint=opened, body=body, state=WitnessedState(size=opened.size, root=opened.root))
