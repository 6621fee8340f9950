"""An SME fine-tunes a registered base model on its encrypted workspace, end to end, with the real
platform (both databases): the HTTP API served by uvicorn, ``pnyx sme`` on the SME's side (upload,
authorize, decrypt), the production dispatcher, and the real local executor running
``pnyx.training.finetune`` in a bubblewrap sandbox with the server's runtime. The adapter, decrypted
on the SME's side and applied to its base, fits the SME's text better than the base does.

Then an operator with full access at rest (every row of every table, every file under the data
directory and the job root, everything the process logged or printed) finds none of the SME's
data, names, adapter bytes or digests, nor any data key in any spelling; another project's job
reads none of it; the public log says commitments only, and the SME opens one to a third party.

The base model version is registered by the real model registry from a finished job's outputs (its
weights a real freshly initialised network), as the SME's own project's version: a public one would
need a release through the council (tests/api/test_job_model_inputs_api.py reads one of those).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pnyx.cli.sme import app as sme_app
from pnyx.cli.sme_client import RemoteObject, SmeClient
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.runner import build_dispatcher
from pnyx.jobs.model import EngineRef, JobRecord, JobStatus
from pnyx.settings import Settings
from pnyx.training.adapter_files import load_adapter, read_base
from pnyx.wiring import Platform
from pnyx.workspaces import envelope
from tests.api.sme_world import Teams
from tests.conftest import LiveServer
from tests.executors.job_root import temporary_job_root
from tests.integration.sme_at_rest import Collect, Logs, at_rest, read_all, register_base
from tests.training.test_finetune import text_loss

pytestmark = pytest.mark.slow
MARKER = f"PNYX-SME-MARKER-{secrets.token_hex(8)}"
STEPS = 30
ADAPTER = "adapter.safetensors"
runner = CliRunner()


@pytest.fixture
def job_root() -> Iterator[Path]:
    with temporary_job_root() as root:
        yield root


@pytest.fixture
def settings(database_url: str, tmp_path: Path, job_root: Path) -> Settings:
    """The server as deployed for SME jobs: the local executor, sandboxed, with its own runtime."""
    return Settings.from_env(
        {
            "PNYX_DATABASE_URL": database_url,
            "PNYX_DATA_DIR": str(tmp_path / "data"),
            "PNYX_JOB_ROOT": str(job_root),
            "PNYX_LOCAL_RUNTIME": "server",
            "PNYX_LOG_ORIGIN": "test.pnyx.example/log",
        }
    )


@dataclass
class Sme:
    """The SME's machine (its key and files, outside the server's directories) and the platform."""

    platform: Platform
    server: LiveServer
    teams: Teams
    home: Path
    token: str  # the SME's bearer header value
    project: str
    key: Path

    def cli(self, *args: str) -> str:
        env = {"PNYX_SERVER": self.server.url, "PNYX_TOKEN": self.token[7:], "COLUMNS": "300"}
        result = runner.invoke(sme_app, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == 0, result.output
        return result.output

    def client(self) -> SmeClient:
        return SmeClient(self.server.url, self.token[7:])

    def submit(self, body: dict[str, Any], token: str | None = None) -> httpx.Response:
        headers = {"Authorization": token or self.token}
        return httpx.post(f"{self.server.url}/api/v1/jobs", json=body, headers=headers, timeout=60)

    def opened(self, workspace: str, obj: RemoteObject) -> tuple[bytes, envelope.ObjectMeta]:
        """An object's data key and metadata, as ``pnyx sme ls --key`` opens them."""
        assert obj.wrapped_key is not None
        assert obj.sealed_meta is not None
        context = envelope.context_of(workspace, obj.id)
        data_key = envelope.unwrap_key(obj.wrapped_key, self.key.read_bytes(), context)
        return data_key, envelope.open_meta(obj.sealed_meta, data_key, context)


@pytest.fixture
def sme(platform: Platform, tmp_path: Path) -> Iterator[Sme]:
    platform.inventory.generate(64, seed=1)
    home = tmp_path / "sme"
    home.mkdir()
    key = home / "sme.pem"
    key.write_bytes(envelope.generate_keypair().private_pem)
    teams = Teams(platform)
    token = teams.user("sme", "researcher")
    with LiveServer(platform) as server:
        yield Sme(platform, server, teams, home, token, teams.project("sme"), key)


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str]) -> Iterator[Logs]:
    found = Logs(capfd)
    handler = Collect(found.found)
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield found
    root.removeHandler(handler)
    root.setLevel(before)


def texts() -> dict[str, bytes]:
    """The SME's private text: names, sizes and bytes of its own."""
    line = f"{MARKER} is what the SME's customers wrote to it, and nobody else may read. "
    return {
        f"customer-notes-{secrets.token_hex(4)}.txt": (line * 60).encode() + b"!",
        f"support-tickets-{secrets.token_hex(4)}.txt": (line.upper() * 37).encode() + b"?!",
    }


def run_until(platform: Platform, dispatcher: Dispatcher, job_id: str, who: str) -> JobRecord:
    started = time.monotonic()
    principal = platform.identity.principal_of(who)
    while (job := platform.jobs.get(principal, job_id)).status not in {
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    }:
        assert time.monotonic() - started < 180, job
        dispatcher.cycle()
        time.sleep(0.2)
    return job


def job_log(platform: Platform, job: JobRecord) -> str:
    return platform.executors["local"].logs(EngineRef(engine="local", engine_job_id=job.engine_job_id or ""))


@dataclass
class Finetuned:
    workspace: str
    job: JobRecord
    version: str
    uploads: dict[str, tuple[str, bytes]]  # object id -> (name, plaintext)
    outputs: dict[str, tuple[str, bytes]]  # object id -> (name, plaintext), decrypted by the SME
    data_keys: list[bytes]  # every object's, as the SME unwrapped them
    commitments: dict[str, str]  # object id -> commitment


def finetune(sme: Sme, tmp_path: Path) -> Finetuned:
    version = register_base(sme.platform, sme.project, "sme", tmp_path)
    public_key = envelope.public_key_of(sme.key.read_bytes())
    made = sme.cli("workspace", "create", "--project", sme.project, "--public-key", public_key)
    workspace = re.findall(r"ws_[0-9a-f]{12}", made)[0]
    data = sme.home / "data"
    data.mkdir()
    for name, plaintext in texts().items():
        (data / name).write_bytes(plaintext)
    sme.cli("upload", "--workspace", workspace, *sorted(str(p) for p in data.iterdir()))
    with sme.client() as client:
        uploaded = client.objects(workspace)
    uploads = {o.id: _plain(sme, workspace, o, data) for o in uploaded}
    command = ["python", "-m", "pnyx.training.finetune", "--base", f"/inputs/{version}"]
    command += ["--data", "/inputs/workspace", "--out", "/job/outputs", "--steps", str(STEPS)]
    body = {"name": "finetune", "project": sme.project, "accelerators": 8, "estimate_s": 600}
    body |= {"command": command, "models": [version], "workspace_objects": sorted(uploads)}
    submitted = sme.submit(body)
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["status"] == "awaiting_keys"
    job_id = submitted.json()["id"]
    job = _run_authorised(sme, job_id)
    return _taken_in(sme, workspace, job, version, uploads)


def _plain(sme: Sme, workspace: str, obj: RemoteObject, data: Path) -> tuple[str, bytes]:
    _key, meta = sme.opened(workspace, obj)
    return meta.name, (data / meta.name).read_bytes()


def _run_authorised(sme: Sme, job_id: str) -> JobRecord:
    dispatcher = build_dispatcher(sme.platform)
    try:
        dispatcher.cycle()  # its delivery key published; the job still waits for its SME
        assert sme.platform.jobs.get(sme.platform.identity.principal_of("sme"), job_id).status is (
            JobStatus.AWAITING_KEYS
        )
        said = sme.cli("authorize", job_id, "--key", str(sme.key))
        assert f"authorised {job_id}" in said
        job = run_until(sme.platform, dispatcher, job_id, "sme")
        assert job.status is JobStatus.COMPLETED, job_log(sme.platform, job)
        assert dispatcher.outputs.wait(60)
    finally:
        dispatcher.close()
    return job


def _taken_in(
    sme: Sme, workspace: str, job: JobRecord, version: str, uploads: dict[str, tuple[str, bytes]]
) -> Finetuned:
    with sme.client() as client:
        found = client.objects(workspace)
    made = [o for o in found if o.origin == "job"]
    assert made, "the job's sealed outputs were not taken in"
    out = sme.home / "outputs"
    out.mkdir()
    decrypted: dict[str, tuple[str, bytes]] = {}
    for obj in made:
        _key, meta = sme.opened(workspace, obj)
        sme.cli(
            "decrypt", obj.id, "--workspace", workspace, "--key", str(sme.key), "--out", str(out / meta.name)
        )
        decrypted[obj.id] = (meta.name, (out / meta.name).read_bytes())
    keys = [sme.opened(workspace, o)[0] for o in found]
    return Finetuned(
        workspace=workspace,
        job=job,
        version=version,
        uploads=uploads,
        outputs=decrypted,
        data_keys=keys,
        commitments={o.id: o.commitment for o in found},
    )


def test_an_sme_finetunes_on_its_workspace_and_nothing_of_it_is_readable_at_rest(
    sme: Sme, tmp_path: Path, job_root: Path, logs: Logs
) -> None:
    done = finetune(sme, tmp_path)

    names = {name for name, _ in done.outputs.values()}
    assert {ADAPTER, "pnyx-adapter.json", "pnyx-job.log"} <= names, names
    base_dir = Path(done.job.inputs[0].path)
    adapter_dir = sme.home / "outputs"
    config = read_base(base_dir).config
    before = text_loss(read_base(base_dir).model, sme.home / "data", config)
    after = text_loss(load_adapter(base_dir, adapter_dir), sme.home / "data", config)
    assert after < before - 0.3, (before, after)

    neighbour = neighbour_probe(sme, done, job_root)
    assert neighbour == [], neighbour
    haystacks = at_rest(sme.platform, job_root) | {"the logs": logs.text()}
    found = [
        (what, where)
        for what, needle in secrets_of(done)
        for where, hay in haystacks.items()
        if needle in hay
    ]
    assert found == []
    on_the_smes_machine = b"\0".join(read_all([sme.home]))  # where they are: the search finds them
    assert all(needle in on_the_smes_machine for what, needle in secrets_of(done) if "key" not in what)
    assert_public_log_says_commitments_only(sme, done)


def secrets_of(done: Finetuned) -> Iterator[tuple[str, bytes]]:
    """What the operator must not find: (what it is, its bytes)."""
    yield "the marker", MARKER.encode()
    for name, plaintext in done.uploads.values():
        yield f"{name}'s name", name.encode()
        yield f"{name}'s bytes", plaintext[100:132]
    adapter = next(data for name, data in done.outputs.values() if name == ADAPTER)
    for start in range(len(adapter) // 5, len(adapter) - 64, max(1, len(adapter) // 5)):
        yield f"the adapter at {start}", adapter[start : start + 64]
    yield "the adapter's SHA-256", hashlib.sha256(adapter).hexdigest().encode()
    for i, key in enumerate(done.data_keys):
        yield from (
            (f"data key {i} ({spelling})", text)
            for spelling, text in (
                ("raw", key),
                ("base64", base64.b64encode(key)),
                ("base64 unpadded", base64.b64encode(key).rstrip(b"=")),
                ("base64url", base64.urlsafe_b64encode(key).rstrip(b"=")),
                ("hex", key.hex().encode()),
                ("HEX", key.hex().upper().encode()),
            )
        )


PROBE = """
import json, os
seen = []
for path in json.loads(PATHS):
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, 'rb').read(1)
        seen.append(path)
    except OSError:
        pass
print('PROBE ' + json.dumps(seen))
"""


def neighbour_probe(sme: Sme, done: Finetuned, job_root: Path) -> list[str]:
    """Another project's job, after the SME's, tries the workspace's ciphertexts and the SME job's
    sealed outputs: the paths it could open."""
    data_dir = sme.platform.settings.data_dir
    outputs_dir = job_root / "work" / str(done.job.engine_job_id) / "outputs"
    paths = [str(data_dir), str(data_dir / "workspaces"), str(data_dir / "workspaces" / done.workspace)]
    paths += [str(data_dir / "workspaces" / done.workspace / o) for o in done.commitments]
    paths += ["/inputs/.sealed", "/inputs/workspace", "/run/pnyx", str(outputs_dir)]
    paths += [str(outputs_dir / f"{o}.pxo") for o in done.outputs]
    token = sme.teams.user("eve", "researcher")
    code = PROBE.replace("json.loads(PATHS)", repr(paths))
    body = {"name": "probe", "project": sme.teams.project("eve"), "accelerators": 8, "estimate_s": 60}
    made = sme.submit(body | {"command": ["python3", "-c", code]}, token)
    assert made.status_code == 201, made.text
    dispatcher = build_dispatcher(sme.platform)
    try:
        job = run_until(sme.platform, dispatcher, made.json()["id"], "eve")
    finally:
        dispatcher.close()
    log = job_log(sme.platform, job)
    assert job.status is JobStatus.COMPLETED, log
    assert all(Path(p).exists() for p in paths[:3]), "the probe's targets exist on the machine"
    [line] = [x for x in log.splitlines() if x.startswith("PROBE ")]
    seen: list[str] = json.loads(line.removeprefix("PROBE "))
    return seen


def assert_public_log_says_commitments_only(sme: Sme, done: Finetuned) -> None:
    sme.platform.log.drain()
    with sme.platform.engine.connect() as conn:
        entries = b"\n".join(
            bytes(r) for r in conn.execute(sa.text("SELECT data FROM log_entries")).scalars()
        )
    for name, plaintext in [*done.uploads.values(), *done.outputs.values()]:
        assert name.encode() not in entries, name
        assert hashlib.sha256(plaintext).hexdigest().encode() not in entries, name
        assert re.search(rb"[:\[,]%d[,\]}]" % len(plaintext), entries) is None, (name, len(plaintext))
    for commitment in done.commitments.values():
        assert commitment.encode() in entries
    with sme.client() as client:
        some = next(iter(done.uploads))
        _key, meta = sme.opened(done.workspace, client.object(done.workspace, some))
    digest = hashlib.sha256(done.uploads[some][1]).hexdigest()
    assert envelope.opens(done.commitments[some], meta.salt, digest)  # what the SME hands a third party
    assert not envelope.opens(done.commitments[some], meta.salt, hashlib.sha256(b"other").hexdigest())


def test_a_researcher_outside_the_named_team_cannot_use_the_workspace(sme: Sme) -> None:
    public_key = envelope.public_key_of(sme.key.read_bytes())
    workspace = re.findall(r"ws_[0-9a-f]{12}", sme.cli("workspace", "create", "--project", sme.project,
                                                       "--public-key", public_key))[0]  # fmt: skip
    (sme.home / "notes.txt").write_bytes(MARKER.encode())
    uploaded = sme.cli("upload", "--workspace", workspace, str(sme.home / "notes.txt"))
    [object_id] = re.findall(r"object ([0-9a-f]{32})", uploaded)
    outsider = sme.teams.user("mallory", "researcher")
    body = {"name": "x", "project": sme.project, "accelerators": 8, "estimate_s": 60, "command": ["true"]}

    refused = sme.submit(body | {"workspace_objects": [object_id]}, outsider)

    assert refused.status_code == 403, refused.text
    assert refused.json()["field"] == "project"
    mine = sme.submit(body | {"workspace_objects": [object_id]})
    assert (mine.status_code, mine.json()["status"]) == (201, "awaiting_keys")
