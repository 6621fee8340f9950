"""The rough edges a new user hit on the command line: a busy port, lost demo tokens, a second empty
database made from another directory, `inventory generate --out`, `log verify`'s error, help texts,
and piped output cut at 80 columns."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli.context import PIPED_WIDTH, console
from pnyx.cli.main import app
from pnyx.cli.serve import check_port
from pnyx.core.errors import Conflict, NotFound, Unavailable
from pnyx.settings import Settings, source_checkout

runner = CliRunner()
PNYX = Path(sys.executable).with_name("pnyx")


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


def pnyx(data_dir: Path, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """The installed command, with nothing of the caller's PNYX_ settings but the data directory."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PNYX_", "COLUMNS"))}
    done = subprocess.run(
        [str(PNYX), *args],
        check=False,
        env=clean | {"PNYX_DATA_DIR": str(data_dir), "PNYX_LOG_KEY_FILE": str(data_dir / "log.key")},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )
    return done.returncode, done.stdout, " ".join(done.stderr.split())


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_taken_port_is_refused_before_serving_is_announced(tmp_path: Path, busy_port: int) -> None:
    with pytest.raises(Conflict, match=rf"port {busy_port} on 127.0.0.1 is taken.*PNYX_PORT={busy_port + 1}"):
        check_port("127.0.0.1", busy_port)
    assert pnyx(tmp_path, "db", "upgrade")[0] == 0
    code, out, err = pnyx(tmp_path, "serve", "--port", str(busy_port))
    assert code == 5
    assert "serving" not in out
    assert f"error (port_in_use): port {busy_port} on 127.0.0.1 is taken" in err
    assert f"PNYX_PORT={busy_port + 1} make run, or pnyx serve --port {busy_port + 1}" in err


def test_a_free_port_passes_the_check() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    check_port("127.0.0.1", free)  # nothing raised, and nothing left bound
    check_port("127.0.0.1", free)


def test_demo_prints_roles_with_tokens_then_how_to_mint_new_ones(env: dict[str, str]) -> None:
    invoke(env, "log", "keygen")
    first = invoke(env, "demo", "--accelerators", "2048")
    lines = {line.split()[0]: line for line in first.splitlines() if "pnyx_" in line}
    assert "operator" in lines["olga"]
    assert "researcher (DE)" in lines["ada"]
    assert "safety-officer" in lines["sam"]
    assert "delegate (DE)" in lines["del-de"]
    again = invoke(env, "demo", "--accelerators", "2048")
    assert "nothing seeded" in again
    assert "pnyx_" not in again  # only hashes are stored: nothing to show again
    assert any(line.split()[:2] == ["ada", "researcher"] for line in again.splitlines())
    assert "pnyx token create NAME" in again
    assert "pnyx token redeem" in again


def test_the_data_dir_is_resolved_once_to_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = source_checkout()
    assert checkout is not None
    assert (checkout / "src" / "pnyx" / "settings.py").is_file()
    assert Settings.from_env({}).data_dir == checkout / "var"
    assert Settings.from_env({}).database_url == f"sqlite:///{checkout / 'var' / 'pnyx.db'}"
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"PNYX_DATA_DIR": "state"}).data_dir == tmp_path / "state"
    monkeypatch.setattr("pnyx.settings.source_checkout", lambda: None)  # an installed wheel
    assert Settings.from_env({"XDG_DATA_HOME": str(tmp_path / "xdg")}).data_dir == tmp_path / "xdg" / "pnyx"


def test_only_db_upgrade_creates_the_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in (["user", "list"], ["db", "current"], ["serve"], ["demo"]):
        code, _out, err = pnyx(data, *command, cwd=elsewhere)
        assert code == 6, command
        assert f"no database at {data / 'pnyx.db'}: run `pnyx db upgrade` (or set PNYX_DATA_DIR)" in err
        assert "Traceback" not in err
    assert not data.exists()
    assert list(elsewhere.iterdir()) == []  # no var/ made where the command ran
    assert pnyx(data, "db", "upgrade", cwd=elsewhere)[0] == 0
    assert (data / "pnyx.db").is_file()
    assert pnyx(data, "user", "list", cwd=elsewhere)[0] == 0


def test_generate_out_alone_only_writes_the_file(env: dict[str, str], tmp_path: Path) -> None:
    out = invoke(env, "inventory", "generate", "-n", "64", "--out", str(tmp_path / "a.json"))
    assert "written to" in out
    assert "stored inventory is unchanged" in out
    assert json.loads((tmp_path / "a.json").read_text())["nodes"]
    with pytest.raises(NotFound):  # exported, not stored
        invoke(env, "inventory", "show")
    invoke(env, "inventory", "generate", "-n", "4096")
    out = invoke(env, "inventory", "generate", "-n", "128", "--out", str(tmp_path / "b.json"))
    assert "128 accelerators" in out
    assert "4,096 accelerators" in invoke(env, "inventory", "show")  # nothing replaced
    with pytest.raises(Conflict, match="--replace"):
        invoke(env, "inventory", "generate", "-n", "128")
    invoke(env, "inventory", "generate", "-n", "256", "--replace", "--out", str(tmp_path / "c.json"))
    assert "256 accelerators" in invoke(env, "inventory", "show")
    assert (tmp_path / "c.json").is_file()


class NoKeyHere(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, *_args: object) -> None:
        pass


def test_log_verify_names_the_url_it_asked(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NoKeyHere)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/log"
        result = runner.invoke(app, ["log", "verify", url, "--state", str(tmp_path / "m.json")])
    finally:
        server.shutdown()
        server.server_close()
    assert isinstance(result.exception, Unavailable)
    assert f"the log publishes none at {url}/key (HTTP 404)" in result.exception.message
    assert "<url>" not in result.exception.message


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("show", "Show a job: its state"),
        ("logs", "Print the last lines of a job's log"),
        ("cancel", "Cancel a job"),
    ],
)
def test_job_commands_have_help(command: str, says: str) -> None:
    out = invoke({}, "job", command, "--help")
    assert says in out
    assert "Act as this user" in out


def test_flags_are_shown_as_flags() -> None:
    out = invoke({"COLUMNS": "200"}, "inventory", "generate", "--help")
    assert "--replace " in out
    assert "<bool>" not in out
    assert "<bool>" not in invoke({}, "job", "show", "--help")  # --help itself


def test_piped_output_is_not_cut_at_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert not sys.stdout.isatty()
    assert console().width == PIPED_WIDTH
    monkeypatch.setenv("COLUMNS", "100")
    assert console().width == 100
    assert pnyx(tmp_path, "db", "upgrade")[0] == 0
    name = "a-researcher-with-a-long-name"
    assert pnyx(tmp_path, "user", "add", name, "--role", "researcher")[0] == 0
    code, out, _err = pnyx(tmp_path, "user", "list")  # stdout is a pipe here
    assert code == 0
    row = next(line for line in out.splitlines() if name in line)
    assert len(row) > 80  # the table's natural width, on one line: not folded at 80
    assert "researcher " in row.replace(name, "")
