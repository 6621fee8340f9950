"""`pnyx inventory import` and `pnyx db upgrade` say what is wrong in one line (no engine needed here;
the imports from the real engines are in tests/engines/test_inventory_import.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUN = "import sys; sys.modules['psycopg'] = None; from pnyx.cli.main import run; run()"


def pnyx(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PNYX_")}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("pnyx")), *args],
        check=False,
        env=clean | {"PNYX_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, " ".join(done.stderr.split())


def test_import_names_what_is_missing(tmp_path: Path) -> None:
    assert pnyx(tmp_path, "db", "upgrade")[0] == 0
    code, stderr = pnyx(tmp_path, "inventory", "import", "--from", "lsf")
    assert (code, stderr) == (2, "error (invalid_input): --from is one of slurm, ray, kubernetes, got 'lsf'")
    code, stderr = pnyx(tmp_path, "inventory", "import", "--from", "slurm")
    assert code == 2
    assert "slurm is not configured: give it a slurm section in PNYX_ENGINES_FILE" in stderr
    (tmp_path / "engines.toml").write_text(
        '[slurm]\nurl = "http://127.0.0.1:1"\n[slurm.partitions]\nopen = 1\n'
    )
    code, stderr = pnyx(
        tmp_path, "inventory", "import", "--from", "slurm", PNYX_ENGINES_FILE=str(tmp_path / "engines.toml")
    )
    assert code == 6
    assert "error (engine_unavailable): slurmrestd at http://127.0.0.1:1 unreachable" in stderr
    assert "Traceback" not in stderr


def test_a_bad_engines_file_stops_every_command(tmp_path: Path) -> None:
    (tmp_path / "engines.toml").write_text("[slurm]\ngress = 1\n")
    code, stderr = pnyx(tmp_path, "db", "current", PNYX_ENGINES_FILE=str(tmp_path / "engines.toml"))
    assert code == 2
    assert "the slurm section has unknown settings ['gress']" in stderr


def test_postgresql_without_its_driver_says_what_to_install(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PNYX_")}
    done = subprocess.run(
        [sys.executable, "-c", RUN, "db", "upgrade"],
        check=False,
        env=clean
        | {"PNYX_DATA_DIR": str(tmp_path), "PNYX_DATABASE_URL": "postgresql://pnyx@db.invalid/pnyx"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    stderr = " ".join(done.stderr.split())
    assert done.returncode == 6
    assert "error (database_driver_missing)" in stderr
    assert "pip install psycopg psycopg-binary" in stderr
    assert "Traceback" not in stderr
