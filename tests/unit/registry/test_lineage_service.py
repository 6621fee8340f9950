"""The model registry's service on both databases: a finished job's outputs taken in through the real
local executor's reader and the real blob store, refusals that register nothing, reads by clearance
until a release makes a version public, downloads checked against the log, and takedown lineage."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pnyx.core.errors import IntegrityFailure, NotFound, Unavailable
from pnyx.core.ids import UserId
from pnyx.db.outbox import outbox
from pnyx.executors.local import LocalExecutor
from pnyx.identity.model import ANONYMOUS, LOCAL_CONSOLE, Principal, Role
from pnyx.jobs.model import JobRecord
from pnyx.registry.blobs import BlobStore
from pnyx.registry.lineage_model import FileRole, IntakeOutcome, ModelVersion, WeightsSummary
from pnyx.registry.lineage_rules import PUBLIC, model_artifact
from pnyx.registry.lineage_service import ModelArtifacts, ModelService, StoredDatasets
from pnyx.registry.lineage_store import model_files, model_intakes, model_versions
from pnyx.registry.model import DatasetVersion
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, SafetyLevel
from pnyx.safety.release_service import ReleaseService
from pnyx.safety.subjects import StoredArtifact
from pnyx.wiring import Platform
from tests.integration.release_world import FakeArtifacts, FakeMembers, FakeMotions
from tests.unit.registry.lineage_outputs import Run, finished_job, import_dataset, outputs, run_for

ADA = Principal(user_id=UserId("usr_ada"), name="ada", roles=frozenset({Role.RESEARCHER}))
BOB = Principal(user_id=UserId("usr_bob"), name="bob", roles=frozenset({Role.RESEARCHER}))
P1 = Label(level=SafetyLevel.L1, categories=frozenset({"project:p1"}))


@dataclass
class World:
    platform: Platform
    executor: LocalExecutor
    models: ModelService
    releases: ReleaseService
    dataset: DatasetVersion
    blobs: BlobStore
    artifacts: FakeArtifacts  # job outputs as safety sees them (the release subjects besides versions)

    def run(self, **changes: Any) -> Run:
        return run_for(self.dataset, **changes)

    def job(
        self, files: dict[str, bytes], job_id: str = "job_train01", level: SafetyLevel = SafetyLevel.L1
    ) -> JobRecord:
        return finished_job(self.platform, self.executor, files, job_id=job_id, level=level)

    def register(self, files: dict[str, bytes] | None = None, job_id: str = "job_train01") -> ModelVersion:
        job = self.job(files or outputs(self.run()), job_id)
        assert self.models.intake(job) is None
        (intake,) = self.models.intakes(ADA, job.id)
        assert intake.version is not None
        return self.models.get(ADA, intake.version)

    def release(self, model: ModelVersion, role: FileRole) -> None:
        f = model.role(role)
        self.releases.request(
            ADA, artifact=model_artifact(model.version, f.path), sha256=f.sha256, from_label=model.label,
            to_label=PUBLIC, evaluations=["licence-provenance"],  # what an L1 release needs
        )  # fmt: skip


@pytest.fixture
def world(platform: Platform, tmp_path: Path) -> World:
    return build_world(platform, tmp_path)


def build_world(platform: Platform, tmp_path: Path) -> World:
    """The model service as wired, over the platform's real stores, with the demo dataset imported."""
    members = FakeMembers(teams={"p1": {"ada"}}, labels={"p1": P1})
    artifacts = FakeArtifacts()
    releases = ReleaseService(
        platform.uow,
        policy=lambda: DEFAULT_POLICY,
        artifacts=ModelArtifacts(platform.uow, artifacts),
        members=members,
        motions=FakeMotions(),
    )
    executor = LocalExecutor(tmp_path / "jobs")
    blobs = BlobStore(platform.settings.data_dir / "registry")
    models = ModelService(
        platform.uow,
        blobs=blobs,
        datasets=StoredDatasets(platform.uow),
        readers={"local": executor},
        members=members,
        releases=releases,
        log=platform.log,
        jobs=platform.jobs,
    )
    dataset = import_dataset(platform, tmp_path / "import")
    return World(platform, executor, models, releases, dataset, blobs, artifacts)


def _events(platform: Platform, event_type: str) -> list[dict[str, Any]]:
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.entry).where(outbox.c.event_type == event_type)).scalars()
        return [json.loads(row)["data"] for row in rows]


def _count(platform: Platform, table: sa.Table) -> int:
    with platform.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_finished_training_job_becomes_a_model_version(world: World) -> None:
    files = outputs(world.run())
    model = world.register(files)
    assert (model.name, model.job_id, model.attempt, model.project) == ("tiny-lm", "job_train01", 0, "p1")
    assert model.label == P1  # the outputs' label, as the jobs side recorded it
    by_role = {f.role: f for f in model.files}
    assert set(by_role) == set(FileRole)
    for role, path in [(FileRole.WEIGHTS, "model.safetensors"), (FileRole.DATA_ORDER, "data-order.jsonl")]:
        assert by_role[role].sha256 == hashlib.sha256(files[path]).hexdigest()
        assert world.blobs.has(by_role[role].sha256)
    assert model.weights == WeightsSummary(tensors=2, parameters=136, dtypes=("BF16", "F32"))
    card = world.models.card
    with pytest.raises(Unavailable, match="not in the transparency log yet"):
        card(ADA, model.version)  # files are served once the log vouches for them
    world.platform.log.drain()
    text = card(ADA, model.version)
    assert text.startswith("---\nlicense:")
    assert model.version in text
    (logged,) = _logged(world.platform)
    assert logged["version"] == model.version
    assert logged["files"]["weights"] == {
        "sha256": by_role[FileRole.WEIGHTS].sha256,
        "size": len(files["model.safetensors"]),
    }
    assert "tiny-lm" not in json.dumps(logged)  # a job-chosen name stays off the public log
    checkpoints = world.models.checkpoints(ADA, model.version)
    assert [c.step for c in checkpoints] == [2, 4]
    digest = hashlib.sha256(files["checkpoints/step-000002/__0_0.distcp"]).hexdigest()
    assert digest in {f.sha256 for f in checkpoints[0].files}
    assert world.models.intake(world.job(files, "job_train02")) is None  # another job: another version
    assert world.models.intake(_job(world, "job_train01")) is None  # the same attempt: taken in once
    assert _count(world.platform, model_versions) == 2


def _logged(platform: Platform) -> list[dict[str, Any]]:
    entries = platform.log.entries(0, 1000)
    return [json.loads(e.data)["data"] for e in entries if e.event_type == "registry.model.registered"]


def _job(world: World, job_id: str) -> JobRecord:
    return world.platform.jobs.get(ADA, job_id)


def test_lineage_runs_from_the_shards_read_to_the_releases(world: World) -> None:
    short = world.run(steps=1, world_size=1, batch_size=2, checkpoints=())  # reads 2 samples: one shard
    model = world.register(outputs(short))
    lineage = world.models.lineage(ADA, model.version)
    (used,) = lineage.datasets
    assert (used.version, used.name) == (world.dataset.version, "demo")
    assert len(used.shards) == 1
    assert world.models.models_trained_on(world.dataset.version, list(used.shards)) == [model.version]
    unread = [i for i in range(len(world.dataset.shards)) if i not in used.shards]
    assert world.models.models_trained_on(world.dataset.version, unread) == []
    assert (lineage.releases, lineage.public) == ((), False)


def test_a_takedown_names_the_models_trained_on_an_affected_shard(world: World) -> None:
    model = world.register()  # four steps of six samples: an epoch and more, every shard
    origin = world.dataset.sources[0].origin  # through the platform's dataset service, as wired
    datasets = world.platform.datasets
    done = datasets.takedown(LOCAL_CONSOLE, "demo", reason="the publisher asked", origin=origin)
    assert model.version in done.affected_models


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f, r: _manifest(f, surprise=1), "unknown fields: 'surprise'"),
        (lambda f, r: _manifest(f, config_hash="0" * 64), "does not match its config"),
        (lambda f, r: _manifest(f, steps=True), "steps must be an integer"),
        (lambda f, r: _manifest(f, datasets=["ab" * 32]), "is not in the registry"),
        (lambda f, r: _manifest(f, weights="../../etc/passwd"), "relative path"),
        (lambda f, r: _manifest(f, weights="nothere.safetensors"), "not among the job's recorded outputs"),
        (lambda f, r: _swap_order_lines(f), "differs from the order"),
        (lambda f, r: _checkpoint(f, r, world_size=4), "its world_size is 4, the run's is 2"),
        (lambda f, r: _checkpoint(f, r, seed=8), "checkpoint: config.seed is 7, the run's seed is 8"),
        (lambda f, r: f | {"model.safetensors": f["model.safetensors"][:-4]}, "not a valid safetensors"),
        (lambda f, r: f | {"pnyx-model.json": b"{" * 70_000}, "limit is 65536"),
    ],
)
def test_a_bad_manifest_or_record_is_refused_and_registers_nothing(
    world: World, change: Any, message: str
) -> None:
    run = world.run()
    job = world.job(change(outputs(run), run))
    refusal = world.models.intake(job)
    assert refusal is not None
    assert message in refusal
    (intake,) = world.models.intakes(ADA, job.id)
    assert (intake.outcome, intake.version) == (IntakeOutcome.REFUSED, None)
    assert message in intake.reason
    assert _count(world.platform, model_versions) == 0
    assert _count(world.platform, model_files) == 0
    assert _events(world.platform, "registry.model.refused") == [
        {"job_id": job.id, "attempt": 0, "code": intake.code}
    ]
    assert world.models.intake(job) is None  # refused once; not reported again


def _manifest(files: dict[str, bytes], **changes: Any) -> dict[str, bytes]:
    found = json.loads(files["pnyx-model.json"])
    return files | {"pnyx-model.json": json.dumps(found | changes).encode()}


def _swap_order_lines(files: dict[str, bytes]) -> dict[str, bytes]:
    lines = files["data-order.jsonl"].splitlines(keepends=True)
    lines[2], lines[3] = lines[3], lines[2]
    return files | {"data-order.jsonl": b"".join(lines)}


def _checkpoint(files: dict[str, bytes], run: Run, **changes: Any) -> dict[str, bytes]:
    path = "checkpoints/step-000002/pnyx-checkpoint.json"
    return files | {path: json.dumps(json.loads(files[path]) | changes).encode()}


def test_outputs_changed_after_they_were_recorded_are_refused(world: World) -> None:
    job = world.job(outputs(world.run()))
    out = world.executor.layout.work(job.engine_job_id or "") / "outputs"
    data = (out / "data-order.jsonl").read_bytes()
    (out / "data-order.jsonl").write_bytes(data.replace(b'"step":0', b'"step":9'))
    refusal = world.models.intake(job)
    assert refusal is not None
    assert "outputs/data-order.jsonl hashes to" in refusal
    assert "was recorded" in refusal
    assert _count(world.platform, model_versions) == 0


def test_a_symlinked_output_is_refused(world: World, tmp_path: Path) -> None:
    job = world.job(outputs(world.run()))
    out = world.executor.layout.work(job.engine_job_id or "") / "outputs"
    secret = tmp_path / "secret"
    secret.write_bytes((out / "model.safetensors").read_bytes())  # same bytes: only the link is wrong
    (out / "model.safetensors").unlink()
    os.symlink(secret, out / "model.safetensors")
    refusal = world.models.intake(job)
    assert refusal is not None
    assert "symlinks are refused" in refusal
    assert _count(world.platform, model_versions) == 0


def test_reads_need_clearance_until_the_files_are_released(world: World) -> None:
    model = world.register()
    for who in (BOB, ANONYMOUS):
        with pytest.raises(NotFound) as hidden:  # as for a version that does not exist: no oracle
            world.models.get(who, model.version)
        assert hidden.value.message == f"no model version {model.version!r} that you may read"
        assert "L1" not in hidden.value.message
        assert world.models.search(who) == []
    world.release(model, FileRole.WEIGHTS)
    world.release(model, FileRole.CARD)
    with pytest.raises(NotFound):
        world.models.get(ANONYMOUS, model.version)  # the data-order record is not released yet
    world.release(model, FileRole.DATA_ORDER)
    assert world.models.get(ANONYMOUS, model.version) == model
    assert [m.version for m in world.models.search(BOB)] == [model.version]
    lineage = world.models.lineage(ANONYMOUS, model.version)
    assert lineage.public
    assert {r.path for r in lineage.releases} == {"model.safetensors", "README.md", "data-order.jsonl"}
    with pytest.raises(NotFound, match="no model version") as unknown:
        world.models.get(ANONYMOUS, "0" * 64)
    assert unknown.value.code == hidden.value.code == "model_version_not_found"


def test_releases_of_the_jobs_own_outputs_count_for_the_same_content(world: World) -> None:
    model = world.register()
    for role in (FileRole.WEIGHTS, FileRole.DATA_ORDER):
        f = model.role(role)
        output = f"{model.job_id}/{f.path}"
        world.artifacts.stored[output] = StoredArtifact(label=model.label, sha256=f.sha256, project="p1")
        world.releases.request(
            ADA, artifact=output, sha256=f.sha256, from_label=model.label, to_label=PUBLIC,
            evaluations=["licence-provenance"],
        )  # fmt: skip
    world.release(model, FileRole.CARD)  # the card is the registry's: released as the version's file
    assert world.models.is_public(model)


def test_staff_read_versions_at_l1_only(world: World) -> None:
    auditor = Principal(user_id=UserId("usr_aud"), name="aud", roles=frozenset({Role.AUDITOR}))
    model = world.register()
    assert world.models.get(auditor, model.version) == model
    job = world.job(outputs(world.run()), "job_secret", level=SafetyLevel.L2)
    assert world.models.intake(job) is None
    (intake,) = world.models.intakes(ADA, job.id)
    assert intake.version is not None
    for who in (auditor, ADA):  # ada holds p1's L1 clearance only
        with pytest.raises(NotFound, match="no model version"):
            world.models.get(who, intake.version)


def test_downloads_are_checked_against_the_logged_digest(world: World) -> None:
    model = world.register()
    world.platform.log.drain()
    weights = model.role(FileRole.WEIGHTS)
    served = world.models.open_file(ADA, model.version, "model.safetensors")
    assert served.file == weights
    (index,) = {f.log_index for f in world.models.files(ADA, model.version)}
    assert index == served.log_index
    served.path.chmod(0o600)
    served.path.write_bytes(served.path.read_bytes() + b"x")  # tampered on disk
    found = hashlib.sha256(served.path.read_bytes()).hexdigest()
    with pytest.raises(IntegrityFailure) as refused:
        world.models.open_file(ADA, model.version, "model.safetensors")
    assert f"model.safetensors of model version {model.version} hashes to {found}" in refused.value.message
    assert f"log entry {index} logs {weights.sha256}" in refused.value.message
    with world.platform.engine.begin() as conn:  # the database's record altered instead
        conn.execute(model_files.update().where(model_files.c.role == "card").values(sha256="ab" * 32))
    with pytest.raises(IntegrityFailure, match=r"README\.md of model version .* hashes to abab"):
        world.models.card(ADA, model.version)
    with pytest.raises(NotFound, match=r"has no file 'weights\.bin'"):
        world.models.open_file(ADA, model.version, "weights.bin")


def test_recovery_finds_recorded_outputs_not_taken_in(world: World) -> None:
    job = world.job(outputs(world.run()))
    other = world.job({"notes.txt": b"no model here"}, "job_other")
    since = job.ended_at
    assert since is not None
    assert [j.id for j in world.models.untaken(since=since, limit=10)] == [job.id]
    assert world.models.intake(other) is None  # nothing to take in: no intake recorded
    assert world.models.intake(job) is None
    assert world.models.untaken(since=since, limit=10) == []
    assert _count(world.platform, model_intakes) == 1


def test_the_card_names_the_licences_of_the_sources_with_samples_only(world: World) -> None:
    """The demo's news source opts out of AI use: every sample of it is left out of the version, so
    a model trained on the version owes it nothing and its card does not name its licence."""
    assert {t.source for t in world.dataset.tombstones} == {"news"}
    assert "LicenseRef-news-syndication" in {s.licence for s in world.dataset.sources}
    model = world.register()
    world.platform.log.drain()
    text = world.models.card(ADA, model.version)
    (row,) = [line for line in text.splitlines() if line.startswith(f"| `demo` | `{world.dataset.version}`")]
    assert row.endswith("| Apache-2.0 OR MIT, CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0 |")
    assert "news-syndication" not in text
