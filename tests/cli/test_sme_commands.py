"""`pnyx sme ...` over real HTTP to a live server (both databases): keys made and used on the SME's
side only, upload -> ls -> decrypt round trips, wrong keys and tampered ciphertexts refused with
nothing written, shredding, and commitments opened and verified offline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pnyx.cli.main import app
from pnyx.core.errors import Conflict, FacilityError, InvalidInput
from pnyx.wiring import Platform
from pnyx.workspaces.envelope import Tampered, WrongKey
from tests.api.sme_world import Teams
from tests.conftest import LiveServer

runner = CliRunner()
OBJECT = re.compile(r"(\S+): object ([0-9a-f]{32}) commitment ([0-9a-f]{64})")


class Sme:
    """The SME's machine: a key file, a token, the server, and a folder of files."""

    def __init__(self, platform: Platform, server: LiveServer, home: Path) -> None:
        self.teams = Teams(platform)
        self.platform = platform
        self.home = home
        self.env = {"PNYX_SERVER": server.url, "PNYX_TOKEN": self.teams.user("alice", "researcher")[7:]}
        self.env["COLUMNS"] = "300"
        self.project = self.teams.project("alice")
        self.key = home / "sme.pem"

    def run(self, *args: str, token: str | None = None) -> Result:
        env = self.env if token is None else self.env | {"PNYX_TOKEN": token}
        return runner.invoke(app, ["sme", *args], env=env)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == 0, result.output
        return result.output

    def fails(self, error: type[FacilityError], *args: str) -> FacilityError:
        result = self.run(*args)
        assert isinstance(result.exception, error), (result.exception, result.output)
        return result.exception

    def workspace(self) -> str:
        self.ok("keygen", "--out", str(self.key))
        found = re.search(
            r"ws_[0-9a-f]{12}",
            self.ok("workspace", "create", "--project", self.project, "--key", str(self.key)),
        )
        assert found is not None
        return found.group(0)

    def upload(self, workspace: str, **files: bytes) -> dict[str, tuple[str, str]]:
        """name -> (object id, commitment)"""
        paths = []
        for name, data in files.items():
            (self.home / name).write_bytes(data)
            paths.append(str(self.home / name))
        out = self.ok("upload", "--workspace", workspace, *paths)
        return {m.group(1): (m.group(2), m.group(3)) for m in OBJECT.finditer(out)}


@pytest.fixture
def sme(platform: Platform, live_server: LiveServer, tmp_path: Path) -> Sme:
    home = tmp_path / "sme"
    home.mkdir()
    return Sme(platform, live_server, home)


def test_keygen_writes_a_private_key_0600_once(sme: Sme) -> None:
    out = sme.ok("keygen", "--out", str(sme.key))
    assert re.search(r"x25519:[A-Za-z0-9_-]{43}", out)
    assert sme.key.stat().st_mode & 0o777 == 0o600
    before = sme.key.read_bytes()
    sme.fails(InvalidInput, "keygen", "--out", str(sme.key))
    assert sme.key.read_bytes() == before


def test_upload_ls_decrypt_round_trip_and_commitments(sme: Sme) -> None:
    workspace = sme.workspace()
    assert "active" in sme.ok("workspace", "show", workspace)
    plain = {"a.txt": b"alpha " * 300_000, "b.bin": bytes(range(256)) * 7}
    stored = sme.upload(workspace, **plain)
    assert set(stored) == set(plain)
    listed = sme.ok("ls", "--workspace", workspace)
    assert all(oid in listed and c in listed for oid, c in stored.values())
    assert "a.txt" not in listed
    named = sme.ok("ls", "--workspace", workspace, "--key", str(sme.key))
    assert "a.txt" in named
    assert str(len(plain["a.txt"])) in named
    for name, (oid, _c) in stored.items():
        out = sme.home / f"out-{name}"
        sme.ok("decrypt", oid, "--workspace", workspace, "--key", str(sme.key), "--out", str(out))
        assert out.read_bytes() == plain[name]
    oid, commitment = stored["b.bin"]
    opened = sme.ok("commitment", "open", oid, "--workspace", workspace, "--key", str(sme.key))
    salt = re.search(r"salt\s+([0-9a-f]{64})", opened)
    assert salt is not None
    assert commitment in opened
    verify = ["commitment", "verify", "--commitment", commitment, "--salt", salt.group(1)]
    assert sme.run(*verify, str(sme.home / "b.bin")).exit_code == 0
    assert sme.run(*verify, str(sme.home / "a.txt")).exit_code == 1
    wrong_salt = ["commitment", "verify", "--commitment", commitment, "--salt", "00" * 32]
    assert sme.run(*wrong_salt, str(sme.home / "b.bin")).exit_code == 1


def test_a_wrong_key_and_a_tampered_ciphertext_write_nothing(sme: Sme, platform: Platform) -> None:
    workspace = sme.workspace()
    ((oid, _c),) = sme.upload(workspace, **{"data.csv": b"x,y\n" * 1000}).values()
    other = sme.home / "other.pem"
    sme.ok("keygen", "--out", str(other))
    out = sme.home / "plain.csv"
    decrypt = ["decrypt", oid, "--workspace", workspace, "--out", str(out)]
    assert "does not open" in sme.fails(WrongKey, *decrypt, "--key", str(other)).message
    blob = platform.settings.data_dir / "workspaces" / workspace / oid
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    assert "failed its tag" in sme.fails(Tampered, *decrypt, "--key", str(sme.key)).message
    assert sorted(p.name for p in sme.home.iterdir()) == ["data.csv", "other.pem", "sme.pem"]


def test_after_shredding_the_right_key_opens_nothing(sme: Sme) -> None:
    workspace = sme.workspace()
    ((oid, _c),) = sme.upload(workspace, **{"model.safetensors": b"\x00weights" * 100}).values()
    refused = sme.fails(InvalidInput, "shred", workspace, "--reason", "contract ended")
    assert "--yes" in refused.message
    assert "shredded" in sme.ok("shred", workspace, "--reason", "contract ended", "--yes")
    out = sme.home / "back.safetensors"
    gone = sme.fails(
        Conflict, "decrypt", oid, "--workspace", workspace, "--key", str(sme.key), "--out", str(out)
    )
    assert (gone.code, "shredded" in gone.message) == ("workspace_shredded", True)
    assert not out.exists()
    assert "(shredded)" in sme.ok("ls", "--workspace", workspace, "--key", str(sme.key))


def test_another_projects_member_is_refused(sme: Sme) -> None:
    workspace = sme.workspace()
    ((oid, _c),) = sme.upload(workspace, **{"n.txt": b"n"}).values()
    bob = sme.teams.user("bob", "researcher")[7:]
    sme.teams.project("bob")
    result = sme.run("ls", "--workspace", workspace, token=bob)
    assert isinstance(result.exception, FacilityError)
    assert result.exception.kind.value == "not_found"
    out = sme.home / "stolen"
    stolen = sme.run(
        "decrypt", oid, "--workspace", workspace, "--key", str(sme.key), "--out", str(out), token=bob
    )
    assert isinstance(stolen.exception, FacilityError)
    assert not out.exists()
