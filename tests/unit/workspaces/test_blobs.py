"""Ciphertext files: private, written whole or not at all, never over another, never outside."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from pnyx.core.errors import Conflict, InvalidInput
from pnyx.workspaces.store import WorkspaceBlobs

WS = "ws_0123456789ab"
OID = "f" * 32


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_stored_file_is_private_and_its_digest_and_size_answered(tmp_path: Path) -> None:
    blobs = WorkspaceBlobs(tmp_path / "workspaces")
    sha256, size = blobs.put(WS, OID, io.BytesIO(b"cipher" * 1000), max_bytes=6000)
    assert (sha256, size) == (hashlib.sha256(b"cipher" * 1000).hexdigest(), 6000)
    path = blobs.path(WS, OID)
    assert path.read_bytes() == b"cipher" * 1000
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    assert files(tmp_path / "workspaces") == [f"{WS}/{OID}"]


def test_over_the_cap_nothing_is_left_and_the_setting_is_named(tmp_path: Path) -> None:
    blobs = WorkspaceBlobs(tmp_path)
    with pytest.raises(InvalidInput, match="PNYX_WORKSPACE_OBJECT_BYTES") as info:
        blobs.put(WS, OID, io.BytesIO(b"x" * 101), max_bytes=100)
    assert info.value.field == "ciphertext"
    assert files(tmp_path) == []


def test_a_source_that_fails_midway_leaves_nothing(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.reads: Iterator[bytes] = iter([b"x" * 10])

        def read(self, size: int = -1) -> bytes:
            for chunk in self.reads:
                return chunk
            raise ConnectionError("the client went away")

    blobs = WorkspaceBlobs(tmp_path)
    with pytest.raises(ConnectionError):
        blobs.put(WS, OID, Broken(), max_bytes=100)  # type: ignore[arg-type]
    assert files(tmp_path) == []


def test_an_object_is_never_written_over(tmp_path: Path) -> None:
    blobs = WorkspaceBlobs(tmp_path)
    blobs.put(WS, OID, io.BytesIO(b"first"), max_bytes=100)
    with pytest.raises(Conflict):
        blobs.put(WS, OID, io.BytesIO(b"second"), max_bytes=100)
    assert blobs.path(WS, OID).read_bytes() == b"first"
    assert files(tmp_path) == [f"{WS}/{OID}"]


@pytest.mark.parametrize(("workspace", "object_id"), [("../etc", OID), (WS, "../" + "f" * 29), ("ws_x", OID)])
def test_paths_outside_the_root_are_refused(tmp_path: Path, workspace: str, object_id: str) -> None:
    with pytest.raises(InvalidInput):
        WorkspaceBlobs(tmp_path).path(workspace, object_id)


def test_removing_a_workspace_deletes_its_files_only(tmp_path: Path) -> None:
    blobs = WorkspaceBlobs(tmp_path)
    other = "ws_ba9876543210"
    for oid in ("1" * 32, "2" * 32):
        blobs.put(WS, oid, io.BytesIO(b"c"), max_bytes=10)
    blobs.put(other, OID, io.BytesIO(b"c"), max_bytes=10)
    assert blobs.remove_workspace(WS) == 2
    assert files(tmp_path) == [f"{other}/{OID}"]
    assert blobs.remove_workspace(WS) == 0
