"""The standalone auditor's bundle (issue 14): its module list is the import graph, copied byte for
byte (so the scheduler version inside is this installation's); a third-party import fails the build;
under ``python -I -S`` it runs with the standard library alone and verifies in pure Python."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pnyx.audit import bundle, standalone
from pnyx.audit.version import scheduler_version
from pnyx.cli.main import app


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "pnyx-audit.pyz"
    bundle.write(bundle.plan(), out)
    return out


def isolated(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -I -S ARGS``: no site-packages, no PYTHONPATH, no user site: the standard library."""
    return subprocess.run(
        [sys.executable, "-I", "-S", *args], check=False, capture_output=True, text=True, timeout=120
    )


def test_the_modules_are_the_import_graph_copied_byte_for_byte(pyz: Path) -> None:
    made = bundle.plan()
    assert {"pnyx.audit.standalone", "pnyx.audit.replay", "pnyx.audit.rerun", "pnyx.audit.entries"} <= set(
        made.modules
    )
    assert {"pnyx.transparency.monitor", "pnyx.transparency.ed25519_verify", "rfc8785._impl"} <= set(
        made.modules
    )
    assert set(bundle.version_modules(Path(bundle.__file__).parents[1])) <= set(made.modules)
    assert not any(m.startswith(("pnyx.cli", "pnyx.db", "pnyx.dispatch", "pnyx.api")) for m in made.modules)
    with zipfile.ZipFile(pyz) as archive:
        assert sorted(archive.namelist()) == sorted([*made.files, "__main__.py"])
        for arcname, path in made.files.items():
            assert archive.read(arcname) == path.read_bytes(), arcname
        assert b"Apache License" in archive.read("rfc8785/LICENSE")
    assert [v.split()[0] for v in made.vendored] == ["rfc8785"]


def test_the_bundle_is_reproducible(pyz: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.pyz"
    bundle.write(bundle.plan(), again)
    assert again.read_bytes() == pyz.read_bytes()
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")


def test_the_scheduler_version_inside_is_the_installations(pyz: Path) -> None:
    ran = isolated(str(pyz), "--version")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == f"scheduler {scheduler_version()}"


def test_inside_there_is_no_third_party_code_and_the_verifier_is_pure(pyz: Path) -> None:
    probe = (
        f"import sys; sys.path.insert(0, {str(pyz)!r})\n"
        "from importlib.util import find_spec\n"
        "from pnyx.transparency import ed25519\n"
        "print(find_spec('cryptography'), find_spec('pnyx').origin, ed25519.verify.__module__)\n"
    )
    ran = isolated("-c", probe)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["None", f"{pyz}/pnyx/__init__.py", "pnyx.transparency.ed25519_verify"]


def test_bad_arguments_exit_as_the_cli_does(pyz: Path, tmp_path: Path) -> None:
    assert isolated(str(pyz), str(tmp_path)).returncode == 2  # --key missing (argparse)
    bad_key = isolated(str(pyz), str(tmp_path), "--key", "nonsense")
    assert bad_key.returncode == 2
    assert "error (note_invalid_key)" in bad_key.stderr
    unreachable = isolated(str(pyz), "http://127.0.0.1:9/log", "--key", _a_vkey())
    assert unreachable.returncode == 6, unreachable.stderr
    neither = isolated(str(pyz), "ftp://x/log", "--key", _a_vkey())
    assert neither.returncode == 2
    assert "neither a directory" in neither.stderr


def _a_vkey() -> str:
    from pnyx.transparency.note import generate_signer

    return generate_signer("log.example")[1]


# --- the build refuses what it cannot carry ------------------------------------------------------------


def _tree(tmp_path: Path, modules: dict[str, str]) -> Path:
    root = tmp_path / "pnyx"
    for name, text in {"__init__": "", **modules}.items():
        path = root.joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_third_party_import_fails_the_build_naming_it(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"a": "from pnyx import b\n", "b": "import json\n\ndef f():\n    import numpy\n"})
    with pytest.raises(bundle.NotStandalone, match=r"pnyx\.b imports numpy: not the standard library"):
        bundle.plan({"pnyx": root}, entries=("pnyx.a",))


def test_an_optional_package_only_behind_a_guard(tmp_path: Path) -> None:
    guarded = "import importlib.util\nif importlib.util.find_spec('cryptography'):\n    import cryptography\n"
    root = _tree(tmp_path, {"ok": guarded, "bare": "import cryptography\n"})
    assert bundle.plan({"pnyx": root}, entries=("pnyx.ok",)).modules == ("pnyx", "pnyx.ok")
    with pytest.raises(bundle.NotStandalone, match="optional package imported unconditionally"):
        bundle.plan({"pnyx": root}, entries=("pnyx.bare",))


def test_relative_and_from_imports_are_followed(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "p.__init__": "from . import q\nfrom .q import NAME\n",
            "p.q": "from ..r import thing\nNAME = 1\n",
            "r": "thing = 2\n",
        },
    )
    assert bundle.plan({"pnyx": root}, entries=("pnyx.p",)).modules == (
        "pnyx",
        "pnyx.p",
        "pnyx.p.q",
        "pnyx.r",
    )


def test_pnyx_audit_bundle_writes_an_executable_auditor(tmp_path: Path) -> None:
    out = tmp_path / "auditor.pyz"
    result = CliRunner().invoke(app, ["audit", "bundle", "--out", str(out)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"modules copied byte for byte, sha256 {digest}" in result.output
    assert f"scheduler version {scheduler_version()}" in result.output
    assert "vendored: rfc8785" in result.output
    assert out.stat().st_mode & 0o100


def test_progress_counts_records_and_entries() -> None:
    stream = io.StringIO()
    progress = standalone.Progress(stream, every_s=0.0)
    record: dict[str, Any] = {"type": "scheduler.cycle.decided", "data": {"part": 1}}
    entries: list[tuple[int, dict[str, Any]]] = [
        (0, {"type": "x"}),
        (1, record),
        (2, {**record, "data": {"part": 2}}),
        (3, record),
    ]
    assert list(progress.entries(entries, 4)) == entries
    progress.tiles(3, 7)
    assert stream.getvalue().splitlines() == [
        "replaying: 0 decision records, entry 1 of 4",
        "replaying: 1 decision records, entry 2 of 4",
        "replaying: 1 decision records, entry 3 of 4",
        "replaying: 2 decision records, entry 4 of 4",
        "verifying the log: 3 of 7 tiles",
    ]
    quiet = io.StringIO()
    list(standalone.Progress(quiet, every_s=3600.0).entries(entries, 4))
    assert quiet.getvalue() == ""


def test_more_witnesses_demanded_than_given_is_bad_input(pyz: Path, tmp_path: Path) -> None:
    ran = isolated(str(pyz), str(tmp_path), "--key", _a_vkey(), "--min-witnesses", "1")
    assert ran.returncode == 2
    assert "error (invalid_input): --min-witnesses 1 must be in 0..0" in ran.stderr
