"""`pnyx registry model ...` against a real database (both backends); `download` over real HTTP to a
live server, keeping a file only when it matches the digest in the signed log."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from pnyx.cli.main import app
from pnyx.core.errors import IntegrityFailure, NotFound, Unauthenticated
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
    with pytest.raises(NotFound, match=f"no model version '{model.version}' that you may read"):
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


def test_a_jobs_checkpoints_are_listed_by_job_and_one_of_version_or_job_is_asked(
    env: dict[str, str], model: ModelVersion
) -> None:
    by_job = invoke(env, "checkpoints", "--job", "job_train01").output
    assert "checkpoints/step-000002" in by_job
    assert "checkpoints/step-000004" in by_job
    for args in ((), (model.version, "--job", "job_train01")):
        refused = runner.invoke(app, ["registry", "model", "checkpoints", *args], env=env)
        assert refused.exit_code == 2
        assert "give a model version or --job JOB, one of them" in refused.output


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


class LyingServer:
    """A proxy in front of the real server that serves other paths than those asked for (each of
    ``swaps``' keys, under /files/ and /proofs/, is answered with its value's file and proof)."""

    def __init__(self, upstream: str, swaps: dict[str, str]) -> None:
        self.upstream, self.swaps = upstream, swaps
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the stdlib's name
                path = self.path
                for asked, served in proxy.swaps.items():
                    for kind in ("/files/", "/proofs/"):
                        path = path.replace(kind + asked, kind + served)
                found = httpx.get(proxy.upstream + path, headers=dict(self.headers))
                self.send_response(found.status_code)
                self.send_header("content-type", found.headers.get("content-type", "text/plain"))
                self.send_header("content-length", str(len(found.content)))
                self.end_headers()
                self.wfile.write(found.content)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("asked", "swaps"),
    [
        ("model.safetensors", {"model.safetensors": "metrics.jsonl"}),  # another logged file
        ("model.safetensors", {"model.safetensors": "pnyx-model.json"}),
        ("metrics.jsonl", {"pnyx-model.json": "README.md"}),  # the manifest itself swapped
    ],
)
def test_download_refuses_another_logged_file_of_the_version_served_in_its_place(
    platform: Platform,
    model: ModelVersion,
    live_server: LiveServer,
    tmp_path: Path,
    asked: str,
    swaps: dict[str, str],
) -> None:
    _publish(platform, model)
    signer = platform.log.signer
    assert signer is not None
    liar = LyingServer(live_server.url, swaps)
    out = tmp_path / "got"
    try:
        args = ["registry", "model", "download", model.version, asked, "--out", str(out)]
        result = runner.invoke(app, [*args, "--server", liar.url, "--key", signer.vkey])
        honest = runner.invoke(app, [*args, "--server", live_server.url, "--key", signer.vkey])
    finally:
        liar.close()
    assert isinstance(result.exception, IntegrityFailure), result.output
    assert "hashes to" in result.exception.message
    assert honest.exit_code == 0, honest.output
    role = model.file(asked)
    assert role is not None
    assert f"registers as the {role.role.value} file" in honest.output
    assert out.read_bytes() == platform.models.blobs.path(role.sha256).read_bytes()
    assert list(tmp_path.glob(".got*")) == []
