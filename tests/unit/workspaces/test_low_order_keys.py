"""Low-order X25519 points are not keys (attack1 finding 4): a workspace created with one would take
objects and jobs whose every seal then fails (ValueError), losing the job's outputs."""

from __future__ import annotations

import base64

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.workspaces import envelope

LOW_ORDER = [
    "00" * 32,  # the zero point
    "01" + "00" * 31,  # u = 1
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",  # a point of order 8
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",  # another of order 8
    "ec" + "ff" * 30 + "7f",  # p - 1
]


def text(raw_hex: str) -> str:
    return envelope.PUBLIC_KEY_PREFIX + base64.urlsafe_b64encode(bytes.fromhex(raw_hex)).rstrip(b"=").decode()


@pytest.mark.parametrize("point", LOW_ORDER)
def test_a_low_order_point_is_refused_naming_the_field(point: str) -> None:
    with pytest.raises(InvalidInput, match="low-order") as info:
        envelope.parse_public_key(text(point), field="public_key")
    assert info.value.field == "public_key"
    with pytest.raises(InvalidInput):
        envelope.wrap_key(envelope.new_data_key(), text(point), "ws/obj")  # refused, never a ValueError


def test_the_all_zero_key_as_the_attack_sent_it() -> None:
    with pytest.raises(InvalidInput) as info:
        envelope.parse_public_key("x25519:" + "A" * 43, field="delivery_public_key")
    assert info.value.field == "delivery_public_key"


def test_real_keys_still_parse_and_seal() -> None:
    pair = envelope.generate_keypair()
    assert len(envelope.parse_public_key(pair.public_key)) == envelope.KEY_BYTES
    wrapped = envelope.wrap_key(b"k" * 32, pair.public_key, "ws/obj")
    assert envelope.unwrap_key(wrapped, pair.private_pem, "ws/obj") == b"k" * 32
