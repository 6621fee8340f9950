"""`pnyx log verify URL`: an independent monitor over real HTTP that names the first bad index."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.transparency.note import NoteSigner, generate_signer
from pnyx.transparency.store import log_checkpoints, log_entries, log_nodes, log_state
from pnyx.wiring import Platform
from tests.conftest import LiveServer

runner = CliRunner()


def _seed(platform: Platform, n: int) -> None:
    for i in range(n):
        platform.identity.register_user(name=f"citizen{i:04d}", roles=["researcher"])
    platform.log.drain(batch=97)


def _verify(server: LiveServer, state: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["log", "verify", f"{server.url}/log", "--state", str(state), *extra], env={"COLUMNS": "300"}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_verifies_and_pins_then_extends(platform: Platform, live_server: LiveServer, tmp_path: Path) -> None:
    _seed(platform, 600)
    state = tmp_path / "monitor.json"
    assert platform.log.signer is not None
    code, out = _verify(live_server, state, "--key", platform.log.signer.vkey)
    assert code == 0, out
    assert "600 entries" in out
    for i in range(5):
        platform.identity.register_user(name=f"late{i}", roles=["auditor"])
    platform.log.drain()
    code, out = _verify(live_server, state)
    assert code == 0, out
    assert "extends the 600-entry checkpoint" in out


@pytest.mark.parametrize("index", [0, 5, 257, 599])
def test_tampered_entry_is_named(
    platform: Platform, live_server: LiveServer, tmp_path: Path, index: int
) -> None:
    _seed(platform, 600)
    with platform.engine.begin() as conn:
        conn.execute(log_entries.update().where(log_entries.c.idx == index).values(data=b'{"forged":true}'))
    code, out = _verify(live_server, tmp_path / "m.json")
    assert code == 1
    assert f"first bad index {index}" in out


def test_tampered_hash_is_named(platform: Platform, live_server: LiveServer, tmp_path: Path) -> None:
    _seed(platform, 300)
    with platform.engine.begin() as conn:
        conn.execute(
            log_nodes.update().where(log_nodes.c.level == 0, log_nodes.c.idx == 42).values(hash=b"\x01" * 32)
        )
    code, out = _verify(live_server, tmp_path / "m.json")
    assert code == 1
    assert "first bad index 42" in out


def test_rewritten_history_is_caught(platform: Platform, live_server: LiveServer, tmp_path: Path) -> None:
    """Even an operator holding the key cannot swap history under a monitor that saw it before."""
    _seed(platform, 20)
    state = tmp_path / "m.json"
    assert _verify(live_server, state)[0] == 0
    with platform.engine.begin() as conn:
        for table in (log_entries, log_nodes, log_checkpoints, log_state):
            conn.execute(table.delete())
    for i in range(25):
        platform.identity.register_user(name=f"forger{i}", roles=["researcher"])
    platform.log.drain()  # a fresh, perfectly signed, different log
    code, out = _verify(live_server, state)
    assert code == 1
    assert "history was rewritten" in out


def test_wrong_key_is_refused(platform: Platform, live_server: LiveServer, tmp_path: Path) -> None:
    _seed(platform, 3)
    _skey, vkey = generate_signer(NoteSigner.from_skey(generate_signer("other")[0]).name)
    result = runner.invoke(
        app, ["log", "verify", f"{live_server.url}/log", "--state", str(tmp_path / "m"), "--key", vkey]
    )
    assert result.exit_code != 0
    assert not (tmp_path / "m").exists()


def test_row_count_untouched_by_verify(platform: Platform, live_server: LiveServer, tmp_path: Path) -> None:
    _seed(platform, 10)
    _verify(live_server, tmp_path / "m.json")
    with platform.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(log_entries)).scalar_one() == 10
