"""Witness cosignatures of checkpoints (c2sp.org/tlog-cosignature, Ed25519 "cosignature/v1"). Pure.

What this module relies on (tlog-cosignature v1.0.0, "Format" and "Ed25519 signed message"):

- A cosignature is a signed-note signature line on the checkpoint:
  ``— <cosigner name> base64(key ID || timestamped_signature)``.
- key ID = SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]; verifier keys are
  vkeys with type byte 0x04: ``<name>+<hex key ID>+base64(0x04 || public key)``. A cosigner's
  private key is written as a signed-note skey of the same type,
  ``PRIVATE+KEY+<name>+<hex key ID>+base64(0x04 || seed)``.
- timestamped_signature = uint64 big-endian POSIX seconds (at most 2**63 - 1) || 64-byte Ed25519
  signature.
- The signed message is ``"cosignature/v1\\n" + "time <T>\\n" + <checkpoint note text>``: the
  whole body, extension lines included, with its final newline and without signature lines.
- Clients know (name, key) pairs and ignore signature lines whose name and key ID do not match.

The statement a v1 cosignature makes: as of time T, this is the largest consistent tree head the
cosigner has seen for the origin. ``verify_cosignatures`` checks which known witnesses made it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pnyx.transparency import ed25519
from pnyx.transparency.note import (
    ED25519_KEY_SIZE,
    ED25519_SIGNATURE_SIZE,
    KEY_ID_SIZE,
    SIGNATURE_PREFIX,
    InvalidKey,
    MalformedNote,
    is_valid_name,
    key_id,
)

ALG_COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1\n"
TIMESTAMP_SIZE = 8
MAX_TIMESTAMP = 2**63 - 1
SIGNATURE_SIZE = KEY_ID_SIZE + TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE


def message(body: str, timestamp: int) -> bytes:
    """The bytes a cosigner signs over a checkpoint ``body`` at ``timestamp``."""
    return f"{HEADER}time {timestamp}\n{body}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True) if text.isascii() else None
    except binascii.Error:
        return None


def _parse_key(text: str, parts: int, what: str) -> tuple[list[str], bytes]:
    """``...+<name>+<hex key ID>+base64(0x04 || 32 bytes)`` split, with its key material checked."""
    fields = text.split("+", parts - 1)
    raw = _b64decode(fields[-1]) if len(fields) == parts else None
    if raw is None or len(raw) != 1 + ED25519_KEY_SIZE:
        raise InvalidKey(f"a cosigner {what} key is <name>+<key ID>+base64(0x04 || 32 bytes)", field=what)
    if raw[0] != ALG_COSIGNATURE_V1:
        raise InvalidKey(f"cosigner {what} key has type {raw[0]:#04x}, not 0x04 (cosignature/v1)", field=what)
    return fields, raw[1:]


def _check_id(claimed_hex: str, actual: bytes, what: str) -> None:
    if len(claimed_hex) != 2 * KEY_ID_SIZE or not hmac.compare_digest(claimed_hex.lower(), actual.hex()):
        raise InvalidKey(f"the {what} key ID does not match its name and key", field=what)


@dataclass(frozen=True, slots=True)
class CosignatureVerifier:
    """A witness's public key: its name and 32-byte Ed25519 key, cosignature/v1."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not is_valid_name(self.name):
            raise InvalidKey(f"invalid cosigner name {self.name!r}", field="name")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != ED25519_KEY_SIZE:
            raise InvalidKey(f"Ed25519 public key must be {ED25519_KEY_SIZE} bytes", field="public_key")

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        fields, key = _parse_key(vkey.strip(), 3, "vkey")
        verifier = cls(fields[0], key)
        _check_id(fields[1], verifier.key_id, "vkey")
        return verifier

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, bytes([ALG_COSIGNATURE_V1]) + self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([ALG_COSIGNATURE_V1]) + self.public_key)}"

    def timestamp_if_valid(self, body: str, signature: bytes) -> int | None:
        """The timestamp of a valid cosignature (what follows the key ID); None if it is not one."""
        if len(signature) != TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
            return None
        timestamp = int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
        if timestamp > MAX_TIMESTAMP:
            return None
        if not ed25519.verify(self.public_key, signature[TIMESTAMP_SIZE:], message(body, timestamp)):
            return None
        return timestamp


@dataclass(frozen=True, slots=True)
class Cosigner:
    """A witness's private key: its name and 32-byte Ed25519 seed."""

    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not is_valid_name(self.name):
            raise InvalidKey(f"invalid cosigner name {self.name!r}", field="name")
        if not isinstance(self.seed, bytes) or len(self.seed) != ED25519_KEY_SIZE:
            raise InvalidKey(f"Ed25519 seed must be {ED25519_KEY_SIZE} bytes", field="seed")

    @classmethod
    def from_skey(cls, skey: str) -> Cosigner:
        fields, seed = _parse_key(skey.strip(), 5, "skey")
        if fields[:2] != ["PRIVATE", "KEY"]:
            raise InvalidKey("a cosigner key is PRIVATE+KEY+<name>+<key ID>+<key>", field="skey")
        cosigner = cls(fields[2], seed)
        _check_id(fields[3], cosigner.verifier.key_id, "skey")
        return cosigner

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, ed25519.public_key(self.seed))

    @property
    def skey(self) -> str:
        kid = self.verifier.key_id.hex()
        return f"PRIVATE+KEY+{self.name}+{kid}+{_b64(bytes([ALG_COSIGNATURE_V1]) + self.seed)}"

    def cosign(self, body: str, timestamp: int) -> str:
        """The cosignature line (with its newline) on a checkpoint ``body`` at ``timestamp``."""
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise MalformedNote(f"timestamp {timestamp} is not in [0, 2**63)", field="timestamp")
        signature = ed25519.sign(self.seed, message(body, timestamp))
        raw = self.verifier.key_id + timestamp.to_bytes(TIMESTAMP_SIZE, "big") + signature
        return f"{SIGNATURE_PREFIX}{self.name} {_b64(raw)}\n"


def generate_cosigner(name: str) -> Cosigner:
    return Cosigner(name, ed25519.new_seed())


# --- reading cosignatures off a note ----------------------------------------------------------------


def split_signatures(note: str) -> tuple[str, list[str]]:
    """A signed note's text (with its final newline) and its signature lines (without theirs)."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise MalformedNote("a note is text, a blank line, then signature lines", field="note")
    return note[: split + 1], note[split + 2 : -1].split("\n")


def parse_signature_line(line: str) -> tuple[str, bytes, bytes] | None:
    """``— <name> base64(key ID || rest)`` as (name, key ID, rest); None when malformed."""
    if not line.startswith(SIGNATURE_PREFIX):
        return None
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    raw = _b64decode(encoded)
    if not is_valid_name(name) or raw is None or len(raw) <= KEY_ID_SIZE:
        return None
    return name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]


@dataclass(frozen=True, slots=True, kw_only=True)
class WitnessReport:
    """Which known witnesses validly cosigned a note (name -> timestamp), which cosigned it badly,
    and which did not cosign it at all."""

    cosigned: dict[str, int]
    bad: tuple[str, ...]
    missing: tuple[str, ...]

    def problems(self, minimum: int) -> list[str]:
        """What a verifier demanding ``minimum`` known witnesses has to say; empty when satisfied."""
        found = [f"witness {name}: its cosignature does not verify" for name in self.bad]
        if len(self.cosigned) < minimum:
            absent = ", ".join((*self.missing, *self.bad)) or "none"
            found.append(
                f"only {len(self.cosigned)} of the {minimum} required witnesses cosigned the checkpoint "
                f"(not cosigned by: {absent})"
            )
        return found


def verify_cosignatures(note: str, witnesses: Iterable[CosignatureVerifier]) -> WitnessReport:
    """Check every cosignature on ``note`` by a known witness; lines by other keys are ignored."""
    text, lines = split_signatures(note)
    known = {(w.name, w.key_id): w for w in witnesses}
    cosigned: dict[str, int] = {}
    bad: list[str] = []
    for name, kid, rest in filter(None, map(parse_signature_line, lines)):
        witness = known.get((name, kid))
        if witness is None:
            continue
        timestamp = witness.timestamp_if_valid(text, rest)
        if timestamp is None:
            bad.append(name)
        else:
            cosigned[name] = max(timestamp, cosigned.get(name, 0))
    bad_names = tuple(dict.fromkeys(bad))  # one bad line taints a witness's good ones
    valid = {name: t for name, t in cosigned.items() if name not in bad_names}
    missing = tuple(w.name for w in known.values() if w.name not in valid and w.name not in bad_names)
    return WitnessReport(cosigned=valid, bad=bad_names, missing=missing)


def add_cosignatures(note: str, lines: Sequence[str]) -> str:
    """``note`` with the signature ``lines`` (each ending in a newline) appended, once each."""
    _text, present = split_signatures(note)
    new = [line for line in dict.fromkeys(lines) if line.rstrip("\n") not in present]
    return note + "".join(new)
