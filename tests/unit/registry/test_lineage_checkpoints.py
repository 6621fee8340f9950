"""Pure checks on checkpoints registered while their job runs, and on what the job's end must agree
with; the digest over a checkpoint's files that its public log entry carries."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnyx.core.errors import InvalidInput
from pnyx.registry.lineage_checkpoints import (
    CheckpointKey,
    check_running,
    check_same_run,
    check_unchanged,
    marker_of,
    step_dir,
)
from pnyx.registry.lineage_events import checkpoint_registered, files_digest
from pnyx.registry.lineage_model import Checkpoint, CheckpointFile, CheckpointManifest, CheckpointRef
from pnyx.registry.lineage_rules import parse_manifest
from tests.unit.registry.lineage_outputs import Run, manifest

DATASET = "d" * 64
CONFIG = "c" * 64
WHEN = datetime(2026, 11, 25, 9, tzinfo=UTC)


def _file(path: str, data: bytes = b"x") -> CheckpointFile:
    return CheckpointFile(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def _files(step: int) -> tuple[CheckpointFile, ...]:
    d = step_dir(step)
    return (_file(f"{d}/.metadata"), _file(f"{d}/__0_0.distcp", b"shard"), _file(f"{d}/pnyx-checkpoint.json"))


def _marker(step: int = 2, **changes: object) -> CheckpointManifest:
    found = CheckpointManifest(step=step, config_hash=CONFIG, dataset=DATASET, seed=7, world_size=2)
    return dataclasses.replace(found, **changes)  # type: ignore[arg-type]


def _checkpoint(step: int, files: tuple[CheckpointFile, ...] | None = None) -> Checkpoint:
    return Checkpoint(
        job_id="job_1", attempt=0, step=step, dir=step_dir(step), config_hash=CONFIG,
        files=_files(step) if files is None else files, recorded_at=WHEN, dataset=DATASET,
    )  # fmt: skip


def test_the_marker_is_found_among_the_files_of_the_steps_directory() -> None:
    assert marker_of(2, _files(2)).path == "checkpoints/step-000002/pnyx-checkpoint.json"
    with pytest.raises(InvalidInput, match=r"has no readable pnyx-checkpoint\.json"):
        marker_of(2, _files(2)[:2])
    with pytest.raises(InvalidInput, match="is not under checkpoints/step-000002/"):
        marker_of(2, (*_files(2), _file("checkpoints/step-000003/x")))
    big = CheckpointFile(path=f"{step_dir(2)}/pnyx-checkpoint.json", sha256="0" * 64, size=65537)
    with pytest.raises(InvalidInput, match="65537 bytes; the limit is 65536"):
        marker_of(2, (big,))


def test_a_running_checkpoint_is_of_its_directory_step_and_of_the_attempts_first() -> None:
    first = [CheckpointKey(step=2, config_hash=CONFIG, dataset=DATASET)]
    given = {DATASET}
    check_running(2, _marker(), [], inputs=given)
    check_running(4, _marker(4), first, inputs=given)
    with pytest.raises(InvalidInput, match="its step is 3, its directory's is 4") as step:
        check_running(4, _marker(3), first, inputs=given)
    assert step.value.code == "config_mismatch"
    with pytest.raises(InvalidInput, match=f"its config_hash is {'e' * 64}, step 2's"):
        check_running(4, _marker(4, config_hash="e" * 64), first, inputs=given)
    with pytest.raises(InvalidInput, match=f"its dataset is {'e' * 64}, step 2's"):
        check_running(4, _marker(4, dataset="e" * 64), first, inputs=given)
    for other in ({"f" * 64}, set()):  # a job given no dataset registers no checkpoint of one
        with pytest.raises(InvalidInput, match="is not among the job's inputs"):
            check_running(2, _marker(), [], inputs=other)


def test_at_the_end_a_checkpoint_registered_while_running_must_be_unchanged() -> None:
    registered = _checkpoint(2)
    check_unchanged(registered, CheckpointRef(step=2, dir=step_dir(2)), _files(2))
    rewritten = (*_files(2)[:1], _file(f"{step_dir(2)}/__0_0.distcp", b"other"), _files(2)[2])
    with pytest.raises(InvalidInput, match=r"__0_0\.distcp was 5 bytes with SHA-256") as exc:
        check_unchanged(registered, CheckpointRef(step=2, dir=step_dir(2)), rewritten)
    assert exc.value.code == "checkpoint_rewritten"
    assert "registered while the job ran at 2026-11-25T09:00:00+00:00" in exc.value.message
    check_unchanged(registered, CheckpointRef(step=2, dir=step_dir(2)), _files(2)[1:])  # not recorded now
    with pytest.raises(InvalidInput, match="added was absent then"):
        check_unchanged(
            registered, CheckpointRef(step=2, dir=step_dir(2)), (*_files(2), _file(f"{step_dir(2)}/added"))
        )
    with pytest.raises(
        InvalidInput, match="listed as ckpt/two, it was registered as checkpoints/step-000002"
    ):
        check_unchanged(registered, CheckpointRef(step=2, dir="ckpt/two"), _files(2))


def test_every_checkpoint_of_the_attempt_is_of_the_manifests_run() -> None:
    run = Run(dataset=DATASET, sizes=(5, 3, 4))
    parsed = parse_manifest(json.dumps(manifest(run)).encode())
    same = dataclasses.replace(_checkpoint(2), config_hash=run.config_hash)
    check_same_run(parsed, [same, dataclasses.replace(same, step=4, dataset="")])  # "" : before 0017
    with pytest.raises(InvalidInput, match=r"its config_hash is c+, the manifest's"):
        check_same_run(parsed, [_checkpoint(2)])
    with pytest.raises(InvalidInput, match=r"its dataset is e+, the manifest's"):
        check_same_run(parsed, [dataclasses.replace(same, dataset="e" * 64)])


def test_the_logged_entry_carries_counts_and_one_digest_never_a_name() -> None:
    event = checkpoint_registered(_checkpoint(2))
    payload = event.payload()
    assert payload == {
        "job_id": "job_1", "attempt": 0, "step": 2, "config_hash": CONFIG, "dataset": DATASET,
        "files": 3, "bytes": 7, "files_sha256": files_digest(_files(2)),
    }  # fmt: skip
    assert "distcp" not in json.dumps(payload)


@given(st.permutations(list(_files(2))))
def test_the_files_digest_is_of_the_set_not_the_order(files: list[CheckpointFile]) -> None:
    assert files_digest(files) == files_digest(_files(2))


def test_the_files_digest_changes_with_any_file() -> None:
    base = files_digest(_files(2))
    changed = [dataclasses.replace(_files(2)[0], size=2), *_files(2)[1:]]
    renamed = [dataclasses.replace(_files(2)[0], path="checkpoints/step-000002/.meta"), *_files(2)[1:]]
    assert len({base, files_digest(changed), files_digest(renamed), files_digest(_files(2)[1:])}) == 4
