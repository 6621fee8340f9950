"""`pnyx registry model ...` against a real database (both backends); `download` over real HTTP to a
live server, keeping a file only when it matches the digest in the signed log."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pnyx.cli.main import app
from pnyx.core.errors import Forbidden, IntegrityFailure, Unauthenticated
from pnyx.executors.local import LocalExecutor
from pnyx.registry.lineage_model import FileRole, ModelVersion
from pnyx.registry.lineage_rules import PUBLIC
from pnyx.registry.lineage_store import ModelRepository
from pnyx.settings import Settings
from pnyx.transparency.note import NoteSigner, generate_signer
from pnyx.wiring import Platform
from tests.conftest import LiveServer
from tests.unit.registry.lineage_outputs import finished_job, import_dataset, outputs, run_for

runner = CliRunner()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings.from_env(_env(database_url, tmp_path, tmp_path_factory.mktemp("jobs")))


def _env(database_url: str, data_dir: Path, job_root: Path) -> dict[str, str]:
    return {
        "PNYX_DATABASE_URL": database_url,
        "PNYX_DATA_DIR": str(data_dir),
        "PNYX_LOG_ORIGIN": "test.pnyx.example/log",
        "PNYX_JOB_ROOT": str(job_root),
        "COLUMNS": "250",
    }


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return _env(settings.database_url, settings.data_dir, settings.job_root)


@pytest.fixture
def model(platform: Platform, tmp_path: Path) -> ModelVersion:
    """A model version registered by the platform's own intake, released to the public, logged."""
    executor = platform.executors["local"]
    assert isinstance(executor, LocalExecutor)
    job = finished_job(platform, executor, outputs(run_for(import_dataset(platform, tmp_path / "import"))))
    assert platform.models.intake(job) is None
    with platform.engine.connect() as conn:
        (found,) = ModelRepository(conn).search(name=None, limit=2)
    platform.log.drain()
    return found


def _publish(platform: Platform, model: ModelVersion) -> None:
    platform.identity.register_user(name="sofia", roles=["safety-officer"])
    for role in (FileRole.WEIGHTS, FileRole.CARD, FileRole.DATA_ORDER):
        f = model.role(role)
        platform.releases.request(
            platform.identity.principal_of("sofia"), artifact=f"model:{model.version}/{f.path}",
            sha256=f.sha256, from_label=model.label, to_label=PUBLIC, evaluations=["licence-provenance"],
        )  # fmt: skip


def invoke(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(app, ["registry", "model", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def test_the_local_commands_show_a_version_its_card_lineage_and_checkpoints(
    env: dict[str, str], platform: Platform, model: ModelVersion
) -> None:
    assert platform.identity.register_user(name="rudi", roles=["researcher"])
    with pytest.raises(Forbidden, match=r"labelled L1\+project:p1"):
        invoke(env, "show", model.version, "--as", "rudi")
    assert model.version[:16] in invoke(env, "list").output  # the console (staff) reads L1
    shown = invoke(env, "show", model.version).output
    assert "tiny-lm" in shown
    assert "not public" in shown
    assert model.role(FileRole.WEIGHTS).sha256 in shown
    assert invoke(env, "card", model.version).output.startswith("---\nlicense: ")
    lineage = invoke(env, "lineage", model.version).output
    assert "dataset demo" in lineage
    assert f"-> model version {model.version}" in lineage
    assert "not public" in lineage
    _publish(platform, model)
    lineage = invoke(env, "lineage", model.version, "--as", "rudi").output
    assert lineage.count("-> release rel_") == 3
    checkpoints = invoke(env, "checkpoints", model.version).output
    assert "checkpoints/step-000002" in checkpoints
    assert "registered" in invoke(env, "intake", "job_train01").output


def _download(server: LiveServer, version: str, out: Path, *extra: str) -> Result:
    args = ["registry", "model", "download", version, "model.safetensors", "--out", str(out)]
    return runner.invoke(app, [*args, "--server", server.url, *extra])


def test_download_keeps_only_what_the_signed_log_vouches_for(
    platform: Platform, model: ModelVersion, live_server: LiveServer, tmp_path: Path
) -> None:
    _publish(platform, model)
    signer = platform.log.signer
    assert signer is not None
    out = tmp_path / "weights.safetensors"
    result = _download(live_server, model.version, out, "--key", signer.vkey)
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    assert out.read_bytes() == platform.models.blobs.path(model.role(FileRole.WEIGHTS).sha256).read_bytes()
    out.unlink()
    stranger: NoteSigner = NoteSigner.from_skey(generate_signer("test.pnyx.example/log")[0])
    result = _download(live_server, model.version, out, "--key", stranger.vkey)
    assert isinstance(result.exception, Unauthenticated)  # a checkpoint this key did not sign
    assert not out.exists()
    assert list(tmp_path.glob(".weights*")) == []  # nothing half-written left behind


def test_download_of_a_tampered_file_writes_nothing(
    platform: Platform, model: ModelVersion, live_server: LiveServer, tmp_path: Path
) -> None:
    _publish(platform, model)
    blob = platform.models.blobs.path(model.role(FileRole.WEIGHTS).sha256)
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    out = tmp_path / "weights.safetensors"
    result = _download(live_server, model.version, out)
    assert isinstance(result.exception, IntegrityFailure)
    assert "model.safetensors of model version" in result.exception.message
    assert model.role(FileRole.WEIGHTS).sha256 in result.exception.message
    assert not out.exists()
