"""Reading a dataset version: the manifest, shard digests, hostile tars, and batches by the data order."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import torch

from pnyx.core.errors import InvalidInput
from pnyx.registry.model import Modality
from pnyx.registry.order import SampleRange, rank_ranges
from pnyx.training.config import EOS, IGNORE, IMAGE, TrainConfig
from pnyx.training.data import DataReader
from pnyx.training.samples import encode
from pnyx.training.shards import index_shard, read_manifest, read_payload, verify_shard
from tests.training.conftest import fixture_shards, gradient, shard_bytes, tar_member, write_dataset

CONFIG = TrainConfig(seq_len=32, batch_size=3)


def rewrite_shard(directory: Path, index: int, data: bytes) -> None:
    """Replace a shard and make the manifest agree with it (so only its structure is wrong)."""
    manifest = json.loads((directory / "manifest.json").read_text())
    entry = manifest["shards"][index]
    (directory / entry["name"]).write_bytes(data)
    entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    (directory / "manifest.json").write_text(json.dumps(manifest))


def tar_of(*members: tarfile.TarInfo | tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                tar.addfile(*tar_member(*member))
    return buffer.getvalue()


def sidecar(payload: bytes, modality: str = "text") -> tuple[str, bytes]:
    key = hashlib.sha256(payload).hexdigest()
    return f"{key}.json", json.dumps({"modality": modality, "sha256": key, "source": "t"}).encode()


def test_the_fixture_verifies_and_indexes(dataset: Path) -> None:
    manifest = read_manifest(dataset)
    assert manifest.sizes == (7, 6)
    assert manifest.dataset == "fixture"
    for shard in manifest.shards:
        verify_shard(dataset, shard)
    refs = index_shard(dataset, manifest.shards[0])
    assert [r.modality for r in refs][:4] == [Modality.TEXT, Modality.TEXT, Modality.CODE, Modality.IMAGE]
    assert read_payload(dataset, manifest.shards[0], refs[3]) == gradient(8, 8)


def test_a_shard_of_another_digest_or_size_is_refused_by_name(dataset: Path) -> None:
    manifest = read_manifest(dataset)
    path = dataset / "shard-000000.tar"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(
        InvalidInput, match=r"shard shard-000000.tar does not match the manifest: its SHA-256"
    ):
        verify_shard(dataset, manifest.shards[0])
    path.write_bytes(bytes(data) + b"\0")
    with pytest.raises(InvalidInput, match=r"shard shard-000000.tar is \d+ bytes, the manifest says"):
        verify_shard(dataset, manifest.shards[0])


def test_a_payload_changed_after_verification_is_caught_on_read(dataset: Path) -> None:
    manifest = read_manifest(dataset)
    refs = index_shard(dataset, manifest.shards[0])
    path = dataset / "shard-000000.tar"
    data = bytearray(path.read_bytes())
    data[refs[0].offset] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(
        InvalidInput, match=f"sample {refs[0].key} in shard shard-000000.tar does not match its key"
    ):
        read_payload(dataset, manifest.shards[0], refs[0])


def test_symlinks_in_place_of_shards_or_manifest_are_refused(dataset: Path, tmp_path: Path) -> None:
    manifest = read_manifest(dataset)
    os.replace(dataset / "shard-000001.tar", tmp_path / "elsewhere.tar")
    (dataset / "shard-000001.tar").symlink_to(tmp_path / "elsewhere.tar")
    with pytest.raises(InvalidInput, match=r"cannot open shard-000001\.tar"):
        verify_shard(dataset, manifest.shards[1])
    os.replace(dataset / "manifest.json", tmp_path / "manifest.json")
    (dataset / "manifest.json").symlink_to(tmp_path / "manifest.json")
    with pytest.raises(InvalidInput, match="cannot open the manifest"):
        read_manifest(dataset)


def symlink_member() -> tarfile.TarInfo:
    link = tarfile.TarInfo("a" * 64 + ".txt")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return link


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ((sidecar(b"x"), symlink_member()), "is not a regular file"),
        ((("../../etc/cron.d/x", b"x"),), "is not <sha256>.<ext>"),
        ((("sub/" + sidecar(b"x")[0], b"{}"),), "is not <sha256>.<ext>"),
        (((hashlib.sha256(b"x").hexdigest() + ".txt", b"x"),), "expected .* found"),
        ((sidecar(b"x"),), "ends after .*json without its payload"),
        ((sidecar(b"x"), (hashlib.sha256(b"y").hexdigest() + ".txt", b"y")), "does not follow"),
        ((sidecar(b"x", "image"), (hashlib.sha256(b"x").hexdigest() + ".txt", b"x")), "as its image payload"),
        (((sidecar(b"x")[0], b"not json"),), "is not a sample record"),
        (((sidecar(b"x")[0], b"{" + b" " * 70000 + b"}"),), "at most 65536 bytes"),
        ((sidecar(b"x"), (hashlib.sha256(b"x").hexdigest() + ".txt", b"x")) * 2, "more than its 1 samples"),
    ],
)
def test_hostile_tars_are_refused(
    dataset: Path, members: tuple[tarfile.TarInfo | tuple[str, bytes], ...], message: str
) -> None:
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["shards"][1]["samples"] = 1
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    rewrite_shard(dataset, 1, tar_of(*members))
    with pytest.raises(InvalidInput, match=message) as caught:
        verify_shard(dataset, read_manifest(dataset).shards[1])
    assert "shard-000001.tar" in caught.value.message


def test_a_shard_with_fewer_samples_than_the_manifest_says_is_refused(dataset: Path) -> None:
    rewrite_shard(dataset, 1, shard_bytes(fixture_shards()[1][:5]))
    with pytest.raises(InvalidInput, match="holds 5 samples, the manifest says 6"):
        verify_shard(dataset, read_manifest(dataset).shards[1])


def test_garbage_in_place_of_a_tar_is_refused(dataset: Path) -> None:
    rewrite_shard(dataset, 1, b"\x01" * 1024)
    with pytest.raises(InvalidInput, match=r"shard-000001\.tar is not a readable tar"):
        verify_shard(dataset, read_manifest(dataset).shards[1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other/1"}, "not a pnyx.dataset/1 manifest"),
        ({"shards": []}, "lists no shards"),
        ({"version": "XYZ"}, "'version' must be 64 lower-case hex"),
        ({"dataset": ""}, "'dataset' must be a non-empty string"),
    ],
)
def test_bad_manifests_are_refused(dataset: Path, change: dict[str, object], message: str) -> None:
    manifest = json.loads((dataset / "manifest.json").read_text())
    (dataset / "manifest.json").write_text(json.dumps({**manifest, **change}))
    with pytest.raises(InvalidInput, match=message) as caught:
        read_manifest(dataset)
    assert caught.value.field == "manifest"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "../shard-000000.tar"}, "is not shard-NNNNNN.tar"),
        ({"index": 3}, "has index 3"),
        ({"samples": 0}, "0 samples"),
        ({"size": -1}, "'size' must be a whole number"),
        ({"samples": True}, "'samples' must be a whole number"),
    ],
)
def test_bad_shard_entries_are_refused(dataset: Path, change: dict[str, object], message: str) -> None:
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["shards"][0].update(change)
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidInput, match=message):
        read_manifest(dataset)


def test_batches_follow_the_data_order(dataset: Path) -> None:
    manifest = read_manifest(dataset)
    reader = DataReader(dataset, manifest, CONFIG, world_size=2)
    for step in range(4):
        for rank in range(2):
            ranges = reader.ranges(step, rank)
            assert ranges == rank_ranges(reader.spec, step, rank)
            batch = reader.batch(ranges)
            wanted = [fixture_shards()[r.shard][i] for r in ranges for i in range(r.start, r.stop)]
            rows = [encode(m, p, CONFIG, "s") for m, p in wanted]
            assert batch.tokens.tolist() == [row.tokens[:-1].tolist() for row in rows]
            assert batch.tokens.shape == (3, 32)
            assert batch.image.shape == (3, 32, 16)
            assert batch.audio.shape == (3, 32, 64)


def test_batches_are_deterministic(dataset: Path) -> None:
    manifest = read_manifest(dataset)
    ranges = (SampleRange(0, 3, 5), SampleRange(1, 0, 2))
    one = DataReader(dataset, manifest, CONFIG, world_size=1).batch(ranges)
    two = DataReader(dataset, manifest, CONFIG, world_size=1).batch(ranges)
    assert all(torch.equal(getattr(one, f), getattr(two, f)) for f in ("tokens", "image", "audio", "targets"))


def test_targets_are_next_text_tokens_and_eos(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    write_dataset(directory, [[(Modality.TEXT, b"ab"), (Modality.IMAGE, gradient(4, 8))]])
    batch = DataReader(directory, read_manifest(directory), CONFIG, world_size=1).batch(
        (SampleRange(0, 0, 2),)
    )
    text, image = batch.targets.tolist()[:2]
    assert text[:3] == [ord("a"), ord("b"), EOS]
    assert set(text[3:]) == {IGNORE}
    assert batch.tokens.tolist()[1][:3] == [256, IMAGE, IMAGE]
    assert image[:3] == [IGNORE, IGNORE, EOS]
    assert set(image[3:]) == {IGNORE}
    assert batch.loss_tokens == 4


def test_the_recipe_reads_a_version_the_registry_writes(tmp_path: Path) -> None:
    """The contract from the other side: shards and manifest made by the registry's own writers."""
    from pnyx.registry import rules
    from pnyx.registry.model import Sample, Shard
    from pnyx.registry.shards import write_shard

    payloads = [
        (Modality.TEXT, b"registry text"),
        (Modality.IMAGE, gradient(4, 4)),
        (Modality.CODE, b"x = 1\n"),
    ]
    samples = [
        (Sample(sha256=hashlib.sha256(p).hexdigest(), modality=m, source="s", size=len(p)), p)
        for m, p in payloads
    ]
    with (tmp_path / "shard-000000.tar").open("wb") as out:
        write_shard(out, samples)
    data = (tmp_path / "shard-000000.tar").read_bytes()
    shard = Shard(
        index=0, name="shard-000000.tar", sha256=hashlib.sha256(data).hexdigest(), size=len(data), samples=3
    )
    (tmp_path / "manifest.json").write_bytes(rules.manifest("reg", rules.version_id([shard.sha256]), [shard]))

    manifest = read_manifest(tmp_path)
    verify_shard(tmp_path, manifest.shards[0])
    batch = DataReader(tmp_path, manifest, CONFIG, world_size=1).batch((SampleRange(0, 0, 3),))
    assert batch.tokens[0, 1:14].tolist() == list(b"registry text")
    assert batch.tokens[1, 1:3].tolist() == [IMAGE, EOS]  # 4x4 pixels: one 4x4 patch
