"""The dataset service on both databases: imports into content-addressed shards, reads by clearance,
opt-outs and takedowns, verification; a refused import registers nothing."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Conflict, FacilityError, Forbidden, IntegrityFailure, InvalidInput, NotFound
from pnyx.core.ids import UserId
from pnyx.db.engine import create_engine
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import ANONYMOUS, Principal, Role
from pnyx.registry import rules, shards
from pnyx.registry.blobs import BlobStore, file_sha256
from pnyx.registry.model import MANIFEST_NAME, VersionStatus
from pnyx.registry.samples import write_samples
from pnyx.registry.service import DatasetService
from pnyx.safety.model import Label, SafetyLevel

PROJECT_LABEL = Label(level=SafetyLevel.L2, categories=frozenset({"project:p1"}))


def person(name: str, *roles: Role) -> Principal:
    return Principal(user_id=UserId(f"u-{name}"), name=name, roles=frozenset(roles))


OPERATOR = person("olga", Role.OPERATOR)
OFFICER = person("sofia", Role.SAFETY_OFFICER)
ALICE = person("alice", Role.RESEARCHER)  # a member of p1
BOB = person("bob", Role.RESEARCHER)  # a member of nothing


class Members:
    def member_clearance(self, principal: Principal, project_id: str) -> Label | None:
        return PROJECT_LABEL if (principal.name, project_id) == ("alice", "p1") else None


class Lineage:
    """Model versions trained on every shard of every version (records what it was asked)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, tuple[int, ...]]] = []

    def models_trained_on(self, version: str, shards: Sequence[int]) -> list[str]:
        self.asked.append((version, tuple(shards)))
        return [f"model-{version[:8]}-{s}" for s in shards]


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    built = create_engine(database_url)
    yield built
    built.dispose()


@pytest.fixture
def lineage() -> Lineage:
    return Lineage()


@pytest.fixture
def service(engine: sa.Engine, clock: FrozenClock, tmp_path: Path, lineage: Lineage) -> DatasetService:
    blobs = BlobStore(tmp_path / "registry")
    return DatasetService(
        UnitOfWork(engine=engine, clock=clock), blobs, projects=Members(), trained_on=lineage
    )


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    write_samples(tmp_path / "demo", per_source=2)
    return tmp_path / "demo"


def rows(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def events(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = [
            json.loads(r) for r in conn.execute(sa.text("SELECT entry FROM outbox ORDER BY id")).scalars()
        ]
    return [e for e in found if e["type"].startswith("registry.dataset.")]


def test_an_import_registers_a_version_named_by_its_merkle_root(
    service: DatasetService, demo: Path, engine: sa.Engine
) -> None:
    done = service.import_directory(OPERATOR, demo, name="demo", shard_samples=3)
    v = done.version
    assert done.created
    assert v.version == rules.version_id([s.sha256 for s in v.shards])
    assert (v.samples, len(v.shards), [s.samples for s in v.shards]) == (
        8,
        3,
        [3, 3, 2],
    )  # news opted out, dup once
    assert done.left_out == 2
    assert {t.source for t in v.tombstones} == {"news"}
    assert all(t.request == "import" and "tdm-reservation=1" in t.reason for t in v.tombstones)
    assert v.label == Label(level=SafetyLevel.L1)
    assert v.status is VersionStatus.CURRENT
    directory = service.version_dir(ANONYMOUS, v.version)
    assert sorted(p.name for p in directory.iterdir()) == [MANIFEST_NAME, *(s.name for s in v.shards)]
    manifest = (directory / MANIFEST_NAME).read_bytes()
    assert manifest == rules.manifest("demo", v.version, v.shards) == service.manifest(ANONYMOUS, v.version)
    assert [file_sha256(directory / s.name) for s in v.shards] == [s.sha256 for s in v.shards]
    [created] = events(engine)
    assert created["type"] == "registry.dataset.version_created"
    assert created["data"] | {"by": "olga"} == created["data"]
    assert created["data"]["version"] == v.version
    assert created["data"]["licences"] == ["Apache-2.0 OR MIT", "CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0"]
    assert (created["data"]["samples"], created["data"]["tombstones"]) == (8, 2)
    assert created["data"]["manifest_sha256"] == v.manifest_sha256


def test_the_same_samples_give_the_same_version(service: DatasetService, demo: Path, tmp_path: Path) -> None:
    first = service.import_directory(OPERATOR, demo, name="demo", shard_samples=3).version
    copy = tmp_path / "copy"
    shutil.copytree(demo, copy)
    os.rename(copy / "code" / "code-000.py", copy / "code" / "renamed.py")  # names do not matter
    again = service.import_directory(OPERATOR, copy, name="demo", shard_samples=3)
    assert (again.created, again.version.version) == (False, first.version)
    other = DatasetService(service.uow, BlobStore(tmp_path / "elsewhere"), projects=Members())
    assert (
        other.import_directory(OPERATOR, copy, name="demo", shard_samples=3).version.version == first.version
    )
    with pytest.raises(Conflict, match="registered already under another dataset name") as info:
        service.import_directory(OPERATOR, copy, name="other", shard_samples=3)
    assert (info.value.field, info.value.code) == ("name", "samples_registered")
    assert first.version not in info.value.message
    assert "demo" not in info.value.message
    assert (
        service.import_directory(OPERATOR, demo, name="demo", shard_samples=4).version.version
        != first.version
    )


def break_licence(demo: Path) -> None:
    data = json.loads((demo / "sources.json").read_text())
    del data["code"]["licence"]
    (demo / "sources.json").write_text(json.dumps(data))


def unknown_licence(demo: Path) -> None:
    data = json.loads((demo / "sources.json").read_text())
    data["audio"]["licence"] = "Proprietary-1.0"
    (demo / "sources.json").write_text(json.dumps(data))


def symlink(demo: Path) -> None:
    (demo / "code" / "link.py").symlink_to(demo / "code" / "code-000.py")


def bad_image(demo: Path) -> None:
    (demo / "images" / "bad.pgm").write_bytes(b"P5\n9 9\n255\n")


def stray(demo: Path) -> None:
    (demo / "unlisted").mkdir()
    (demo / "unlisted" / "a.txt").write_text("who collected this?")


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (break_licence, "sources.json:code.licence"),
        (unknown_licence, "sources.json:audio.licence"),
        (symlink, "code/link.py"),
        (bad_image, "images/bad.pgm"),
        (stray, "unlisted"),
    ],
)
def test_a_bad_import_registers_nothing(
    service: DatasetService, demo: Path, engine: sa.Engine, spoil: Any, field: str
) -> None:
    spoil(demo)
    with pytest.raises(InvalidInput) as info:
        service.import_directory(OPERATOR, demo, name="demo")
    assert info.value.field == field
    assert [rows(engine, t) for t in ("datasets", "dataset_versions", "dataset_samples")] == [0, 0, 0]
    assert events(engine) == []


def test_a_directory_with_only_opted_out_samples_is_refused(service: DatasetService, tmp_path: Path) -> None:
    (tmp_path / "in" / "news").mkdir(parents=True)
    (tmp_path / "in" / "news" / "a.txt").write_text("reserved")
    sources = {"news": {"licence": "MIT", "origin": "https://news.example/", "opt_out": ["robots:noai"]}}
    (tmp_path / "in" / "sources.json").write_text(json.dumps(sources))
    with pytest.raises(InvalidInput, match="no sample to import"):
        service.import_directory(OPERATOR, tmp_path / "in", name="demo")


def test_who_imports_what_under_which_label(service: DatasetService, demo: Path) -> None:
    with pytest.raises(Forbidden, match="operator"):
        service.import_directory(ALICE, demo, name="public")
    with pytest.raises(Forbidden, match="only members of project p1"):
        service.import_directory(OPERATOR, demo, name="mine", project="p1")
    mine = service.import_directory(ALICE, demo, name="mine", project="p1").version
    assert (mine.label, mine.project) == (PROJECT_LABEL, "p1")
    for outsider in (ANONYMOUS, BOB):
        with pytest.raises(NotFound):
            service.version(outsider, mine.version)
        assert service.versions(outsider) == []
    assert service.version(ALICE, mine.version) == mine
    with pytest.raises(NotFound):  # staff read a project's datasets at L1 only
        service.version(OFFICER, mine.version)
    with pytest.raises(Conflict, match="name mine is taken") as info:  # whose, it does not say
        service.import_directory(OPERATOR, demo, name="mine")
    assert "p1" not in info.value.message
    assert info.value.field == "name"
    assert service.check_import(ALICE, name="mine", project="p1") == PROJECT_LABEL  # hers
    with pytest.raises(Conflict, match="name mine is taken"):  # checked before any upload is read
        service.check_import(OPERATOR, name="mine", project=None)
    with pytest.raises(Forbidden):
        service.check_import(BOB, name="mine", project="p1")


def test_a_second_import_supersedes_the_first(service: DatasetService, demo: Path) -> None:
    first = service.import_directory(OPERATOR, demo, name="demo", shard_samples=3).version
    (demo / "encyclopedia" / "new.txt").write_text("A new article.\n")
    second = service.import_directory(OPERATOR, demo, name="demo", shard_samples=3).version
    assert second.parent == first.version
    assert service.version(ANONYMOUS, first.version).status is VersionStatus.SUPERSEDED
    assert [v.version for v in service.versions(ANONYMOUS)] == [second.version]
    assert len(service.versions(ANONYMOUS, current_only=False)) == 2
    service.version_dir(ANONYMOUS, first.version)  # a superseded version is still usable


def test_a_takedown_by_origin_makes_a_new_version_and_withdraws_the_old(
    service: DatasetService, demo: Path, engine: sa.Engine, lineage: Lineage
) -> None:
    old = service.import_directory(OPERATOR, demo, name="demo", shard_samples=3).version
    opted_out = {t.sample_sha256 for t in old.tombstones}
    with service.uow.read() as conn:
        query = "SELECT DISTINCT shard FROM dataset_samples WHERE version = :v AND source = 'images'"
        image_shards = tuple(sorted(conn.execute(sa.text(query), {"v": old.version}).scalars()))
    done = service.takedown(OFFICER, "demo", reason="rights holder request", origin="https://images.example/")
    assert (done.from_version, done.removed) == (old.version, 2)
    assert done.to_version is not None
    new = service.version(ANONYMOUS, done.to_version)
    assert (new.parent, new.samples, new.status) == (old.version, 6, VersionStatus.CURRENT)
    taken = [t for t in new.tombstones if t.request == done.id]
    assert [(t.source, t.reason) for t in taken] == [("images", "takedown: rights holder request")] * 2
    assert opted_out <= {t.sample_sha256 for t in new.tombstones}  # the opt-outs stay listed
    withdrawn = service.version(ANONYMOUS, old.version)
    assert (withdrawn.status, withdrawn.successor) == (VersionStatus.WITHDRAWN, new.version)
    assert done.withdrawn == (old.version,)
    assert lineage.asked == [(old.version, image_shards)]
    assert done.affected_models == tuple(sorted(f"model-{old.version[:8]}-{s}" for s in image_shards))
    with pytest.raises(Conflict, match=f"withdrawn by a takedown.*successor is {new.version}"):
        service.version_dir(ANONYMOUS, old.version)
    with pytest.raises(Conflict, match="withdrawn"):
        service.shard(ANONYMOUS, old.version, 0)
    applied = [e for e in events(engine) if e["type"] == "registry.dataset.takedown_applied"]
    assert applied[0]["data"]["affected_models"] == list(done.affected_models)
    assert (applied[0]["data"]["request_id"], applied[0]["data"]["by_origin"]) == (done.id, True)
    assert service.takedowns(ANONYMOUS, "demo") == [done]
    again = service.import_directory(OPERATOR, demo, name="demo", shard_samples=3)  # images stay out
    assert again.version.version == new.version


def test_a_takedown_by_hash_and_one_that_leaves_nothing(service: DatasetService, demo: Path) -> None:
    old = service.import_directory(ALICE, demo, name="mine", project="p1", shard_samples=100).version
    with service.uow.read() as conn:
        held = [
            r[0]
            for r in conn.execute(
                sa.text(f"SELECT sha256 FROM dataset_samples WHERE version = '{old.version}'")
            )
        ]
    done = service.takedown(ALICE, "mine", reason="my mistake", samples=[held[0]])
    assert done.removed == 1
    assert done.to_version is not None
    rest = service.version(ALICE, done.to_version)
    assert (rest.samples, rest.label, rest.project) == (7, PROJECT_LABEL, "p1")
    for staff in (OPERATOR, OFFICER):  # an L2 project dataset they may not see: as unknown
        with pytest.raises(NotFound, match="no dataset 'mine' that you may see"):
            service.takedown(staff, "mine", reason="probe", samples=held[1:2])
    last = service.takedown(ALICE, "mine", reason="all of it", samples=held[1:])
    assert (last.to_version, last.removed) == (None, 7)
    with pytest.raises(Conflict, match="no current version left"):
        service.takedown(ALICE, "mine", reason="again", samples=held[:1])


def test_takedowns_are_checked(service: DatasetService, demo: Path, engine: sa.Engine) -> None:
    service.import_directory(OPERATOR, demo, name="demo")
    before = rows(engine, "dataset_versions")
    for who, error in ((BOB, Forbidden), (ALICE, Forbidden), (ANONYMOUS, FacilityError)):
        with pytest.raises(error):
            service.takedown(who, "demo", reason="no", origin="https://images.example/")
    with pytest.raises(InvalidInput, match="matches the request") as info:
        service.takedown(OPERATOR, "demo", reason="no", origin="https://nowhere.example/")
    assert info.value.field == "origin"
    with pytest.raises(NotFound):
        service.takedown(OPERATOR, "nothing", reason="no", origin="https://images.example/")
    with pytest.raises(InvalidInput):
        service.takedown(OPERATOR, "demo", reason=" ", origin="https://images.example/")
    assert rows(engine, "dataset_versions") == before
    assert rows(engine, "dataset_takedowns") == 0


def test_verify_and_serving_catch_a_tampered_shard(service: DatasetService, demo: Path) -> None:
    v = service.import_directory(OPERATOR, demo, name="demo", shard_samples=3).version
    assert service.verify(v.version).shards == 3
    served = service.shard(ANONYMOUS, v.version, 1)
    assert file_sha256(served.path) == v.shards[1].sha256
    served.path.write_bytes(b"tampered")
    with pytest.raises(
        IntegrityFailure, match=f"shard 1 \\(shard-000001.tar\\) of version {v.version} hashes to"
    ):
        service.verify(v.version)
    with pytest.raises(IntegrityFailure, match="but its manifest says"):
        service.shard(ANONYMOUS, v.version, 1)
    with pytest.raises(NotFound) as info:
        service.shard(ANONYMOUS, v.version, 3)
    assert info.value.field == "index"
    with pytest.raises(NotFound):
        service.verify("0" * 64)
    with pytest.raises(InvalidInput):
        service.version(ANONYMOUS, "not-a-version")


def test_a_takedown_that_undoes_an_import_reinstates_the_version_before_it(
    service: DatasetService, demo: Path, engine: sa.Engine
) -> None:
    first = service.import_directory(OPERATOR, demo, name="demo", shard_samples=3).version
    (demo / "encyclopedia" / "late.txt").write_text("Added later, then taken down.\n")
    second = service.import_directory(OPERATOR, demo, name="demo", shard_samples=3).version
    late = rules.deduplicate([f.sample for f in scan_one(demo, "encyclopedia/late.txt")])[0].sha256
    done = service.takedown(OPERATOR, "demo", reason="posted by mistake", samples=[late])
    assert (done.from_version, done.to_version, done.withdrawn) == (
        second.version,
        first.version,
        (second.version,),
    )
    back = service.version(ANONYMOUS, first.version)
    assert back.status is VersionStatus.CURRENT
    assert [t.request for t in back.tombstones if t.sample_sha256 == late] == [done.id]
    assert [v.version for v in service.versions(ANONYMOUS)] == [first.version]
    assert service.version(ANONYMOUS, second.version).status is VersionStatus.WITHDRAWN
    assert rows(engine, "dataset_versions") == 2


def scan_one(directory: Path, name: str) -> list[shards.Found]:
    return [f for f in shards.scan(directory, shards.read_sources(directory)) if f.path == directory / name]
