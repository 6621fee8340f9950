"""`pnyx call|proposal|review|award` against a real database (both backends)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.allocation.model import CallMode
from pnyx.cli.main import app
from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Conflict, InvalidInput
from pnyx.wiring import Platform
from tests.unit.allocation.allocation_builders import SCORES, World, form, timeline

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PNYX_DATABASE_URL": database_url,
        "PNYX_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
        "PNYX_LOG_KEY_FILE": str(tmp_path / "log.key"),
    }


def invoke(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


CALL = [
    "--mode", "benchmark", "--budget", "30000",
    "--opens", "2020-01-01", "--closes", "2020-02-01", "--review-deadline", "2020-03-01",
    "--decision", "2020-03-15", "--starts", "2020-04-01", "--ends", "2099-04-01",
]  # fmt: skip


def test_call_to_award(env: dict[str, str], tmp_path: Path) -> None:
    invoke(env, "user", "add", "ada", "--role", "researcher", "--member-state", "NL")
    invoke(env, "user", "add", "rev", "--role", "reviewer")
    invoke(
        env,
        "review",
        "reviewer-add",
        "rev",
        "--institution",
        "KTH",
        "--expertise",
        "llm",
        "--coauthor",
        "X Y:2019",
    )
    out = invoke(env, "call", "create", "Benchmark access", *CALL)
    call_id = re.search(r"call (call_\w+)", out).group(1)  # type: ignore[union-attr]
    assert "draft" in invoke(env, "call", "list")
    invoke(env, "call", "open", call_id)
    path = tmp_path / "proposal.json"
    path.write_text(json.dumps(form(requested_hours={"H100": 20000})))
    out = invoke(env, "proposal", "create", call_id, str(path), "--as", "ada")
    proposal_id = re.search(r"proposal (prop_\w+)", out).group(1)  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="closed"):  # the call closed in 2020: too late
        invoke(env, "proposal", "submit", proposal_id, "--as", "ada")
    assert "draft" in invoke(env, "proposal", "list")


def test_full_cycle(env: dict[str, str], tmp_path: Path) -> None:
    invoke(env, "user", "add", "ada", "--role", "researcher", "--member-state", "NL")
    invoke(env, "user", "add", "rev", "--role", "reviewer")
    invoke(env, "review", "reviewer-add", "rev", "--institution", "KTH", "--expertise", "llm")
    dates = ["--opens", "2020-01-01", "--closes", "2099-02-01", "--review-deadline", "2099-03-01",
             "--decision", "2099-03-15", "--starts", "2099-04-01", "--ends", "2100-04-01"]  # fmt: skip
    out = invoke(env, "call", "create", "Dev access", "--mode", "development", "--budget", "30000", *dates)
    call_id = re.search(r"call (call_\w+)", out).group(1)  # type: ignore[union-attr]
    invoke(env, "call", "open", call_id)
    path = tmp_path / "proposal.json"
    path.write_text(json.dumps(form(requested_hours={"H100": 20000})))
    out = invoke(env, "proposal", "create", call_id, str(path), "--as", "ada")
    proposal_id = re.search(r"proposal (prop_\w+)", out).group(1)  # type: ignore[union-attr]
    assert "submitted" in invoke(env, "proposal", "submit", proposal_id, "--as", "ada")
    with pytest.raises(Conflict, match="open until"):
        invoke(env, "call", "close", call_id)
    assert "reviewer" in invoke(env, "review", "conflicts", proposal_id)  # a table, with no rows


def test_review_and_award(env: dict[str, str], platform: Platform, clock: FrozenClock) -> None:
    """The submission happens in the past through the service (the CLI runs on the wall clock)."""
    w = World(platform)
    w.user("ada", ["researcher"])
    w.reviewer("rev", institution="KTH", expertise=["llm"])
    start = datetime.now(UTC) - timedelta(days=40)
    clock.current = start
    call = w.call(mode=CallMode.BENCHMARK, budget=30_000, timeline=timeline(start))
    platform.allocation.open_call(call.id)
    p = w.propose(call, "ada", requested_hours={"H100": 20000})
    platform.allocation.submit(p.id, by=w["ada"])
    platform.engine.dispose()

    assert "closed" in invoke(env, "call", "close", call.id)
    assert "1 assignments" in invoke(env, "call", "review", call.id)
    assert "technical" in invoke(env, "review", "assignments", "--as", "rev")
    with pytest.raises(InvalidInput, match="0 to 5"):
        invoke(env, "review", "submit", p.id, "--as", "rev", "--comments", "x",
               *[a for c in SCORES["technical"] for a in ("--score", f"{c}=9")])  # fmt: skip
    scores = [a for c in SCORES["technical"] for a in ("--score", f"{c}=4")]
    assert "recorded" in invoke(env, "review", "submit", p.id, "--as", "rev", "--comments", "fine", *scores)
    assert "reply recorded" in invoke(env, "proposal", "reply", p.id, "thanks", "--as", "ada")
    assert "4.00" in invoke(env, "call", "rank", call.id)
    with pytest.raises(InvalidInput, match="from 1 to its request"):
        invoke(env, "call", "decide", call.id, "--grant", f"{p.id}=40000")
    out = invoke(env, "call", "decide", call.id)
    assert "1 awards" in out
    assert "prj_" in invoke(env, "award", "list")
    assert "100.0%" in invoke(env, "award", "active", "--at", (start + timedelta(days=100)).isoformat())
