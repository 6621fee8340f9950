"""`pnyx council` and `pnyx policy` against a real database (both backends), and the offline tally."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli.main import app, run
from pnyx.core.errors import Conflict, InvalidInput

runner = CliRunner()
EXAMPLES = Path(__file__).parents[2] / "examples" / "council"


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"PNYX_DATABASE_URL": database_url, "PNYX_DATA_DIR": str(tmp_path), "COLUMNS": "200"}


def invoke(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_offline_tally_of_the_examples(tmp_path: Path) -> None:
    env = {"COLUMNS": "200", "PNYX_DATA_DIR": str(tmp_path)}
    out = invoke(
        env, "council", "tally", str(EXAMPLES / "eu-council.toml"), str(EXAMPLES / "eu27-ballots.json")
    )
    assert "ADOPTED" in out
    assert "deemed met" in out
    out = invoke(
        env, "council", "tally", str(EXAMPLES / "cern.toml"), str(EXAMPLES / "cern-ballots.json"), "--json"
    )
    outcome = json.loads(out)
    assert outcome["adopted"] is True
    assert "BG" in outcome["without_vote"]
    out = invoke(
        env,
        "council",
        "tally",
        str(EXAMPLES / "cern.toml"),
        str(EXAMPLES / "cern-ballots.json"),
        "--decision-type",
        "unanimity",
    )
    assert "REJECTED" in out


def test_offline_tally_refuses_malformed_files(tmp_path: Path) -> None:
    env = {"COLUMNS": "200"}
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[decision_types.t]\nmajorities = [{ name = "s", threshold = "most" }]\n')
    with pytest.raises(InvalidInput) as info:
        invoke(env, "council", "tally", str(bad), str(EXAMPLES / "cern-ballots.json"))
    assert info.value.field == "decision_types.t.majorities[0].threshold"
    with pytest.raises(InvalidInput, match="unknown decision type"):
        invoke(
            env, "council", "tally", str(EXAMPLES / "eu-council.toml"), str(EXAMPLES / "cern-ballots.json")
        )
    with pytest.raises(InvalidInput, match="no file"):
        invoke(env, "council", "tally", str(EXAMPLES / "cern.toml"), str(tmp_path / "missing.json"))


def test_council_workflow(env: dict[str, str], tmp_path: Path) -> None:
    for code, contribution in (("DE", "3"), ("FR", "2"), ("NL", "1")):
        invoke(env, "member-state", "add", code, code, "--contribution", contribution, "--population", "10")
        invoke(env, "user", "add", f"del{code.lower()}", "--role", "delegate", "--member-state", code)
    assert "CERN Council" in invoke(env, "council", "rules", "--install", str(EXAMPLES / "cern.toml"))
    effect = json.dumps({"type": "set_member_shares", "shares": {"DE": "0.5", "FR": "0.25", "NL": "0.25"}})
    out = invoke(
        env,
        "council",
        "table",
        "--title",
        "Shares",
        "--text",
        "Fix the shares.",
        "--effect",
        effect,
        "--as",
        "delnl",
    )
    motion = out.split()[1].rstrip(":")
    invoke(env, "council", "comment", motion, "Seconded.", "--as", "delfr")
    assert "voting open" in invoke(env, "council", "open", motion)
    invoke(env, "council", "vote", motion, "yes", "--as", "delnl")
    invoke(env, "council", "vote", motion, "no", "--as", "delfr")
    with pytest.raises(Conflict, match="change the ballot"):
        invoke(env, "council", "vote", motion, "yes", "--as", "delfr")
    invoke(env, "council", "vote", motion, "yes", "--as", "delfr", "--change")
    assert "ADOPTED" in invoke(env, "council", "close", motion)
    assert "adopted" in invoke(env, "council", "list")
    assert "FR: yes" in invoke(env, "council", "show", motion)
    out = invoke(env, "policy", "show")
    assert "50.000%" in out
    assert "entitlements v1" in out
    invoke(env, "council", "export", motion, str(tmp_path / "check"))
    out = invoke(
        env,
        "council",
        "tally",
        str(tmp_path / "check" / "rules.json"),
        str(tmp_path / "check" / "ballots.json"),
    )
    assert "ADOPTED" in out
    assert "paid 100" in invoke(
        env, "council", "contribution", "DE", "2025", "--cash", "300", "--paid", "100"
    )
    assert "suspended" in invoke(env, "council", "status", "NL", "suspended", "--reason", "arrears")


def fail_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str
) -> str:
    """Run `pnyx ARGS` as the console script does; it must exit 2 with one line on stderr."""
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("PNYX_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["pnyx", *args])
    with pytest.raises(SystemExit) as info:
        run()
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


HUGE = "1" + "0" * 5000  # past Python's 4300-digit limit on converting text to int


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b'{"members": [{"code": "DE"}, {"code": "FR"}], "ballots": {"DE": "yes", "DE": "no"}}',
            "'DE' twice",
        ),
        (b'{"members": [{"code": "DE"}, {"code": "DE"}]}', "listed twice"),
        (b'\xff\xfe{\x00"\x00m\x00', "not UTF-8"),
        (f'{{"members": [{{"code": "DE", "contribution": {HUGE}}}]}}'.encode(), "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_tally_refuses_a_bad_ballots_file_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: bytes,
    message: str,
) -> None:
    ballots = tmp_path / "ballots.json"
    ballots.write_bytes(content)
    err = fail_line(
        monkeypatch, capsys, tmp_path, "council", "tally", str(EXAMPLES / "cern.toml"), str(ballots)
    )
    assert err.startswith("error (invalid_input):")
    assert message in err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("rules.toml", f"name = {HUGE}\n".encode(), "not valid TOML"),
        ("rules.json", f'{{"name": {HUGE}}}'.encode(), "not valid JSON"),
        ("rules.toml", b"name = '\xff'\n", "not UTF-8"),
        (
            "rules.json",
            b'{"name": "r", "decision_types": {"t": {"majorities": '
            b'[{"name": "s", "threshold": {"fraction": "1e-100000000"}}]}}}',
            "expected a number",
        ),
    ],
)
def test_tally_refuses_a_bad_rule_file_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    content: bytes,
    message: str,
) -> None:
    rules = tmp_path / name
    rules.write_bytes(content)
    ballots = str(EXAMPLES / "cern-ballots.json")
    err = fail_line(monkeypatch, capsys, tmp_path, "council", "tally", str(rules), ballots)
    assert message in err


def test_table_refuses_an_effect_that_is_not_json_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, database_url: str
) -> None:
    monkeypatch.setenv("PNYX_DATABASE_URL", database_url)
    effect = tmp_path / "effect.json"
    effect.write_text(f'{{"type": "set_call_budget", "accelerator_hours": {HUGE}}}')
    args = ("council", "table", "--title", "t", "--text", "x", "--effect", f"@{effect}")
    assert "not valid JSON" in fail_line(monkeypatch, capsys, tmp_path, *args)
    assert "not valid JSON" in fail_line(monkeypatch, capsys, tmp_path, *args[:-1], "{not json")
