"""C2SP signed notes: the C2SP and Go sumdb/note vectors, round trips and tampering."""

from __future__ import annotations

import base64
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from pnyx.core.errors import FacilityError, IntegrityFailure, InvalidInput, Unauthenticated
from pnyx.transparency.note import (
    SIGNATURE_PREFIX,
    BadSignature,
    InvalidKey,
    MalformedNote,
    NoteError,
    NoteSigner,
    NoteVerifier,
    UnknownKey,
    generate_signer,
    is_valid_name,
    key_id,
    open_note,
    sign_note,
)


def _vectors_dir() -> Path:
    env = os.environ.get("PNYX_VECTORS_DIR")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[3]
    for candidate in (root / ".." / "shared" / "vectors", root / "shared" / "vectors"):
        if candidate.is_dir():
            return candidate
    return root / ".." / "shared" / "vectors"


VECTORS = _vectors_dir() / "signed-note" / "vectors.json"


@cache
def _vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


def _cases(group: str, needs: str = "desc") -> list[Any]:
    if not VECTORS.is_file():
        reason = f"no signed-note vectors at {VECTORS} (set PNYX_VECTORS_DIR)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    cases = json.loads(VECTORS.read_text())[group]
    return [pytest.param(c, id=c["desc"]) for c in cases if needs in c]


# --- the vectors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("valid"))
def test_valid_vector_opens(case: dict[str, Any]) -> None:
    vkeys = case.get("vkeys") or [case["vkey"]]
    verifiers = [NoteVerifier.from_vkey(v) for v in vkeys]
    assert [v.vkey for v in verifiers] == vkeys
    text, names = open_note(case["note"], verifiers)
    assert text == case.get("text", text)
    assert text == case["note"][: case["note"].rindex("\n\n") + 1]
    assert names == [v.name for v in verifiers]
    # Each known key alone is enough; the other signature is then ignored as unknown.
    for v in verifiers:
        assert open_note(case["note"], [v]) == (text, [v.name])


@pytest.mark.parametrize("case", _cases("valid", needs="skey"))
def test_signing_is_deterministic(case: dict[str, Any]) -> None:
    signer = NoteSigner.from_skey(case["skey"])
    assert signer.skey == case["skey"]
    assert signer.vkey == case["vkey"]
    assert signer.sign(case["text"]) == case["note"]


@pytest.mark.parametrize("case", _cases("invalid_vkeys"))
def test_invalid_vkey_vector(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidKey):
        NoteVerifier.from_vkey(case["vkey"])


@pytest.mark.parametrize("case", _cases("valid"))
def test_tampered_vector_text_fails(case: dict[str, Any]) -> None:
    vkeys = case.get("vkeys") or [case["vkey"]]
    tampered = case["note"].replace("e", "E", 1)
    with pytest.raises(BadSignature):
        open_note(tampered, [NoteVerifier.from_vkey(v) for v in vkeys])


# --- keys --------------------------------------------------------------------------------------------------


def test_generated_keys_round_trip() -> None:
    skey, vkey = generate_signer("log.pnyx.example/transparency")
    signer = NoteSigner.from_skey(skey)
    verifier = NoteVerifier.from_vkey(vkey)
    assert signer.vkey == vkey
    assert signer.skey == skey
    assert signer.verifier == verifier
    assert signer.key_id == verifier.key_id == bytes.fromhex(vkey.split("+")[1])
    assert signer.name == verifier.name == "log.pnyx.example/transparency"
    assert repr(signer) == f"NoteSigner(name={signer.name!r})"


def test_key_id_matches_the_spec_formula() -> None:
    import hashlib

    verifier = NoteVerifier.from_vkey("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
    want = hashlib.sha256(b"example.com/foo\n\x01" + verifier.public_key).digest()[:4]
    assert verifier.key_id == want == key_id("example.com/foo", b"\x01" + verifier.public_key)


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u2003b", "a\nb", "a\x01b", "\ud800"]
)
def test_bad_names(name: str) -> None:
    assert not is_valid_name(name)
    with pytest.raises(InvalidKey):
        generate_signer(name)


def test_good_names() -> None:
    for name in ["a", "example.com/log42", "ünïcödé", "a-b_c.d/e:f"]:
        assert is_valid_name(name)
        _, vkey = generate_signer(name)
        assert NoteVerifier.from_vkey(vkey).name == name


def _vkey_parts() -> tuple[str, str, str]:
    _, vkey = generate_signer("example.com/k")
    name, hex_id, material = vkey.split("+", 2)
    return name, hex_id, material


def test_malformed_vkeys() -> None:
    name, hex_id, material = _vkey_parts()
    raw = base64.b64decode(material)
    other_alg = base64.b64encode(b"\x02" + raw[1:]).decode()
    bad = [
        "",
        name,
        f"{name}+{hex_id}",
        f"{name}+{hex_id}+",
        f"{name}+{hex_id.upper()[:7]}+{material}",
        f"{name}+0x{hex_id[:6]}+{material}",
        f"{name}+{hex_id}+{material[:-1]}",
        f"{name}+{hex_id}+{material} ",
        f"{name}+{hex_id}+{base64.b64encode(raw[:1]).decode()}",
        f"{name}+{hex_id}+{other_alg}",
        f"{name}+00000000+{material}",
        f"{name}x+{hex_id}+{material}",
        f"bad name+{hex_id}+{material}",
    ]
    for text in bad:
        with pytest.raises(InvalidKey):
            NoteVerifier.from_vkey(text)
    # Go's strconv.ParseUint accepts upper-case hex for the key ID.
    assert NoteVerifier.from_vkey(f"{name}+{hex_id.upper()}+{material}").key_id.hex() == hex_id


def test_malformed_skeys() -> None:
    skey, _ = generate_signer("example.com/k")
    parts = skey.split("+")
    bad = [
        "",
        skey.replace("PRIVATE", "PUBLIC", 1),
        skey.replace("KEY", "KEI", 1),
        "+".join(parts[2:]),
        "+".join([*parts[:3], "00000000", parts[4]]),
        "+".join([*parts[:4], parts[4][:-2]]),
        "+".join([*parts[:2], "other.example", *parts[3:]]),
    ]
    for text in bad:
        with pytest.raises(InvalidKey):
            NoteSigner.from_skey(text)


def test_raw_key_sizes_are_checked() -> None:
    with pytest.raises(InvalidKey):
        NoteVerifier("example.com/k", b"\x00" * 31)
    with pytest.raises(InvalidKey):
        NoteSigner("example.com/k", b"\x00" * 33)


# --- signing and opening -----------------------------------------------------------------------------------


def _pair(name: str = "example.com/log") -> tuple[NoteSigner, NoteVerifier]:
    skey, vkey = generate_signer(name)
    return NoteSigner.from_skey(skey), NoteVerifier.from_vkey(vkey)


@pytest.mark.parametrize(
    "text", ["hello\n", "\n", "a\n\nb\n", "trailing blank\n\n", "ünïcödé — em dash\n", "x" * 10_000 + "\n"]
)
def test_round_trip(text: str) -> None:
    signer, verifier = _pair()
    note = signer.sign(text)
    assert note.startswith(text + "\n" + SIGNATURE_PREFIX + signer.name + " ")
    assert open_note(note, [verifier]) == (text, [signer.name])


@pytest.mark.parametrize("text", ["", "no newline", "tab\there\n", "cr\r\n", "\ud800\n"])
def test_sign_rejects_bad_text(text: str) -> None:
    signer, _ = _pair()
    with pytest.raises(MalformedNote):
        signer.sign(text)


def test_cosigning_and_unknown_signatures() -> None:
    log, log_v = _pair("example.com/log")
    witness, witness_v = _pair("example.com/witness")
    stranger, _ = _pair("example.com/stranger")
    note = sign_note("tree head\n", [log, stranger, witness])
    assert open_note(note, [log_v, witness_v]) == ("tree head\n", ["example.com/log", "example.com/witness"])
    assert open_note(note, [witness_v]) == ("tree head\n", ["example.com/witness"])
    with pytest.raises(UnknownKey):
        open_note(note, [])
    with pytest.raises(InvalidKey):
        sign_note("tree head\n", [])


def test_same_name_other_key_is_ignored_not_failed() -> None:
    signer, _ = _pair("example.com/log")
    _, rotated = _pair("example.com/log")
    note = signer.sign("text\n")
    with pytest.raises(UnknownKey):
        open_note(note, [rotated])
    assert open_note(note, [rotated, signer.verifier]) == ("text\n", ["example.com/log"])


def _forge(line: str, position: int) -> str:
    """The signature line with one bit of its signature bytes flipped."""
    prefix, _, encoded = line.rpartition(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[position] ^= 1
    return f"{prefix} {base64.b64encode(bytes(raw)).decode()}"


def test_known_key_with_a_bad_signature_rejects_the_note() -> None:
    signer, verifier = _pair()
    other, _ = _pair("example.com/other")
    note = signer.sign("text\n")
    line = note.split("\n")[2]
    for position in (4, 40, 67):
        with pytest.raises(BadSignature):
            open_note(note.replace(line, _forge(line, position)), [verifier])
    # Flipping a key ID bit makes the signature unknown rather than bad.
    with pytest.raises(UnknownKey):
        open_note(note.replace(line, _forge(line, 0)), [verifier])
    # A valid signature by a known key does not excuse a bad one by another known key.
    other_line = other.sign("text\n").split("\n")[2]
    with pytest.raises(BadSignature):
        open_note(f"{note}{_forge(other_line, 10)}\n", [verifier, other.verifier])
    short = (
        f"text\n\n{SIGNATURE_PREFIX}{signer.name} {base64.b64encode(verifier.key_id + b'x' * 63).decode()}\n"
    )
    with pytest.raises(BadSignature):
        open_note(short, [verifier])


def test_tampered_text_fails() -> None:
    signer, verifier = _pair()
    note = signer.sign("size 10\n")
    with pytest.raises(BadSignature):
        open_note(note.replace("10", "11", 1), [verifier])


def test_malformed_notes() -> None:
    signer, verifier = _pair()
    note = signer.sign("text\n")
    sig_line = note.split("\n")[2]
    encoded = sig_line.split(" ")[2]
    bad = [
        "",
        "text\n",
        note[:-1],
        note.replace("\n\n", "\n", 1),
        note + "\n",
        note.replace(SIGNATURE_PREFIX, "- ", 1),
        note.replace(SIGNATURE_PREFIX, "\u2014", 1),
        note.replace(f" {encoded}", f"  {encoded}", 1),
        note.replace(f" {encoded}", f" {encoded[:-1]}", 1),
        note.replace(f" {encoded}", "", 1),
        note.replace(f" {encoded}", " AAAA", 1),
        note.replace(signer.name, "bad+name", 1),
        note.replace("text", "te\txt", 1),
        note.replace("text", "te\x7fxt\x00", 1),
        note.replace("text", "\ud800", 1),
        note + "stray line\n",
        "text\n\n" + sig_line + "\n" * 2,
    ]
    for text in bad:
        with pytest.raises(MalformedNote):
            open_note(text, [verifier])


def test_signature_count_is_capped() -> None:
    signer, verifier = _pair()
    note = signer.sign("text\n")
    line = note.split("\n\n")[1]
    assert open_note(note + line * 99, [verifier]) == ("text\n", [signer.name])
    with pytest.raises(MalformedNote):
        open_note(note + line * 100, [verifier])


def test_ambiguous_verifier_list(monkeypatch: pytest.MonkeyPatch) -> None:
    signer, verifier = _pair()
    assert open_note(signer.sign("t\n"), [verifier, verifier]) == ("t\n", [signer.name])
    # A real (name, key ID) collision takes 2**32 work: fake one.
    monkeypatch.setattr("pnyx.transparency.note.key_id", lambda name, key: b"\0\0\0\0")
    with pytest.raises(InvalidKey):
        open_note(signer.sign("t\n"), [verifier, _pair()[1]])


def test_error_family() -> None:
    invalid: tuple[type[NoteError], ...] = (MalformedNote, InvalidKey)
    unauthenticated: tuple[type[NoteError], ...] = (UnknownKey, BadSignature)
    assert all(issubclass(cls, InvalidInput) for cls in invalid)
    assert all(issubclass(cls, Unauthenticated) for cls in unauthenticated)
    assert issubclass(NoteError, FacilityError)
    assert not issubclass(NoteError, IntegrityFailure)
