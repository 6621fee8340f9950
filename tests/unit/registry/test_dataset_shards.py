"""Import directories and shard tars: every file checked, symlinks and strays refused naming them,
deterministic tars, and uploaded archives unpacked without escaping their directory."""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from pnyx.core.errors import IntegrityFailure, InvalidInput
from pnyx.registry import rules, shards, uploads
from pnyx.registry.blobs import BlobStore
from pnyx.registry.model import Modality, Sample
from pnyx.registry.samples import write_samples


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    write_samples(tmp_path / "in", per_source=2)
    return tmp_path / "in"


def scan(directory: Path) -> list[shards.Found]:
    return shards.scan(directory, shards.read_sources(directory))


def test_a_demo_directory_scans_with_every_modality(directory: Path) -> None:
    counted: list[int] = []
    found = shards.scan(directory, shards.read_sources(directory), counted.append)
    assert len(found) == 11  # 5 sources x 2, and a duplicate
    assert counted[-1] == 11
    assert {f.sample.modality for f in found} == set(Modality)
    assert {f.sample.source for f in found} == {"audio", "code", "encyclopedia", "images", "news"}


def refused(directory: Path, field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        scan(directory)
    assert info.value.field == field


def test_a_file_outside_any_declared_source_is_refused(directory: Path) -> None:
    (directory / "stray").mkdir()
    (directory / "stray" / "a.txt").write_text("hi")
    refused(directory, "stray", "not a source named in sources.json")


def test_a_stray_top_level_file_is_refused(directory: Path) -> None:
    (directory / "README.txt").write_text("hi")
    refused(directory, "README.txt", "not a source")


def test_a_source_without_a_directory_is_refused(directory: Path) -> None:
    data = json.loads((directory / "sources.json").read_text())
    data["more"] = {"licence": "MIT", "origin": "https://more.example/"}
    (directory / "sources.json").write_text(json.dumps(data))
    refused(directory, "more", "has no directory")


def test_a_symlinked_sample_is_refused(directory: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("private")
    (directory / "code" / "link.txt").symlink_to(tmp_path / "secret.txt")
    refused(directory, "code/link.txt", "symlink")


def test_a_symlinked_source_directory_is_refused(directory: Path, tmp_path: Path) -> None:
    os.rename(directory / "audio", tmp_path / "audio")
    (directory / "audio").symlink_to(tmp_path / "audio")
    refused(directory, "audio", "symlinks are refused")


def test_a_symlinked_sources_json_is_refused(directory: Path, tmp_path: Path) -> None:
    os.rename(directory / "sources.json", tmp_path / "sources.json")
    (directory / "sources.json").symlink_to(tmp_path / "sources.json")
    with pytest.raises(InvalidInput, match="symlinks are refused"):
        shards.read_sources(directory)


def test_a_malformed_image_is_refused_naming_it(directory: Path) -> None:
    (directory / "images" / "broken.pgm").write_bytes(b"P5\n4 4\n255\n" + bytes(3))
    refused(directory, "images/broken.pgm", "needs 16 pixel bytes")


def test_a_malformed_audio_is_refused_naming_it(directory: Path) -> None:
    (directory / "audio" / "sub").mkdir()
    (directory / "audio" / "sub" / "noise.wav").write_bytes(b"not audio")
    refused(directory, "audio/sub/noise.wav", "not a WAV")


def test_an_unreadable_file_is_refused_naming_it(directory: Path) -> None:
    if os.getuid() == 0:
        pytest.skip("root reads any file")
    path = directory / "code" / "locked.py"
    path.write_text("x = 1\n")
    path.chmod(0)
    refused(directory, "code/locked.py", "cannot read")


def test_shards_are_deterministic_and_read_back(tmp_path: Path, directory: Path) -> None:
    found = scan(directory)
    placed = [s for g in rules.plan_shards(rules.deduplicate([f.sample for f in found]), 3) for s in g]
    payloads = {f.sample.sha256: f.path.read_bytes() for f in found}
    first = shards.store_shards(BlobStore(tmp_path / "a"), iter([(s, payloads[s.sha256]) for s in placed]), 3)
    second = shards.store_shards(
        BlobStore(tmp_path / "b"), iter([(s, payloads[s.sha256]) for s in placed]), 3
    )
    assert first == second
    assert [s.samples for s in first] == [3, 3, 3, 1]
    with BlobStore(tmp_path / "a").open(first[0].sha256) as handle, tarfile.open(fileobj=handle) as tar:
        members = tar.getmembers()
    assert [m.name for m in members[:2]] == [f"{placed[0].sha256}.json", rules.member_names(placed[0])[1]]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o644)}
    with BlobStore(tmp_path / "a").open(first[1].sha256) as handle:
        back = list(shards.read_shard(handle, "shard-000001.tar"))
    assert [s for s, _ in back] == [replace(s, shard=0) for s in placed[3:6]]  # read back without its index


def test_a_shard_whose_member_does_not_match_its_key_is_an_integrity_failure() -> None:
    buffer = io.BytesIO()
    key = "0" * 64
    sample = Sample(sha256=key, modality=Modality.TEXT, source="s", size=5)
    shards.write_shard(buffer, [(sample, b"hello")])
    buffer.seek(0)
    with pytest.raises(IntegrityFailure, match="does not match its key"):
        list(shards.read_shard(buffer, "bad.tar"))


def tar_of(*members: tarfile.TarInfo | tuple[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
    buffer.seek(0)
    return buffer


def unpack(upload: io.BytesIO, destination: Path, **caps: int) -> Path:
    limits = {"max_members": 100, "max_bytes": 1 << 20} | caps
    return uploads.unpack(upload, destination, **limits)


def test_an_upload_unpacks_its_import_directory(tmp_path: Path) -> None:
    root = unpack(tar_of(("in/sources.json", b"{}"), ("in/web/a.txt", b"hi")), tmp_path / "out")
    assert root == tmp_path / "out" / "in"
    assert (root / "web" / "a.txt").read_bytes() == b"hi"


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "a/../../evil", "a\\..\\evil"])
def test_an_upload_cannot_escape_its_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInput, match="unsafe name"):
        unpack(tar_of((name, b"x")), tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])
def test_an_upload_holds_regular_files_and_directories_only(tmp_path: Path, kind: bytes) -> None:
    link = tarfile.TarInfo("in/web/a.txt")
    link.type, link.linkname = kind, "/etc/passwd"
    with pytest.raises(InvalidInput, match="not a regular file or directory"):
        unpack(tar_of(("in/sources.json", b"{}"), link), tmp_path / "out")


def test_an_upload_is_capped_in_members_bytes_and_duplicates(tmp_path: Path) -> None:
    many = tar_of(*[(f"in/{i}.txt", b"x") for i in range(5)])
    with pytest.raises(InvalidInput, match="more than 3 members"):
        unpack(many, tmp_path / "a", max_members=3)
    big = tar_of(("in/a.txt", b"x" * 100))
    with pytest.raises(InvalidInput, match="more than 10 bytes"):
        unpack(big, tmp_path / "b", max_bytes=10)
    twice = tar_of(("in/a.txt", b"x"), ("in/a.txt", b"y"))
    with pytest.raises(InvalidInput, match="appears twice"):
        unpack(twice, tmp_path / "c")


def test_an_upload_that_is_not_a_tar_or_lacks_sources_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a tar archive"):
        unpack(io.BytesIO(b"definitely not a tar" * 40), tmp_path / "a")
    with pytest.raises(InvalidInput, match=r"no sources\.json"):
        unpack(tar_of(("a/b/c.txt", b"x")), tmp_path / "b")


def test_a_fifo_in_a_source_is_refused_naming_it(directory: Path) -> None:
    os.mkfifo(directory / "code" / "pipe.py")
    refused(directory, "code/pipe.py", "not a regular file")


def test_an_upload_member_whose_name_is_not_text_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT, encoding="latin-1") as tar:
        info = tarfile.TarInfo("in/caf\xe9.txt")  # written as one latin-1 byte: not UTF-8
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    buffer.seek(0)
    with pytest.raises(InvalidInput, match="lone surrogate") as info_:
        unpack(buffer, tmp_path / "out")
    assert info_.value.field == "body"


def test_a_file_name_that_is_not_text_is_refused(directory: Path) -> None:
    os.close(os.open(os.fsencode(directory / "code") + b"/bad\xff.py", os.O_CREAT | os.O_WRONLY, 0o600))
    with pytest.raises(InvalidInput, match="not printable text") as info:
        scan(directory)
    assert info.value.field == "'code/bad\\udcff.py'"
