"""The standalone auditor against a real log (issue 14): real dispatch cycles over a fake engine write
decision records; the bundle, run as ``python -I -S pnyx-audit.pyz`` (no Pnyx, no site-packages),
replays them from a directory of the log's tiles and over HTTP in agreement (exit 0). A record altered
in a log signed anew (a lying operator) is named at its index (exit 1); an entry altered under the
signed checkpoint fails the log's own verification (exit 1). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pnyx.audit import bundle
from pnyx.audit.replay import CYCLE
from pnyx.cli.main import app
from pnyx.core.canonical import canonical_json
from pnyx.core.clock import FrozenClock
from pnyx.dispatch.decision_log import DecisionRecorder
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.fake import FakeExecutor
from pnyx.jobs.rules import to_scheduler_job
from pnyx.jobs.service import JobService, Submission
from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.model import PriorityClass
from pnyx.scheduler.policy import policy_named
from pnyx.transparency import merkle, tiles
from pnyx.transparency.checkpoint import Checkpoint
from pnyx.transparency.cosignature import generate_cosigner
from pnyx.transparency.note import NoteSigner
from pnyx.wiring import Platform
from tests.conftest import LiveServer
from tests.dispatch.conftest import ADA, FakeProjects
from tests.dispatch.test_dispatch_states import two_nodes
from tests.unit.audit.test_bundle import isolated


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "pnyx-audit.pyz"
    bundle.write(bundle.plan(), out)
    return out


@pytest.fixture
def logged(platform: Platform, clock: FrozenClock, tmp_path: Path) -> list[bytes]:
    """A few real dispatch cycles (starts, a preemption, finishes), their records in the log."""
    topology, engine = two_nodes(), FakeExecutor(clock)
    jobs = JobService(
        platform.uow,
        projects=FakeProjects(),
        fits=lambda record: check_fits(to_scheduler_job(record), topology),
        executors={"fake": engine},
        default_engine="fake",
    )
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=lambda: topology,
        executors={"fake": engine},
        shares=lambda _at: {"DE": Decimal(2), "FR": Decimal(1)},
        clock=clock,
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "lock"),
        decisions=DecisionRecorder(platform.uow),
    )

    def submit(accelerators: int, cls: PriorityClass = PriorityClass.ENTITLED) -> str:
        made = Submission(
            name="d",
            project="open-llm",
            accelerators=accelerators,
            estimate_s=600,
            command=("t",),
            priority_class=cls,
        )
        return jobs.submit(ADA, made).id

    try:
        low = [submit(8, PriorityClass.PREEMPTIBLE) for _ in range(2)]
        dispatcher.cycle()
        clock.advance(timedelta(seconds=30))
        submit(8)  # preempts one of them
        dispatcher.cycle()
        for key in [k for k in engine.states if k.startswith(tuple(low))]:
            engine.finish(key)
        clock.advance(timedelta(seconds=30))
        submit(4)
        submit(4)
        dispatcher.cycle()
    finally:
        dispatcher.close()
    platform.log.drain()
    size = platform.log.size()
    return [
        e.data for start in range(0, size, 1000) for e in platform.log.entries(start, min(1000, size - start))
    ]


def _served(platform: Platform, root: Path) -> Path:
    """The log's own tiles and checkpoint, as its server serves them, in a directory."""
    size = platform.log.size()
    (root / "checkpoint").parent.mkdir(parents=True, exist_ok=True)
    (root / "checkpoint").write_text(platform.log.checkpoint().note)
    for level in [None, *tiles.tile_levels(size)]:
        for ref in tiles.tiles_for_size(level, size):
            _put(root / "tile" / ref.path, platform.log.tile(ref.path))
    return root


def _written(entries: Sequence[bytes], signer: NoteSigner, root: Path) -> Path:
    """A consistent log of ``entries`` signed by ``signer``: what an operator holding the key can make."""
    size, nodes = len(entries), [merkle.leaf_hash(e) for e in entries]
    for ref in tiles.tiles_for_size(None, size):
        start, end = tiles.tile_entry_range(ref)
        _put(root / "tile" / ref.path, b"".join(len(e).to_bytes(2, "big") + e for e in entries[start:end]))
    for level in tiles.tile_levels(size):
        if level:
            nodes = [
                merkle.root_from_leaf_hashes(nodes[i : i + 256]) for i in range(0, len(nodes) - 255, 256)
            ]
        for ref in tiles.tiles_for_size(level, size):
            _put(root / "tile" / ref.path, b"".join(nodes[ref.index * 256 : ref.index * 256 + ref.count]))
    root_hash = merkle.root_from_leaf_hashes([merkle.leaf_hash(e) for e in entries])
    (root / "checkpoint").write_text(
        signer.sign(Checkpoint(origin=signer.name, size=size, root=root_hash).body())
    )
    return root


def _put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _first_record(entries: Sequence[bytes]) -> tuple[int, dict[str, Any]]:
    return next((i, json.loads(e)) for i, e in enumerate(entries) if json.loads(e)["type"] == CYCLE)


def test_the_bundle_replays_a_real_log_in_agreement(
    pyz: Path, platform: Platform, logged: list[bytes], tmp_path: Path
) -> None:
    assert platform.log.signer is not None
    key = tmp_path / "log.vkey"
    key.write_text(platform.log.signer.vkey + "\n")
    ran = isolated(str(pyz), str(_served(platform, tmp_path / "log")), "--key", str(key))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    records = sum(json.loads(e)["type"] == CYCLE for e in logged)
    assert f"OK: {records} decision records in {len(logged)} entries" in ran.stdout
    assert "in agreement" in ran.stdout
    assert "DE:" in ran.stdout


def test_the_bundle_replays_over_http(
    pyz: Path, platform: Platform, logged: list[bytes], live_server: LiveServer
) -> None:
    assert platform.log.signer is not None
    ran = isolated(str(pyz), f"{live_server.url}/log", "--key", platform.log.signer.vkey)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "in agreement" in ran.stdout


def test_an_altered_record_is_named_at_its_index(
    pyz: Path, platform: Platform, logged: list[bytes], tmp_path: Path
) -> None:
    assert platform.log.signer is not None
    index, entry = _first_record(logged)
    start = entry["data"]["body"]["starts"][0]
    entry["data"]["body"]["starts"][0][2] = [1 - start[2][0]]  # the other node than the scheduler chose
    lied = [*logged[:index], canonical_json(entry), *logged[index + 1 :]]
    ran = isolated(
        str(pyz),
        str(_written(lied, platform.log.signer, tmp_path / "lie")),
        "--key",
        platform.log.signer.vkey,
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert f"✗ index {index}: record 1: starts of job {start[0]}" in ran.stderr
    assert f"first at index {index}" in ran.stderr
    honest = isolated(
        str(pyz),
        str(_written(logged, platform.log.signer, tmp_path / "true")),
        "--key",
        platform.log.signer.vkey,
    )
    assert honest.returncode == 0, honest.stdout + honest.stderr  # the writer itself is faithful


def test_an_entry_altered_under_the_signature_fails_the_log(
    pyz: Path, platform: Platform, logged: list[bytes], tmp_path: Path
) -> None:
    assert platform.log.signer is not None
    root = _served(platform, tmp_path / "log")
    index, entry = _first_record(logged)
    assert entry["data"]["seq"] == 1
    altered = logged[index].replace(b'"seq":1', b'"seq":2')  # the same length: the bundle still parses
    bundle_path = root / "tile" / next(tiles.tiles_for_size(None, len(logged))).path
    bundle_path.write_bytes(bundle_path.read_bytes().replace(logged[index], altered))
    ran = isolated(str(pyz), str(root), "--key", platform.log.signer.vkey)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert f"✗ index {index}: tile 0/000" in ran.stderr
    assert "the log itself does not verify; nothing replayed" in ran.stderr


def test_witness_cosignatures_are_checked_without_cryptography(
    pyz: Path, platform: Platform, logged: list[bytes], tmp_path: Path
) -> None:
    assert platform.log.signer is not None
    root = _written(logged, platform.log.signer, tmp_path / "log")
    witness, stranger = generate_cosigner("w1.example"), generate_cosigner("w2.example")
    note = (root / "checkpoint").read_text()
    (root / "checkpoint").write_text(note + witness.cosign(note[: note.rindex("\n\n") + 1], 1_700_000_000))
    key = platform.log.signer.vkey
    cosigned = isolated(str(pyz), str(root), "--key", key, "--witness", witness.verifier.vkey)
    assert cosigned.returncode == 0, cosigned.stdout + cosigned.stderr
    absent = isolated(str(pyz), str(root), "--key", key, "--witness", stranger.verifier.vkey)
    assert absent.returncode == 1
    assert (
        "only 0 of the 1 required witnesses cosigned the checkpoint (not cosigned by: w2.example)"
        in absent.stderr
    )


def test_the_bundle_and_the_cli_print_the_same_windows_and_take_the_same_fairness_flags(
    pyz: Path, platform: Platform, logged: list[bytes], tmp_path: Path
) -> None:
    assert platform.log.signer is not None
    root, key = str(_served(platform, tmp_path / "log")), platform.log.signer.vkey
    flags = ["--window", "3600", "--max-share-gap", "100"]  # 100 points under: nothing is a finding
    ran = isolated(str(pyz), root, "--key", key, *flags)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    windows = [line for line in ran.stdout.splitlines() if line.startswith("  20")]
    assert "per window (UTC): member use / entitlement, * waiting throughout" in ran.stdout
    assert windows
    assert all(": DE " in line or " DE " in line for line in windows)
    cli = CliRunner().invoke(app, ["audit", "replay", root, "--key", key, *flags], env={"COLUMNS": "300"})
    assert cli.exit_code == 0, cli.output
    assert [line for line in cli.output.splitlines() if line.startswith("  20")] == windows
    refused = isolated(str(pyz), root, "--key", key, "--window", "0")
    assert refused.returncode == 2
    assert "--window 0.0 must be more than 0 seconds" in refused.stderr
