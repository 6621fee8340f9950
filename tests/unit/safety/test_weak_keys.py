"""Weak Ed25519 public keys (finding F5): a small-order key verifies one "universal" signature over
every message, so it is refused, as are non-canonical encodings and bytes that are no curve point."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pnyx.core.errors import InvalidInput
from pnyx.safety import signing

P = 2**255 - 19
IDENTITY = bytes([1]) + bytes(31)  # (0, 1)
ORDER_2 = (P - 1).to_bytes(32, "little")  # (0, -1)
# The eight points of small order, canonically encoded (the identity, order 2, order 4, order 8).
SMALL_ORDER = [
    bytes.fromhex(h)
    for h in (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    )
]
ATTACKERS_KEY = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="  # the identity, as registered in F5
ATTACKERS_ORDER_4_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
UNIVERSAL_SIGNATURE = bytes([1]) + bytes(63)  # R = identity, S = 0
BASE_POINT = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")
BASE_X = 15112221349535400772501151409588531511454012693041857206046113283949847762202


def real_key() -> bytes:
    return Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_the_base_point_decodes_to_its_documented_coordinates() -> None:
    assert signing.edwards_point(BASE_POINT) == (BASE_X, 4 * pow(5, -1, P) % P)
    assert not signing.small_order_key(BASE_POINT)


@pytest.mark.parametrize("raw", SMALL_ORDER, ids=lambda raw: raw.hex()[:8] + raw.hex()[-2:])
def test_every_small_order_point_is_refused_naming_the_public_key(raw: bytes) -> None:
    assert signing.edwards_point(raw) is not None  # a canonical curve point ...
    assert signing.small_order_key(raw)  # ... whose eightfold is the identity
    with pytest.raises(InvalidInput) as refused:
        signing.check_public_key(raw)
    assert (refused.value.field, refused.value.code) == ("public_key", "weak_key")
    assert not signing.strong_public_key(b64(raw))


def test_the_identity_the_order_2_point_and_the_attackers_keys_are_small_order() -> None:
    assert signing.small_order_key(IDENTITY)
    assert signing.small_order_key(ORDER_2)
    assert signing.small_order_key(base64.b64decode(ATTACKERS_KEY))
    assert signing.small_order_key(base64.b64decode(ATTACKERS_ORDER_4_KEY))


def test_twenty_real_keys_pass() -> None:
    for raw in (real_key() for _ in range(20)):
        assert signing.edwards_point(raw) is not None
        assert not signing.small_order_key(raw)
        signing.check_public_key(raw)
        assert signing.strong_public_key(b64(raw))


@pytest.mark.parametrize(
    "raw",
    [
        P.to_bytes(32, "little"),  # y = p: 0 encoded non-canonically
        (P + 1).to_bytes(32, "little"),  # y = p + 1: the identity encoded non-canonically
        (2**255 - 1).to_bytes(32, "little"),  # the largest y
        IDENTITY[:31] + b"\x80",  # x = 0 with its sign bit set
        (2).to_bytes(32, "little"),  # y = 2: no x on the curve
        b"\x01" * 31,  # not 32 bytes
    ],
    ids=["y=p", "y=p+1", "y=2^255-1", "x=0,sign=1", "off-curve", "31-bytes"],
)
def test_non_canonical_or_off_curve_encodings_are_refused(raw: bytes) -> None:
    assert signing.edwards_point(raw) is None
    assert not signing.small_order_key(raw)  # no point at all: refused as not canonical instead
    with pytest.raises(InvalidInput) as refused:
        signing.check_public_key(raw)
    assert refused.value.field == "public_key"
    assert "canonical" in refused.value.message


def test_the_universal_signature_of_the_identity_key_no_longer_verifies() -> None:
    key = Ed25519PublicKey.from_public_bytes(IDENTITY)
    key.verify(UNIVERSAL_SIGNATURE, b"any release at all")  # the library alone accepts it
    for message in (b"any release at all", b"another one"):
        assert not signing.verify_signature(ATTACKERS_KEY, message, b64(UNIVERSAL_SIGNATURE))


def test_a_real_key_still_verifies_its_signature() -> None:
    private = Ed25519PrivateKey.generate()
    public = b64(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    assert signing.verify_signature(public, b"m", b64(private.sign(b"m")))
