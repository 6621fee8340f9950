"""Envelope encryption: round trips at chunk boundaries, and every way a ciphertext, a wrapped key or
sealed metadata can be wrong fails loudly (WrongKey, Tampered), nothing decrypted."""

from __future__ import annotations

import io

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.workspaces import envelope
from pnyx.workspaces.envelope import HEADER, TAG, Tampered, WrongKey

CHUNK = 64
CONTEXT = "ws-1/" + "a" * 32


def encrypt(data: bytes, key: bytes, context: str = CONTEXT) -> tuple[bytes, envelope.StreamDigest]:
    out = io.BytesIO()
    digest = envelope.encrypt_stream(io.BytesIO(data), out, key, context, chunk=CHUNK)
    return out.getvalue(), digest


def decrypt(blob: bytes, key: bytes, context: str = CONTEXT) -> bytes:
    out = io.BytesIO()
    envelope.decrypt_stream(io.BytesIO(blob), out, key, context)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_streams_round_trip_at_chunk_boundaries(size: int) -> None:
    key, data = envelope.new_data_key(), bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    blob, digest = encrypt(data, key)
    chunks = max(1, -(-size // CHUNK))
    assert len(blob) == HEADER.size + size + chunks * TAG == digest.ciphertext_size
    out = io.BytesIO()
    back = envelope.decrypt_stream(io.BytesIO(blob), out, key, CONTEXT)
    assert out.getvalue() == data
    assert back == digest
    assert digest.plaintext_size == size


def test_a_flipped_byte_anywhere_is_tampered() -> None:
    key = envelope.new_data_key()
    blob, _ = encrypt(b"x" * (3 * CHUNK), key)
    for at in (0, 5, HEADER.size, HEADER.size + CHUNK + TAG + 3, len(blob) - 1):
        bad = bytearray(blob)
        bad[at] ^= 1
        with pytest.raises(Tampered):
            decrypt(bytes(bad), key)


def test_truncation_at_a_chunk_boundary_and_reordering_are_tampered() -> None:
    key = envelope.new_data_key()
    blob, _ = encrypt(bytes(range(200)) * 2, key)  # 400 bytes: 7 chunks, the last short
    step = CHUNK + TAG
    body = blob[HEADER.size :]
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    header = blob[: HEADER.size]
    for bad in (
        header + b"".join(chunks[:3]),  # whole chunks dropped: the last has no last-chunk flag
        header,  # every chunk dropped
        header + chunks[1] + chunks[0] + b"".join(chunks[2:]),  # reordered
        blob[: HEADER.size - 1],  # shorter than its header
    ):
        with pytest.raises(Tampered):
            decrypt(bad, key)


def test_an_empty_object_cannot_be_extended_or_emptied() -> None:
    key = envelope.new_data_key()
    empty, _ = encrypt(b"", key)
    full, _ = encrypt(b"y" * CHUNK, key)
    with pytest.raises(Tampered):
        decrypt(full[: HEADER.size], key)
    with pytest.raises(Tampered):
        decrypt(empty + full[HEADER.size :], key)


def test_a_context_swap_or_another_key_is_tampered() -> None:
    key = envelope.new_data_key()
    blob, _ = encrypt(b"z" * 100, key)
    with pytest.raises(Tampered):
        decrypt(blob, key, "ws-1/" + "b" * 32)
    with pytest.raises(Tampered):
        decrypt(blob, envelope.new_data_key())


def test_wrapped_keys_open_only_with_the_workspace_key_and_their_context() -> None:
    pair, other = envelope.generate_keypair(), envelope.generate_keypair()
    key = envelope.new_data_key()
    wrapped = envelope.wrap_key(key, pair.public_key, CONTEXT)
    assert len(wrapped) == envelope.WRAPPED_BYTES
    assert envelope.unwrap_key(wrapped, pair.private_pem, CONTEXT) == key
    assert envelope.public_key_of(pair.private_pem) == pair.public_key
    with pytest.raises(WrongKey):
        envelope.unwrap_key(wrapped, other.private_pem, CONTEXT)
    with pytest.raises(WrongKey):
        envelope.unwrap_key(wrapped, pair.private_pem, "ws-1/" + "c" * 32)  # moved to another object
    flipped = bytearray(wrapped)
    flipped[-1] ^= 1
    with pytest.raises(WrongKey):
        envelope.unwrap_key(bytes(flipped), pair.private_pem, CONTEXT)
    for bad in (wrapped[:10], b"XXXX" + wrapped[4:]):
        with pytest.raises(Tampered):
            envelope.unwrap_key(bad, pair.private_pem, CONTEXT)


def test_sealed_metadata_opens_with_its_key_and_context_only() -> None:
    key = envelope.new_data_key()
    meta = envelope.ObjectMeta(
        name="data/train.jsonl", plaintext_sha256="ab" * 32, size=7, salt=envelope.new_salt()
    )
    sealed = envelope.seal_meta(meta, key, CONTEXT)
    assert envelope.open_meta(sealed, key, CONTEXT) == meta
    assert b"train" not in sealed
    for bad_key, context, blob in (
        (envelope.new_data_key(), CONTEXT, sealed),
        (key, "ws-2/" + "a" * 32, sealed),
        (key, CONTEXT, sealed[:-1] + bytes([sealed[-1] ^ 1])),
        (key, CONTEXT, b"PXM0" + sealed[4:]),
        (key, CONTEXT, sealed + b"x" * envelope.MAX_META),
        (key, CONTEXT, b"PXM1" + b"x" * 5),  # shorter than a nonce and a tag: Tampered, not ValueError
        (key, CONTEXT, b"PXM1"),
    ):
        with pytest.raises(Tampered):
            envelope.open_meta(blob, bad_key, context)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x25519:",
        "x25519:abc",
        "ed25519:" + "A" * 43,
        "x25519:" + "A" * 42 + "=",
        "x25519:" + "!" * 43,
        "x25519:" + "A" * 44,
    ],
)
def test_bad_public_keys_name_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        envelope.parse_public_key(text, field="workspace.public_key")
    assert raised.value.field == "workspace.public_key"
    assert "workspace.public_key" in str(raised.value)


def test_a_good_public_key_parses_and_bad_private_keys_name_the_field() -> None:
    pair = envelope.generate_keypair()
    assert len(envelope.parse_public_key(pair.public_key)) == envelope.KEY_BYTES
    with pytest.raises(InvalidInput, match="sme_key"):
        envelope.load_private_key(b"not a pem", field="sme_key")


def test_commitments_open_with_the_right_salt_and_digest_only() -> None:
    salt, digest = envelope.new_salt(), "cd" * 32
    meta = envelope.ObjectMeta(name="a", plaintext_sha256=digest, size=1, salt=salt)
    commitment = meta.commitment()
    assert envelope.opens(commitment, salt, digest)
    assert not envelope.opens(commitment, envelope.new_salt(), digest)
    assert not envelope.opens(commitment, salt, "ce" * 32)
    assert not envelope.opens(commitment, "zz", digest)  # not hex: False, not an error
    assert not envelope.opens(commitment, salt, "not hex")
    assert not envelope.opens("é" * 64, salt, digest)  # a non-ASCII claim: False, not TypeError


def test_what_is_not_a_key_at_all_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="public_key"):
        envelope.parse_public_key(None)  # type: ignore[arg-type]
