"""Envelope encryption for SME workspaces (the ``cryptography`` package; no database, no files).

- The SME's key-encryption key (KEK) is an X25519 key pair. The SME keeps the private key (a PEM
  file on its own machine); the platform holds only the public key, ``x25519:<base64url>``. Anyone
  may seal *to* a workspace (its sandboxed jobs seal their outputs), only the SME opens.
- Each object has its own 256-bit data key (DEK). ``wrap_key`` seals a DEK to the public key:
  ephemeral X25519, HKDF-SHA256 over the shared secret and both public keys, AES-256-GCM, with the
  object's ``context`` (``<workspace>/<object>``) as associated data, so a wrapped key moved to
  another object does not open.
- An object's bytes are encrypted as a stream of AES-256-GCM chunks (the STREAM construction:
  nonce = a random 7-byte prefix, a 4-byte counter and a last-chunk flag; the header and the
  context are associated data of every chunk), so objects of any size pass in constant memory and
  truncation, reordering or any altered byte fails the tag (``Tampered``).
- An object's metadata (its name, its plaintext digest and size, the commitment's salt) is sealed
  apart under the same DEK (``seal_meta``): the platform keeps it, cannot read it.
- A commitment ``sha256("pnyx-commitment-v1\\0" || salt || sha256(plaintext))`` is what the public
  log may say of an object; the SME opens it to a third party by revealing the salt and the file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pnyx.core.errors import FacilityError, InvalidInput

PUBLIC_KEY_PREFIX = "x25519:"
KEY_BYTES = 32
TAG = 16
WRAP_MAGIC = b"PXW1"
STREAM_MAGIC = b"PXO1"
META_MAGIC = b"PXM1"
CHUNK = 1 << 20  # plaintext bytes per chunk
HEADER = struct.Struct(">4sI7s")  # magic, chunk size, nonce prefix
MAX_CHUNK = 16 << 20
WRAPPED_BYTES = len(WRAP_MAGIC) + KEY_BYTES + 12 + KEY_BYTES + TAG
COMMITMENT_DOMAIN = b"pnyx-commitment-v1\0"
MAX_META = 4096


class WrongKey(FacilityError):
    """The private key given does not open this wrapped key: not the workspace's key, or revoked."""

    code = "wrong_key"


class Tampered(FacilityError):
    """A ciphertext, wrapped key or sealed metadata failed its authentication tag: altered,
    truncated, or moved to another object. Nothing of it was decrypted."""

    code = "tampered_ciphertext"


@dataclass(frozen=True, slots=True)
class KeyPair:
    private_pem: bytes  # PKCS#8 PEM: what the SME keeps
    public_key: str  # x25519:<base64url>: what the platform keeps


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectMeta:
    """What only the SME may read of an object, sealed beside it."""

    name: str  # the object's file name (a relative path of printable characters)
    plaintext_sha256: str
    size: int
    salt: str  # 64 hex: the commitment's salt

    def commitment(self) -> str:
        return commitment(bytes.fromhex(self.salt), self.plaintext_sha256)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamDigest:
    plaintext_sha256: str
    plaintext_size: int
    ciphertext_sha256: str
    ciphertext_size: int


def generate_keypair() -> KeyPair:
    key = X25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyPair(private_pem=pem, public_key=_public_text(key.public_key()))


def public_key_of(private_pem: bytes) -> str:
    return _public_text(load_private_key(private_pem).public_key())


def load_private_key(private_pem: bytes, field: str = "key") -> X25519PrivateKey:
    """The SME's private key from its PEM; InvalidInput naming ``field`` for anything else."""
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidInput(f"{field}: not an unencrypted PEM private key ({exc})", field=field) from exc
    if not isinstance(key, X25519PrivateKey):
        raise InvalidInput(f"{field}: an X25519 key is required (pnyx sme keygen makes one)", field=field)
    return key


def parse_public_key(text: str, field: str = "public_key") -> bytes:
    """The 32 raw bytes of ``x25519:<base64url>``; InvalidInput naming ``field`` otherwise."""
    body = text.removeprefix(PUBLIC_KEY_PREFIX) if isinstance(text, str) else ""
    try:
        raw = (
            base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if isinstance(text, str) and text.startswith(PUBLIC_KEY_PREFIX)
            else b""
        )
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES or _public_text(X25519PublicKey.from_public_bytes(raw)) != text:
        raise InvalidInput(f"{field}: expected {PUBLIC_KEY_PREFIX}<43 base64url characters>", field=field)
    if _low_order(raw):
        raise InvalidInput(f"{field}: a low-order point, not a key anything can be sealed to", field=field)
    return raw


def _low_order(raw: bytes) -> bool:
    """Whether X25519 with this point gives the all-zero secret (``cryptography`` raises): so it does
    for every private key when the point is of low order (the zero point, order 8, p - 1, ...)."""
    try:
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:
        return True
    return False


def new_data_key() -> bytes:
    return os.urandom(KEY_BYTES)


def seal_to(public_key: str, plaintext: bytes, context: str) -> bytes:
    """ECIES: ``plaintext`` readable only with the private key of ``public_key``, bound to ``context``."""
    recipient = parse_public_key(public_key)
    ephemeral = X25519PrivateKey.generate()
    eph = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kek = _derive(ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient)), eph, recipient, context)
    nonce = os.urandom(12)
    return WRAP_MAGIC + eph + nonce + AESGCM(kek).encrypt(nonce, plaintext, context.encode())


def open_sealed(private_pem: bytes | X25519PrivateKey, sealed: bytes, context: str) -> bytes:
    """What ``seal_to`` sealed; ``WrongKey`` when this key does not open it (or it was altered)."""
    key = private_pem if isinstance(private_pem, X25519PrivateKey) else load_private_key(private_pem)
    if len(sealed) < WRAPPED_BYTES - KEY_BYTES or sealed[:4] != WRAP_MAGIC:
        raise Tampered("a sealed key: not one (wrong length or magic)", field="wrapped_key")
    eph, nonce, body = sealed[4:36], sealed[36:48], sealed[48:]
    mine = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kek = _derive(key.exchange(X25519PublicKey.from_public_bytes(eph)), eph, mine, context)
    try:
        return AESGCM(kek).decrypt(nonce, body, context.encode())
    except InvalidTag as exc:
        raise WrongKey(
            "this key does not open the wrapped key: not the workspace's key, or the key was altered",
            field="key",
        ) from exc


def wrap_key(data_key: bytes, public_key: str, context: str) -> bytes:
    return seal_to(public_key, data_key, context)


def unwrap_key(wrapped: bytes, private_pem: bytes | X25519PrivateKey, context: str) -> bytes:
    key = open_sealed(private_pem, wrapped, context)
    if len(key) != KEY_BYTES:
        raise Tampered("a wrapped key: not a 256-bit data key", field="wrapped_key")
    return key


def encrypt_stream(
    src: BinaryIO, dst: BinaryIO, data_key: bytes, context: str, chunk: int = CHUNK
) -> StreamDigest:
    prefix = os.urandom(7)
    header = HEADER.pack(STREAM_MAGIC, chunk, prefix)
    aead, aad = AESGCM(data_key), header + context.encode()
    out = _Counting(dst)
    out.write(header)
    plain, size, index = hashlib.sha256(), 0, 0
    block = src.read(chunk)
    while True:
        following = src.read(chunk) if len(block) == chunk else b""
        plain.update(block)
        size += len(block)
        out.write(aead.encrypt(_nonce(prefix, index, last=not following), block, aad))
        if not following:
            return out.digest(plain.hexdigest(), size)
        block, index = following, index + 1


def decrypt_stream(src: BinaryIO, dst: BinaryIO, data_key: bytes, context: str) -> StreamDigest:
    """Writes the plaintext to ``dst`` chunk by chunk, each after its tag checked: on ``Tampered``
    the caller discards what was written (the chunks before the bad one were authentic)."""
    header = src.read(HEADER.size)
    if len(header) != HEADER.size:
        raise Tampered("an encrypted object: shorter than its header", field="ciphertext")
    magic, chunk, prefix = HEADER.unpack(header)
    if magic != STREAM_MAGIC or not 0 < chunk <= MAX_CHUNK:
        raise Tampered("an encrypted object: not one (magic or chunk size)", field="ciphertext")
    aead, aad = AESGCM(data_key), header + context.encode()
    counted = _Counting(None)
    counted.update(header)
    plain, size, index = hashlib.sha256(), 0, 0
    block = src.read(chunk + TAG)
    while True:
        following = src.read(chunk + TAG) if len(block) == chunk + TAG else b""
        counted.update(block)
        text = _open_chunk(aead, _nonce(prefix, index, last=not following), block, aad, index)
        plain.update(text)
        size += len(text)
        dst.write(text)
        if not following:
            return counted.digest(plain.hexdigest(), size)
        block, index = following, index + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedObject:
    """One object sealed to a workspace: what the platform stores beside its ciphertext."""

    object_id: str
    wrapped_key: bytes
    sealed_meta: bytes
    commitment: str
    digest: StreamDigest


def new_object_id() -> str:
    """128 random bits, hex (``workspaces.model.OBJECT_ID_HEX`` characters)."""
    return os.urandom(16).hex()


def seal_object(
    src: BinaryIO,
    dst: BinaryIO,
    *,
    object_id: str,
    name: str,
    public_key: str,
    workspace_id: str,
    chunk: int = CHUNK,
) -> SealedObject:
    """``src`` encrypted into ``dst`` under a fresh data key, the key wrapped to the workspace's
    public key, its name, digest, size and a fresh salt sealed beside it: what ``pnyx sme upload``
    and a workspace job's sandbox each do to one file."""
    context = context_of(workspace_id, object_id)
    data_key = new_data_key()
    digest = encrypt_stream(src, dst, data_key, context, chunk)
    meta = ObjectMeta(
        name=name, plaintext_sha256=digest.plaintext_sha256, size=digest.plaintext_size, salt=new_salt()
    )
    return SealedObject(
        object_id=object_id,
        wrapped_key=wrap_key(data_key, public_key, context),
        sealed_meta=seal_meta(meta, data_key, context),
        commitment=meta.commitment(),
        digest=digest,
    )


def seal_meta(meta: ObjectMeta, data_key: bytes, context: str) -> bytes:
    body = json.dumps(
        {"name": meta.name, "plaintext_sha256": meta.plaintext_sha256, "size": meta.size, "salt": meta.salt},
        sort_keys=True,
    ).encode()
    nonce = os.urandom(12)
    return META_MAGIC + nonce + AESGCM(data_key).encrypt(nonce, body, META_MAGIC + context.encode())


def open_meta(sealed: bytes, data_key: bytes, context: str) -> ObjectMeta:
    if not len(META_MAGIC) + 12 + TAG <= len(sealed) <= MAX_META or sealed[:4] != META_MAGIC:
        raise Tampered("an object's sealed metadata: not one", field="sealed_meta")
    try:
        body = AESGCM(data_key).decrypt(sealed[4:16], sealed[16:], META_MAGIC + context.encode())
    except InvalidTag as exc:
        raise Tampered("an object's sealed metadata failed its tag", field="sealed_meta") from exc
    raw = json.loads(body)
    return ObjectMeta(
        name=raw["name"], plaintext_sha256=raw["plaintext_sha256"], size=raw["size"], salt=raw["salt"]
    )


def new_salt() -> str:
    return os.urandom(32).hex()


def commitment(salt: bytes, plaintext_sha256: str) -> str:
    return hashlib.sha256(COMMITMENT_DOMAIN + salt + bytes.fromhex(plaintext_sha256)).hexdigest()


def opens(commitment_hex: str, salt_hex: str, plaintext_sha256: str) -> bool:
    """Whether (salt, the file's SHA-256) opens the commitment: what a third party checks."""
    try:
        computed = commitment(bytes.fromhex(salt_hex), plaintext_sha256)
    except ValueError:
        return False
    return hmac.compare_digest(computed.encode(), commitment_hex.encode())  # str: ASCII only


def context_of(workspace_id: str, object_id: str) -> str:
    return f"{workspace_id}/{object_id}"


def _public_text(key: X25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes, context: str) -> bytes:
    info = b"pnyx-wrap-v1\0" + context.encode()
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=ephemeral + recipient, info=info).derive(
        shared
    )


def _nonce(prefix: bytes, index: int, *, last: bool) -> bytes:
    if index >= 1 << 32:
        raise InvalidInput("an object of more than 2**32 chunks", field="ciphertext")
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _open_chunk(aead: AESGCM, nonce: bytes, block: bytes, aad: bytes, index: int) -> bytes:
    try:
        return aead.decrypt(nonce, block, aad)
    except InvalidTag as exc:
        raise Tampered(f"an encrypted object failed its tag at chunk {index}: altered or truncated") from exc


class _Counting:
    """Hashes and counts the ciphertext as it passes (to ``dst`` when given)."""

    def __init__(self, dst: BinaryIO | None) -> None:
        self.dst, self.hash, self.size = dst, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.update(data)
        if self.dst is not None:
            self.dst.write(data)

    def update(self, data: bytes) -> None:
        self.hash.update(data)
        self.size += len(data)

    def digest(self, plaintext_sha256: str, plaintext_size: int) -> StreamDigest:
        return StreamDigest(
            plaintext_sha256=plaintext_sha256,
            plaintext_size=plaintext_size,
            ciphertext_sha256=self.hash.hexdigest(),
            ciphertext_size=self.size,
        )
