"""tlog-cosignature v1 (Ed25519): hand-built vectors, published key and signature shapes, round trips."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pnyx.transparency.checkpoint import Checkpoint
from pnyx.transparency.cosignature import (
    CosignatureVerifier,
    Cosigner,
    add_cosignatures,
    generate_cosigner,
    parse_signature_line,
    verify_cosignatures,
)
from pnyx.transparency.note import InvalidKey, MalformedNote, NoteSigner, generate_signer, open_note

SEED = bytes(range(32))
NAME = "witness.example/w1"
BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def _expected_line(seed: bytes, name: str, body: str, timestamp: int) -> str:
    """The cosignature line written out from the spec with plain primitives, not the module."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes_raw()
    kid = hashlib.sha256(name.encode() + b"\n" + b"\x04" + public).digest()[:4]
    signed = b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + body.encode()
    raw = kid + timestamp.to_bytes(8, "big") + key.sign(signed)
    return f"\u2014 {name} {base64.b64encode(raw).decode()}\n"


def test_cosign_matches_the_hand_built_vector() -> None:
    assert Cosigner(NAME, SEED).cosign(BODY, 1679315147) == _expected_line(SEED, NAME, BODY, 1679315147)


def test_hand_built_vector_verifies() -> None:
    note = BODY + "\n" + _expected_line(SEED, NAME, BODY, 1679315147)
    report = verify_cosignatures(note, [Cosigner(NAME, SEED).verifier])
    assert report.cosigned == {NAME: 1679315147}
    assert report.bad == ()
    assert report.missing == ()


def test_published_cosignature_vkey_parses() -> None:
    """A native 0x04 verifier key from transparency-dev/formats (note_cosigv1_test.go)."""
    vkey = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
    verifier = CosignatureVerifier.from_vkey(vkey)
    assert verifier.name == "remora.n621.de"
    assert verifier.key_id.hex() == "da77ade7"
    assert verifier.vkey == vkey


@pytest.mark.parametrize(
    "vkey",
    [
        "remora.n621.de+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",  # wrong key ID
        "other.name+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",  # ID of another name
        "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6",  # a 0x01 note key
        "bananas.sigstore.dev+12344556",
        "rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!",
    ],
)
def test_bad_vkeys_are_refused(vkey: str) -> None:
    with pytest.raises(InvalidKey):
        CosignatureVerifier.from_vkey(vkey)


@pytest.mark.parametrize(
    ("line", "timestamp"),
    [
        # tlog-cosignature's example, whose checkpoint's signed message shows "time 1679315147"
        (
            "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJs"
            "X3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==",
            1679315147,
        ),
        # transparency-dev/formats TestCosignatureTimestamp
        (
            "\u2014 w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOwor"
            "DcFiEBYJXORmnFBOBA==",
            1727964367,
        ),
    ],
)
def test_published_cosignatures_have_the_timestamped_layout(line: str, timestamp: int) -> None:
    parsed = parse_signature_line(line)
    assert parsed is not None
    _name, kid, rest = parsed
    assert len(kid) == 4
    assert len(rest) == 8 + 64
    assert int.from_bytes(rest[:8], "big") == timestamp


def test_keys_round_trip() -> None:
    cosigner = generate_cosigner("witness.pnyx.example")
    assert Cosigner.from_skey(cosigner.skey) == cosigner
    assert CosignatureVerifier.from_vkey(cosigner.verifier.vkey) == cosigner.verifier
    assert cosigner.skey.startswith("PRIVATE+KEY+witness.pnyx.example+")


def test_a_log_key_is_not_a_cosigner_key() -> None:
    skey, _vkey = generate_signer("log.example")
    with pytest.raises(InvalidKey):
        Cosigner.from_skey(skey)


def _signed(body: str) -> tuple[NoteSigner, str]:
    log = NoteSigner.from_skey(generate_signer("log.example")[0])
    return log, log.sign(body)


def test_cosigned_note_still_opens_with_the_log_key_and_reports_each_witness() -> None:
    body = Checkpoint(origin="log.example", size=5, root=b"\x07" * 32, extensions=("ext line",)).body()
    log, note = _signed(body)
    a, b, c = (generate_cosigner(f"w{i}.example") for i in range(3))
    cosigned = add_cosignatures(note, [a.cosign(body, 10), b.cosign(body, 11)])
    assert open_note(cosigned, [log.verifier]) == (body, ["log.example"])
    report = verify_cosignatures(cosigned, [a.verifier, b.verifier, c.verifier])
    assert report.cosigned == {"w0.example": 10, "w1.example": 11}
    assert report.missing == ("w2.example",)
    assert report.problems(2) == []
    assert report.problems(3) == [
        "only 2 of the 3 required witnesses cosigned the checkpoint (not cosigned by: w2.example)"
    ]


def test_a_cosignature_over_another_body_is_bad() -> None:
    body = Checkpoint(origin="log.example", size=5, root=b"\x07" * 32, extensions=("ext",)).body()
    other = Checkpoint(origin="log.example", size=5, root=b"\x07" * 32, extensions=("exT",)).body()
    _log, note = _signed(body)
    witness = generate_cosigner("w.example")
    report = verify_cosignatures(add_cosignatures(note, [witness.cosign(other, 1)]), [witness.verifier])
    assert report.cosigned == {}
    assert report.bad == ("w.example",)
    assert report.problems(0) == ["witness w.example: its cosignature does not verify"]


def test_unknown_cosigners_are_ignored_and_lines_are_added_once() -> None:
    body = Checkpoint(origin="log.example", size=1, root=b"\x01" * 32).body()
    _log, note = _signed(body)
    stranger, known = generate_cosigner("stranger"), generate_cosigner("known")
    line = known.cosign(body, 5)
    cosigned = add_cosignatures(add_cosignatures(note, [stranger.cosign(body, 1), line]), [line])
    assert cosigned.count(line) == 1
    assert verify_cosignatures(cosigned, [known.verifier]).cosigned == {"known": 5}


def test_a_witness_with_the_same_name_as_the_log_is_told_apart_by_key_id() -> None:
    body = Checkpoint(origin="log.example", size=1, root=b"\x01" * 32).body()
    log, note = _signed(body)
    impostor = CosignatureVerifier("log.example", log.verifier.public_key)
    assert verify_cosignatures(note, [impostor]).missing == ("log.example",)


def test_timestamps_beyond_the_spec_are_refused() -> None:
    with pytest.raises(MalformedNote):
        Cosigner(NAME, SEED).cosign(BODY, 2**63)
