"""Hostile uploads: header bombs refused before tarfile reads them, cut or padded archives, names
over the system's limits, clashing members, and messages that name members, not server paths."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.registry import payloads, rules, shards, uploads


def tar_bytes(*members: tuple[str, bytes] | tarfile.TarInfo, fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
    return buffer.getvalue()


def unpack(data: bytes, destination: Path, **caps: int) -> Path:
    limits = {"max_members": 100, "max_bytes": 1 << 20} | caps
    return uploads.unpack(io.BytesIO(data), destination, **limits)


def refused(data: bytes, destination: Path, match: str) -> InvalidInput:
    with pytest.raises(InvalidInput, match=match) as info:
        unpack(data, destination)
    assert "pytest" not in info.value.message  # never the server's own path
    return info.value


def long_header(kind: bytes, size: int) -> bytes:
    """A header of ``kind`` declaring ``size`` bytes of data, followed by that much (the bomb)."""
    info = tarfile.TarInfo("././@LongLink")
    info.type, info.size = kind, size
    return info.tobuf(tarfile.USTAR_FORMAT) + b"a" * size + bytes(-size % 512) + bytes(1024)


@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE])
def test_a_long_name_or_pax_header_over_4_kib_is_refused_before_it_is_read(
    tmp_path: Path, kind: bytes
) -> None:
    error = refused(long_header(kind, 5000), tmp_path / "out", "header of 5000 bytes; the limit is 4096")
    assert error.field == "body"
    compressed = gzip.compress(long_header(kind, 5000))
    refused(compressed, tmp_path / "gz", "limit is 4096")


def test_names_over_path_max_or_name_max_are_refused_naming_the_member_cut_short(tmp_path: Path) -> None:
    error = refused(tar_bytes(("in/" + "a" * 300 + ".txt", b"x")), tmp_path / "a", "a part over 255")
    assert error.field is not None
    assert error.field.endswith("...")
    assert len(error.field) == 203
    deep = "in/" + "/".join(["b" * 200] * 25) + "/c.txt"
    refused(tar_bytes((deep, b"x"), fmt=tarfile.PAX_FORMAT), tmp_path / "b", "4096")  # pax header first
    with pytest.raises(InvalidInput, match="name over 4096 bytes"):
        uploads.safe_parts("in/" + "/".join(["b" * 200] * 25))


def test_a_cut_or_padded_archive_is_refused(tmp_path: Path) -> None:
    whole = tar_bytes(("in/sources.json", b"{}"), ("in/web/a.txt", b"hi"), ("in/web/b.txt", b"ho"))
    at_boundary = whole[: 512 * 4]  # two members, no end-of-archive block
    refused(at_boundary, tmp_path / "a", "ends early")
    packed = gzip.compress(whole)
    refused(packed[:-10], tmp_path / "b", "not a complete tar archive")  # no gzip trailer
    refused(packed + b"garbage after the stream", tmp_path / "c", "not a complete tar archive")
    refused(whole + b"garbage", tmp_path / "d", "data after its end-of-archive block")
    assert unpack(packed + bytes(64), tmp_path / "e").name == "in"  # zero padding is fine


def test_a_file_and_a_directory_of_one_name_are_refused_naming_it(tmp_path: Path) -> None:
    directory = tarfile.TarInfo("in/web")
    directory.type = tarfile.DIRTYPE
    error = refused(tar_bytes(("in/web", b"x"), directory), tmp_path / "a", "in/web cannot be unpacked")
    assert error.field == "in/web"
    refused(tar_bytes(("in/web", b"x"), ("in/web/a.txt", b"y")), tmp_path / "b", "cannot be unpacked")


def test_the_usual_tar_of_a_directory_with_dot_members_unpacks(tmp_path: Path) -> None:
    dot = tarfile.TarInfo(".")
    dot.type = tarfile.DIRTYPE
    root = unpack(tar_bytes(dot, ("./sources.json", b"{}"), ("./web/a.txt", b"hi")), tmp_path / "out")
    assert root == tmp_path / "out"
    assert (root / "web" / "a.txt").read_bytes() == b"hi"
    refused(tar_bytes((".", b"x")), tmp_path / "f", "not a regular file or directory")


def test_sources_json_as_a_directory_is_refused_naming_it(tmp_path: Path) -> None:
    target = tmp_path / "in"
    (target / "sources.json").mkdir(parents=True)
    with pytest.raises(InvalidInput, match=r"sources\.json is not a regular file") as info:
        shards.read_sources(target)
    assert str(tmp_path) not in info.value.message


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"P5 " + b"9" * 5000 + b" 1 255\n" + b"x", "not a binary PGM"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt \xff\xff\xff\xff" + b"\x00" * 16, "not a WAV file"),
    ],
)
def test_hostile_media_headers_are_refused_not_crashed_on(data: bytes, match: str) -> None:
    modality = rules.modality_of("x.pgm" if data.startswith(b"P5") else "x.wav")
    with pytest.raises(InvalidInput, match=match):
        payloads.check_payload(modality, data, "web/x")


def pax_header(size: int, kind: bytes = tarfile.XHDTYPE) -> bytes:
    """A pax extended header whose one record sets the next member's size."""
    record = f" size={size}\n".encode()
    length = len(record) + 1
    while len(str(length)) + len(record) != length:
        length += 1
    body = str(length).encode() + record
    info = tarfile.TarInfo("PaxHeader")
    info.type, info.size = kind, len(body)
    return info.tobuf(tarfile.USTAR_FORMAT) + body + bytes(-len(body) % 512)


@pytest.mark.parametrize("second", [tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE])
def test_two_pax_headers_before_one_member_are_refused(tmp_path: Path, second: bytes) -> None:
    """tarfile applies the first pax header's size, a walk that kept the last would skip what tarfile
    then reads as headers: a long-name bomb hidden there (a re-attack found it). Refused outright."""
    hidden = long_header(tarfile.GNUTYPE_LONGNAME, 8192)[:-1024]
    member = tarfile.TarInfo("s/a.txt").tobuf(tarfile.USTAR_FORMAT)
    bomb = pax_header(0) + pax_header(len(hidden), second) + member + hidden + bytes(1024)
    refused(bomb, tmp_path / "out", "two extension headers of one kind before a member")
    refused(gzip.compress(bomb), tmp_path / "gz", "two extension headers")
