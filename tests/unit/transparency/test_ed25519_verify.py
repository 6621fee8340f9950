"""Ed25519 verification, one contract for both implementations behind ``transparency.ed25519``: the
``cryptography`` library and the pure-Python verifier the standalone auditor uses (RFC 8032 §5.1.7).
RFC 8032 §7.1 vectors, signatures ``cryptography`` makes, and the C2SP / Go signed-note vectors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.transparency import ed25519, ed25519_verify
from pnyx.transparency.cosignature import generate_cosigner, verify_cosignatures
from pnyx.transparency.note import BadSignature, NoteSigner, NoteVerifier, generate_signer, open_note
from tests.unit.transparency.test_note import VECTORS

Verify = Callable[[bytes, bytes, bytes], bool]
IMPLEMENTATIONS = {"library": ed25519.library_verify, "pure": ed25519_verify.verify}

# RFC 8032 §7.1: (secret key, public key, message, signature), hex
RFC8032 = {
    "TEST 1": (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    "TEST 2": (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    "TEST 3": (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    "TEST SHA(abc)": (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def verify(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Verify:
    """One implementation, also installed behind the seam that notes and cosignatures call."""
    chosen = IMPLEMENTATIONS[request.param]
    monkeypatch.setattr(ed25519, "verify", chosen)
    return chosen


def _flip(data: bytes, bit: int) -> bytes:
    return data[: bit // 8] + bytes([data[bit // 8] ^ 1 << bit % 8]) + data[bit // 8 + 1 :]


@pytest.mark.parametrize("name", sorted(RFC8032))
def test_rfc8032_vectors(verify: Verify, name: str) -> None:
    secret, public, message, signature = (bytes.fromhex(h) for h in RFC8032[name])
    made = Ed25519PrivateKey.from_private_bytes(secret)  # the vector as transcribed is the RFC's
    assert made.public_key().public_bytes_raw() == public
    assert made.sign(message) == signature
    assert verify(public, signature, message)
    assert not verify(public, signature, message + b"\0")
    assert not verify(public, _flip(signature, 3), message)
    assert not verify(public, _flip(signature, 300), message)
    assert not verify(_flip(public, 9), signature, message)


@settings(max_examples=25, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=300), bit=st.integers(0, 511))
def test_signatures_cryptography_makes(seed: bytes, message: bytes, bit: int) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public, signature = key.public_key().public_bytes_raw(), key.sign(message)
    for verify in IMPLEMENTATIONS.values():
        assert verify(public, signature, message)
        assert not verify(public, _flip(signature, bit), message)
        assert not verify(public, signature, message + b"x")


def test_what_no_implementation_accepts(verify: Verify) -> None:
    _secret, public, message, signature = (bytes.fromhex(h) for h in RFC8032["TEST 2"])
    s = int.from_bytes(signature[32:], "little")
    assert not verify(public, signature[:32] + (s + ed25519_verify.L).to_bytes(32, "little"), message)
    assert not verify(public, signature[:63], message)
    assert not verify(public[:31], signature, message)
    assert not verify(public, bytes(64), message)
    off_curve = (2).to_bytes(32, "little")  # y = 2: no x satisfies the curve equation
    assert ed25519_verify.decode_point(off_curve) is None
    assert not verify(off_curve, signature, message)


def test_non_canonical_keys_are_refused_by_the_rfc_not_by_openssl() -> None:
    """Where the two differ: RFC 8032 §5.1.3 refuses y >= p and a negative zero x; OpenSSL reduces.
    No key generator makes such a key; the pure verifier is the stricter, never the laxer."""
    identity = (1).to_bytes(32, "little")
    for key in ((ed25519_verify.P + 1).to_bytes(32, "little"), (1 | 1 << 255).to_bytes(32, "little")):
        assert not ed25519_verify.verify(key, identity + bytes(32), b"m")
    assert ed25519_verify.verify(identity, identity + bytes(32), b"m")  # a small-order key: as OpenSSL


def _note_vectors() -> list[Any]:
    if not VECTORS.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no vectors at {VECTORS}"), id="absent")]
    return [pytest.param(c, id=c["desc"]) for c in json.loads(VECTORS.read_text())["valid"]]


@pytest.mark.parametrize("case", _note_vectors())
def test_signed_note_vectors(verify: Verify, case: dict[str, Any]) -> None:
    verifiers = [NoteVerifier.from_vkey(v) for v in case.get("vkeys") or [case["vkey"]]]
    _text, names = open_note(case["note"], verifiers)
    assert names == [v.name for v in verifiers]
    with pytest.raises(BadSignature):
        open_note(case["note"].replace("e", "E", 1), verifiers)


def test_notes_and_cosignatures_through_the_seam(verify: Verify) -> None:
    skey, vkey = generate_signer("log.example")
    note = NoteSigner.from_skey(skey).sign("log.example\n3\nAAAA\n")
    assert open_note(note, [NoteVerifier.from_vkey(vkey)])[1] == ["log.example"]
    witness = generate_cosigner("w.example")
    cosigned = note + witness.cosign("log.example\n3\nAAAA\n", 1700000000)
    assert verify_cosignatures(cosigned, [witness.verifier]).cosigned == {"w.example": 1700000000}
    forged = note + witness.cosign("log.example\n4\nAAAA\n", 1700000000)
    assert verify_cosignatures(forged, [witness.verifier]).bad == ("w.example",)


def test_without_the_library_it_verifies_and_refuses_to_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ed25519, "LIBRARY", False)
    with pytest.raises(ed25519.SigningUnavailable, match="only verifies"):
        ed25519.sign(bytes(32), b"m")
    with pytest.raises(ed25519.SigningUnavailable):
        generate_signer("log.example")
