"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys. Pure: no I/O.

A note is a text ending in a newline, a blank line, then one or more signature lines
``— <key name> base64(key ID || signature)``. Keys are written as in golang.org/x/mod/sumdb/note:

- verifier key: ``<name>+<hex key ID>+base64(0x01 || 32-byte public key)``
- signer key:   ``PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || 32-byte seed)``

with key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4] (signed-note, "Ed25519 signatures").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pnyx.core.errors import FacilityError, InvalidInput, Unauthenticated
from pnyx.transparency import ed25519

ALG_ED25519 = 0x01
KEY_ID_SIZE = 4
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
MAX_SIGNATURES = 100  # the spec asks verifiers to accept at least 16; Go's sumdb/note caps at 100
SIGNATURE_PREFIX = "\u2014 "  # em dash, space

_HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")


# --- errors -------------------------------------------------------------------------------------


class NoteError(FacilityError):
    """A signed note, or a key for one, is not acceptable."""

    code = "note_error"


class MalformedNote(NoteError, InvalidInput):
    """The note (or the text to sign) breaks the signed-note format."""

    code = "note_malformed"


class InvalidKey(NoteError, InvalidInput):
    """A verifier or signer key text is malformed, of an unknown algorithm, or mislabelled."""

    code = "note_invalid_key"


class UnknownKey(NoteError, Unauthenticated):
    """No signature on the note is by a known key."""

    code = "note_unknown_key"


class BadSignature(NoteError, Unauthenticated):
    """A signature by a known key does not verify: the whole note is rejected."""

    code = "note_bad_signature"


# --- names, text and encodings -------------------------------------------------------------------


def _is_valid_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _has_control(text: str) -> bool:
    """An ASCII control character other than newline (signed-note, "Format")."""
    return any(ord(c) < 0x20 and c != "\n" for c in text)


def is_valid_name(name: str) -> bool:
    """Key names are non-empty, with no Unicode spaces, no plus and no control characters."""
    return (
        name != ""
        and _is_valid_utf8(name)
        and "+" not in name
        and not any(c.isspace() or ord(c) < 0x20 for c in name)
    )


def _check_text(text: str) -> None:
    """Note text: valid UTF-8, ends in a newline, no control characters other than newline."""
    if not text.endswith("\n"):
        raise MalformedNote("note text must end with a newline", field="text")
    if not _is_valid_utf8(text) or _has_control(text):
        raise MalformedNote("note text must be UTF-8 without control characters", field="text")


def _b64decode(text: str) -> bytes | None:
    """Standard base64 (RFC 4648 §4) with padding; ``None`` when it is not."""
    if not text.isascii():
        return None
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_id(name: str, key: bytes) -> bytes:
    """SHA-256(name || 0x0A || key)[:4], where ``key`` is the type byte then the public key."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + key).digest()[:KEY_ID_SIZE]


def _parse_key_id(text: str, what: str) -> bytes:
    if not _HEX_KEY_ID.fullmatch(text):
        raise InvalidKey(f"{what} key ID must be 8 hex digits", field=what)
    return bytes.fromhex(text)


def _parse_ed25519_key(text: str, what: str) -> bytes:
    raw = _b64decode(text)
    if not raw:
        raise InvalidKey(f"{what} key material is not base64", field=what)
    if raw[0] != ALG_ED25519:
        raise InvalidKey(f"{what} uses unknown signature type {raw[0]:#04x}", field=what)
    if len(raw) != 1 + ED25519_KEY_SIZE:
        raise InvalidKey(f"{what} Ed25519 key must be {ED25519_KEY_SIZE} bytes", field=what)
    return raw[1:]


# --- keys -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """An Ed25519 note verifier key: a name and a 32-byte public key."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not is_valid_name(self.name):
            raise InvalidKey(f"invalid key name {self.name!r}", field="name")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != ED25519_KEY_SIZE:
            raise InvalidKey(f"Ed25519 public key must be {ED25519_KEY_SIZE} bytes", field="public_key")

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<hex key ID>+base64(0x01 || public key)``, checking the key ID."""
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise InvalidKey("verifier key must be <name>+<key ID>+<key>", field="vkey")
        name, hex_id, material = parts
        claimed = _parse_key_id(hex_id, "vkey")
        verifier = cls(name, _parse_ed25519_key(material, "vkey"))
        if not hmac.compare_digest(claimed, verifier.key_id):
            raise InvalidKey("verifier key ID does not match its name and key", field="vkey")
        return verifier

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, bytes([ALG_ED25519]) + self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([ALG_ED25519]) + self.public_key)}"

    def verify(self, text: str, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``text`` (RFC 8032)."""
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        return ed25519.verify(self.public_key, signature, text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class NoteSigner:
    """An Ed25519 note signer key: a name and a 32-byte seed (RFC 8032 private key)."""

    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not is_valid_name(self.name):
            raise InvalidKey(f"invalid key name {self.name!r}", field="name")
        if not isinstance(self.seed, bytes) or len(self.seed) != ED25519_KEY_SIZE:
            raise InvalidKey(f"Ed25519 seed must be {ED25519_KEY_SIZE} bytes", field="seed")

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || seed)``, checking the key ID."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise InvalidKey("signer key must be PRIVATE+KEY+<name>+<key ID>+<key>", field="skey")
        name, hex_id, material = parts[2:]
        claimed = _parse_key_id(hex_id, "skey")
        signer = cls(name, _parse_ed25519_key(material, "skey"))
        if not hmac.compare_digest(claimed, signer.key_id):
            raise InvalidKey("signer key ID does not match its name and key", field="skey")
        return signer

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, ed25519.public_key(self.seed))

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    @property
    def skey(self) -> str:
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{_b64(bytes([ALG_ED25519]) + self.seed)}"

    def signature_line(self, text: str) -> str:
        """``— <name> base64(key ID || Ed25519(text))`` and a newline, for an already-checked text."""
        signature = ed25519.sign(self.seed, text.encode("utf-8"))
        return f"{SIGNATURE_PREFIX}{self.name} {_b64(self.key_id + signature)}\n"

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line, and this key's signature line."""
        return sign_note(text, [self])


def generate_signer(name: str) -> tuple[str, str]:
    """A fresh Ed25519 key pair for ``name``, as (signer key, verifier key) texts."""
    signer = NoteSigner(name, ed25519.new_seed())
    return signer.skey, signer.vkey


# --- signing and opening -----------------------------------------------------------------------------


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """``text`` signed by every signer, in order (signed-note, "Format")."""
    _check_text(text)
    if not signers:
        raise InvalidKey("a note needs at least one signer", field="signers")
    return text + "\n" + "".join(s.signature_line(text) for s in signers)


def _index_verifiers(verifiers: Iterable[NoteVerifier]) -> dict[tuple[str, bytes], NoteVerifier]:
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        previous = known.setdefault((v.name, v.key_id), v)
        if previous != v:
            raise InvalidKey(f"two different keys share name {v.name!r} and key ID", field="verifiers")
    return known


def _split_note(note: str) -> tuple[str, list[str]]:
    """The text (with its final newline) and the signature lines (without theirs)."""
    if not _is_valid_utf8(note) or _has_control(note):
        raise MalformedNote("a note must be UTF-8 without control characters", field="note")
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNote("a note needs a blank line before its signatures", field="note")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNote("a note must end with a signature line and a newline", field="note")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"a note may carry at most {MAX_SIGNATURES} signatures", field="note")
    return text, lines


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    """``— <name> <base64>`` as (name, key ID, signature)."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNote("signature lines start with an em dash and a space", field="note")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    raw = _b64decode(encoded)
    if not is_valid_name(name) or raw is None or len(raw) <= KEY_ID_SIZE:
        raise MalformedNote("malformed signature line", field="note")
    return name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]


def open_note(note: str, verifiers: Iterable[NoteVerifier]) -> tuple[str, list[str]]:
    """Verify ``note``; return its text and the names of the known keys that signed it.

    Signatures from unknown keys (name and key ID not both matching a known key) are ignored;
    every signature from a known key must verify, and at least one must be present
    (signed-note, "Signatures").
    """
    known = _index_verifiers(verifiers)
    text, lines = _split_note(note)
    names: list[str] = []
    for line in lines:
        name, kid, signature = _parse_signature_line(line)
        verifier = known.get((name, kid))
        if verifier is None:
            continue
        if not verifier.verify(text, signature):
            raise BadSignature(f"the signature by {name!r} does not verify", field="note")
        if name not in names:
            names.append(name)
    if not names:
        raise UnknownKey("the note carries no signature by a known key", field="note")
    return text, names
