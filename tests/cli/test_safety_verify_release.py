"""`pnyx safety release sign/approve` and `pnyx safety verify-release`: officers approve from the CLI
with a local private key, and anyone checks the decision offline from a log export and public keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.core.errors import InvalidInput
from pnyx.safety.model import Release
from pnyx.settings import Settings
from pnyx.wiring import Platform
from tests.integration.release_world import SHA, World, label

runner = CliRunner()


@pytest.fixture
def world(platform: Platform) -> World:
    return World(platform)


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return {
        "PNYX_DATABASE_URL": settings.database_url,
        "PNYX_DATA_DIR": str(settings.data_dir),
        "COLUMNS": "200",
    }


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == code, result.output
    return result.output


def key_file(world: World, name: str, tmp_path: Path) -> Path:
    pem = world.private[name].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / f"{name}.pem"
    path.write_bytes(pem)
    return path


def released(world: World, env: dict[str, str], tmp_path: Path) -> Release:
    """olga approves with her key file; omar signs the message offline and approves with the signature."""
    release = world.request(
        "job_1/model.bin", 2, label(1), evaluations=["safety-suite", "capability-screening"]
    )
    out = run(
        env,
        "safety",
        "release",
        "approve",
        release.id,
        "--as",
        "olga",
        "--key-file",
        str(key_file(world, "olga", tmp_path)),
    )
    assert "approved by olga" in out
    message = tmp_path / "message.txt"
    message.write_text(run(env, "safety", "release", "message", release.id))
    signed = run(
        env,
        "safety",
        "release",
        "sign",
        "--message-file",
        str(message),
        "--key-file",
        str(key_file(world, "omar", tmp_path)),
    )
    key_id, signature = signed.split()
    out = run(
        env,
        "safety",
        "release",
        "approve",
        release.id,
        "--as",
        "omar",
        "--key-id",
        key_id,
        "--signature",
        signature,
    )
    assert f"{release.id} released" in out
    return world.releases.release(release.id)


def export(platform: Platform, tmp_path: Path) -> tuple[Path, Path]:
    """The log as GET /api/v1/log/entries serves it, and the keys as GET /api/v1/safety/keys does."""
    platform.log.drain()
    entries = [
        {"index": e.index, "canonical": e.data.decode()} for e in platform.log.entries(0, platform.log.size())
    ]
    log = tmp_path / "entries.json"
    log.write_text(json.dumps(entries))
    keys = tmp_path / "keys.json"
    registered = platform.safety.keys()
    keys.write_text(
        json.dumps([{"user": k.user, "key_id": k.key_id, "public_key": k.public_key} for k in registered])
    )
    return log, keys


def test_approve_from_the_cli_and_verify_offline(
    world: World, platform: Platform, env: dict[str, str], tmp_path: Path
) -> None:
    release = released(world, env, tmp_path)
    log, keys = export(platform, tmp_path)
    out = run(
        {"COLUMNS": "200"}, "safety", "verify-release", release.id, "--log", str(log), "--keys", str(keys)
    )
    assert "✓ approval by olga" in out
    assert "✓ approval by omar" in out
    assert "OK" in out
    assert "2 valid approval(s) by distinct people (the gate needs 2)" in out


def test_entry_bundles_in_a_directory_verify_too(
    world: World, platform: Platform, env: dict[str, str], tmp_path: Path
) -> None:
    release = released(world, env, tmp_path)
    _, keys = export(platform, tmp_path)
    tiles = tmp_path / "tile" / "entries"
    tiles.mkdir(parents=True)
    (tiles / "000").write_bytes(platform.log.tile(f"entries/000.p/{platform.log.size()}"))
    run({}, "safety", "verify-release", release.id, "--log", str(tmp_path / "tile"), "--keys", str(keys))


def test_a_forged_signature_fails_the_check(
    world: World, platform: Platform, env: dict[str, str], tmp_path: Path
) -> None:
    release = released(world, env, tmp_path)
    log, keys = export(platform, tmp_path)
    entries = json.loads(log.read_text())
    forged = world.sign(release, "oona").signature  # oona's signature, under omar's name and key
    for e in entries:
        entry = json.loads(e["canonical"])
        if entry["type"] == "safety.release.approved" and entry["data"]["approver"] == "omar":
            entry["data"]["signature"] = forged
            e["canonical"] = json.dumps(entry)
    log.write_text(json.dumps(entries))
    out = run(
        {"COLUMNS": "200"},
        "safety",
        "verify-release",
        release.id,
        "--log",
        str(log),
        "--keys",
        str(keys),
        code=1,
    )
    assert "✗ approval by omar" in out
    assert "does not verify" in out
    assert "FAILED" in out


def test_a_duplicated_approver_fails_the_check(
    world: World, platform: Platform, env: dict[str, str], tmp_path: Path
) -> None:
    release = released(world, env, tmp_path)
    log, keys = export(platform, tmp_path)
    entries = [json.loads(e["canonical"]) for e in json.loads(log.read_text())]
    olga, omar = [e for e in entries if e["type"] == "safety.release.approved"]
    omar["data"] = dict(olga["data"])  # olga's approval, logged a second time in omar's place
    log.write_text("\n".join(json.dumps(e) for e in entries))
    out = run(
        {"COLUMNS": "200"},
        "safety",
        "verify-release",
        release.id,
        "--log",
        str(log),
        "--keys",
        str(keys),
        code=1,
    )
    assert "approved a second time" in out
    assert "1 valid approval(s) by distinct people; the gate needs 2" in out


def test_an_undecided_release_fails_and_bad_files_answer_clearly(
    world: World, platform: Platform, env: dict[str, str], tmp_path: Path
) -> None:
    release = world.request("job_1/model.bin", 2, label(1))
    log, keys = export(platform, tmp_path)
    out = run({}, "safety", "verify-release", release.id, "--log", str(log), "--keys", str(keys), code=1)
    assert "still requested" in out
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    result = runner.invoke(
        app, ["safety", "verify-release", release.id, "--log", str(bad), "--keys", str(keys)]
    )
    assert isinstance(result.exception, InvalidInput)
    assert result.exception.field == "log"


def test_sign_reads_the_release_from_the_database(world: World, env: dict[str, str], tmp_path: Path) -> None:
    release = world.request("job_1/model.bin", 2, label(1))
    key_id, signature = run(
        env, "safety", "release", "sign", release.id, "--key-file", str(key_file(world, "olga", tmp_path))
    ).split()
    assert (key_id, signature) == (world.key_ids["olga"], world.sign(release, "olga").signature)
    assert SHA in run(env, "safety", "release", "message", release.id)


def test_release_and_incident_commands(world: World, env: dict[str, str], tmp_path: Path) -> None:
    release = world.request("job_1/model.bin", 2, label(1))
    assert "missing: 2 more approval(s)" in run(env, "safety", "release", "show", release.id)
    out = run(env, "safety", "release", "attach", release.id, "--as", "rita", "--evaluation", "safety-suite")
    assert "missing: evaluation: capability-screening" in out
    assert release.id in run(env, "safety", "release", "list", "--status", "requested")
    assert "withdrawn" in run(env, "safety", "release", "withdraw", release.id, "--as", "rita")
    other = world.request("job_2/model.bin", 2, label(1))
    assert "refused" in run(env, "safety", "release", "refuse", other.id, "--as", "olga")
    opened = world.incidents.open(world.who("olga"), "project", "p1", "weights seen outside", True)
    out = run(env, "safety", "incident", "show", opened.id)
    assert "details withheld" in out
    assert "freeze-artifact project:p1" in out
    assert "lifting" in run(env, "safety", "incident", "lift", opened.id, "--as", "olga")
    assert "lifted" in run(env, "safety", "incident", "lift", opened.id, "--as", "omar")
    assert opened.id in run(env, "safety", "incident", "list")
