"""Pure dataset rules: sources.json, opt-out signals, payload checks, deterministic shards, the
version id (an RFC 6962 Merkle root over shard digests), takedown selection, the status table."""

from __future__ import annotations

import hashlib
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnyx.core.errors import Conflict, InvalidInput
from pnyx.registry import payloads, rules, samples
from pnyx.registry.model import Modality, Sample, Source, VersionAction, VersionStatus
from pnyx.transparency.merkle import leaf_hash, node_hash

H = [hashlib.sha256(bytes([i])).hexdigest() for i in range(8)]


def sources_json(**entries: object) -> bytes:
    return json.dumps(entries).encode()


def test_sources_parse_sorted_with_normalised_licences_and_signals() -> None:
    found = rules.parse_sources(
        sources_json(
            web={"licence": "cc-by-4.0", "origin": "https://web.example/", "opt_out": ["TDM-Reservation=1"]},
            code={"license": "mit", "origin": "https://git.example/"},
        )
    )
    assert [s.name for s in found] == ["code", "web"]
    assert found[0] == Source(name="code", licence="MIT", origin="https://git.example/", opt_out=())
    assert found[1].licence == "CC-BY-4.0"
    assert found[1].opt_out == ("tdm-reservation=1",)


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ({"web": {"origin": "https://x"}}, "sources.json:web.licence"),
        ({"web": {"licence": " ", "origin": "https://x"}}, "sources.json:web.licence"),
        ({"web": {"licence": "Nope-1", "origin": "https://x"}}, "sources.json:web.licence"),
        ({"web": {"licence": "MIT"}}, "sources.json:web.origin"),
        ({"web": {"licence": "MIT", "origin": "a\u0000b"}}, "sources.json:web.origin"),
        ({"web": {"licence": "MIT", "origin": "a\ud800b"}}, "sources.json:web.origin"),
        ({"web": {"licence": "MIT", "origin": "x", "opt_out": "robots:noai"}}, "sources.json:web.opt_out"),
        ({"web": {"licence": "MIT", "origin": "x", "opt_out": ["please-no"]}}, "sources.json:web.opt_out"),
        ({"../up": {"licence": "MIT", "origin": "x"}}, "sources.json:../up"),
        ({"web": "MIT"}, "sources.json:web"),
        ({}, "sources.json"),
    ],
)
def test_a_bad_source_is_refused_naming_its_field(entries: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        rules.parse_sources(json.dumps(entries).encode())
    assert info.value.field == field


def test_sources_json_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not JSON") as info:
        rules.parse_sources(b"{licence: MIT")
    assert info.value.field == "sources.json"


@pytest.mark.parametrize("signal", sorted(rules.RESERVING))
def test_each_reserving_signal_reserves_the_source(signal: str) -> None:
    source = Source(name="s", licence="MIT", origin="o", opt_out=("tdm-reservation=0", signal))
    reason = rules.reservation(source)
    assert reason is not None
    assert signal in reason


@pytest.mark.parametrize("signals", [(), ("tdm-reservation=0",), ("ai.txt:allow", "robots:all")])
def test_permitting_signals_reserve_nothing(signals: tuple[str, ...]) -> None:
    assert rules.reservation(Source(name="s", licence="MIT", origin="o", opt_out=signals)) is None


@pytest.mark.parametrize(
    ("path", "modality"),
    [
        ("a/b.txt", Modality.TEXT),
        ("x.MD", Modality.TEXT),
        ("m.rs", Modality.CODE),
        ("k.js", Modality.CODE),
        ("i.pgm", Modality.IMAGE),
        ("s.wav", Modality.AUDIO),
        ("lib.c", Modality.CODE),
    ],
)
def test_modality_comes_from_the_extension(path: str, modality: Modality) -> None:
    assert rules.modality_of(path) is modality


@pytest.mark.parametrize("path", ["a/b.exe", "noext", "dir.txt/file", "x.png"])
def test_an_unknown_extension_is_refused_naming_the_file(path: str) -> None:
    with pytest.raises(InvalidInput, match="unknown sample type") as info:
        rules.modality_of(path)
    assert info.value.field == path


def test_generated_samples_pass_their_checks() -> None:
    rng = random.Random(1)
    payloads.check_payload(Modality.TEXT, samples.text(rng, 0), "t.txt")
    payloads.check_payload(Modality.CODE, samples.code(rng, 0), "c.py")
    assert payloads.check_pgm(samples.image(rng, 0), "i.pgm") == (16, 16)
    assert payloads.check_wav(samples.audio(rng, 0), "a.wav") == (8000, 800)


@pytest.mark.parametrize(
    ("modality", "data", "why"),
    [
        (Modality.TEXT, b"\xff\xfe bad", "not UTF-8"),
        (Modality.IMAGE, b"P6\n2 2\n255\n" + bytes(12), "not a binary PGM"),
        (Modality.IMAGE, b"P5\n2 2\n255\n" + bytes(3), "needs 4 pixel bytes, has 3"),
        (Modality.IMAGE, b"P5\n2 2\n65535\n" + bytes(8), "8-bit grey"),
        (Modality.IMAGE, b"P5\n0 2\n255\n", "8-bit grey"),
        (Modality.AUDIO, b"RIFF\x00\x00\x00\x00WAVEjunk", "not a WAV"),
        (Modality.AUDIO, b"", "not a WAV"),
    ],
)
def test_malformed_payloads_are_refused_naming_the_file(modality: Modality, data: bytes, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as info:
        payloads.check_payload(modality, data, "src/file")
    assert info.value.field == "src/file"


def test_a_stereo_or_truncated_wav_is_refused() -> None:
    good = samples.audio(random.Random(0), 0)
    with pytest.raises(InvalidInput, match="declares 800 frames"):
        payloads.check_wav(good[:-10], "short.wav")
    stereo = bytearray(good)
    stereo[22] = 2  # channels
    with pytest.raises(InvalidInput):
        payloads.check_wav(bytes(stereo), "stereo.wav")


def test_a_pgm_comment_is_allowed() -> None:
    assert payloads.check_pgm(b"P5\n# made by hand\n2 1\n255\n\x00\x01", "c.pgm") == (2, 1)


def sample(digest: str, source: str = "s") -> Sample:
    return Sample(sha256=digest, modality=Modality.TEXT, source=source, size=1)


def test_deduplicate_keeps_one_per_hash_from_the_first_source_by_name() -> None:
    found = rules.deduplicate([sample(H[2], "b"), sample(H[1], "z"), sample(H[2], "a"), sample(H[1], "y")])
    assert [(s.sha256, s.source) for s in found] == sorted([(H[1], "y"), (H[2], "a")])


@given(st.permutations(range(8)), st.integers(1, 9))
def test_shards_do_not_depend_on_the_order_files_were_found(order: list[int], per_shard: int) -> None:
    found = [sample(H[i]) for i in order]
    planned = rules.plan_shards(rules.deduplicate(found), per_shard)
    reference = rules.plan_shards(rules.deduplicate([sample(h) for h in H]), per_shard)
    assert planned == reference
    assert all(len(group) <= per_shard for group in planned)
    assert [(s.shard, s.position) for g in planned for s in g] == [
        (i // per_shard, i % per_shard) for i in range(8)
    ]


def test_shard_samples_are_bounded() -> None:
    for bad in (0, -1, rules.MAX_SHARD_SAMPLES + 1):
        with pytest.raises(InvalidInput) as info:
            rules.check_shard_samples(bad)
        assert info.value.field == "shard_samples"


def test_the_version_id_is_the_rfc6962_root_over_the_shard_digests() -> None:
    leaves = [leaf_hash(bytes.fromhex(h)) for h in H[:3]]
    expected = node_hash(node_hash(leaves[0], leaves[1]), leaves[2])
    assert rules.version_id(H[:3]) == expected.hex()
    assert rules.version_id(H[:1]) == leaves[0].hex()
    assert rules.version_id(H[:3]) != rules.version_id([H[1], H[0], H[2]])  # order matters


def test_the_manifest_is_stable_and_names_every_shard() -> None:
    from pnyx.registry.model import Shard

    shards = [Shard(index=0, name="shard-000000.tar", sha256=H[0], size=10, samples=2)]
    data = rules.manifest("demo", "ab" * 32, shards)
    assert data == rules.manifest("demo", "ab" * 32, shards)
    assert data.endswith(b"\n")
    found = json.loads(data)
    assert found["format"] == "pnyx.dataset/1"
    assert found["version"] == "ab" * 32
    assert found["shards"] == [
        {"index": 0, "name": "shard-000000.tar", "samples": 2, "sha256": H[0], "size": 10}
    ]


def test_a_sample_record_is_canonical_json() -> None:
    assert rules.sample_record(sample(H[0], "web")) == (
        b'{"modality":"text","sha256":"' + H[0].encode() + b'","source":"web"}'
    )
    assert rules.member_names(sample(H[0])) == (f"{H[0]}.json", f"{H[0]}.txt")


def test_takedown_selects_by_origin_and_by_hash() -> None:
    sources = [
        Source(name="a", licence="MIT", origin="https://a/"),
        Source(name="b", licence="MIT", origin="https://b/"),
    ]
    held = [sample(H[0], "a"), sample(H[1], "b"), sample(H[2], "b")]
    assert rules.removed_by(held, sources, origin="https://a/", hashes=frozenset()) == [held[0]]
    assert rules.removed_by(held, sources, origin=None, hashes=frozenset({H[2]})) == [held[2]]
    assert rules.removed_by(held, sources, origin="https://a/", hashes=frozenset({H[2]})) == [
        held[0],
        held[2],
    ]
    assert rules.removed_by(held, sources, origin="https://none/", hashes=frozenset()) == []


def test_affected_shards_name_each_version_and_its_shards() -> None:
    sources = [Source(name="a", licence="MIT", origin="https://a/")]
    v1 = [Sample(sha256=H[i], modality=Modality.TEXT, source="a", size=1, shard=i // 2) for i in range(4)]
    v2 = [Sample(sha256=H[i], modality=Modality.TEXT, source="a", size=1, shard=0) for i in (0, 1)]
    found = rules.affected_shards(
        {"v1": (sources, v1), "v2": (sources, v2)}, origin=None, hashes=frozenset({H[3]})
    )
    assert found == {"v1": (1,)}


@pytest.mark.parametrize(
    ("origin", "hashes", "field"),
    [(None, [], "origin"), (None, ["ABC"], "samples"), (None, [H[0].upper()], "samples")],
)
def test_a_takedown_needs_a_valid_target(origin: str | None, hashes: list[str], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        rules.check_takedown_target(origin, hashes)
    assert info.value.field == field


def test_the_status_table() -> None:
    assert rules.version_next(VersionStatus.CURRENT, VersionAction.SUPERSEDE) is VersionStatus.SUPERSEDED
    assert rules.version_next(VersionStatus.CURRENT, VersionAction.WITHDRAW) is VersionStatus.WITHDRAWN
    assert rules.version_next(VersionStatus.SUPERSEDED, VersionAction.WITHDRAW) is VersionStatus.WITHDRAWN
    assert rules.version_next(VersionStatus.SUPERSEDED, VersionAction.REINSTATE) is VersionStatus.CURRENT
    for action in VersionAction:
        with pytest.raises(Conflict):
            rules.version_next(VersionStatus.WITHDRAWN, action)


@pytest.mark.parametrize("name", ["", "Demo", "-x", "a" * 81, "a/b", "a b"])
def test_dataset_names_are_checked(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        rules.check_name(name)
    assert info.value.field == "name"


@pytest.mark.parametrize("reason", ["", "   ", "x" * (rules.MAX_REASON + 1), "nul\x00", "esc\x1b[2J"])
def test_a_takedown_reason_is_checked(reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        rules.check_reason(reason)
    assert info.value.field == "reason"


@pytest.mark.parametrize(
    ("origin", "same"),
    [
        ("https://news.example/", "https://news.example"),
        ("HTTPS://News.Example:443/", "https://news.example"),
        ("http://news.example:80", "http://news.example"),
        ("https://news.example:8443/a/", "https://news.example:8443/a"),
        ("https://x.example:port/", "https://x.example:port/"),  # not a URL a port can be read from
        ("a shop in Leeds ", "a shop in Leeds"),
    ],
)
def test_a_takedown_by_origin_matches_other_spellings_of_the_same_url(origin: str, same: str) -> None:
    """A re-attack imported a taken-down origin again as HTTPS://News.Example:443/: one origin."""
    assert rules.same_origin(origin) == same
