"""One typed settings object, read once from the environment at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnyx.core.errors import InvalidInput
from pnyx.executors.engine_settings import load_engine_sections
from pnyx.executors.local_runtime import runtime_setting
from pnyx.executors.sandbox import LocalSettings, Runtime, positive_count
from pnyx.transparency.cosignature import CosignatureVerifier

DEFAULT_JOB_ROOT = "/var/tmp/pnyx-jobs"  # noqa: S108 - outside the data dir; checked and 0711 at use


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    data_dir: Path
    database_url: str
    log_origin: str
    log_key_file: Path
    host: str = "127.0.0.1"
    port: int = 8000
    executor: str = "local"
    log_append_interval_s: float = 0.5
    dispatch: bool = True  # run the dispatch loop inside the server
    local_executor: bool = True  # run jobs as local processes, each in a bubblewrap sandbox
    job_root: Path = Path(DEFAULT_JOB_ROOT)  # the local jobs' state and work dirs; never in data_dir
    sandbox: bool = True  # PNYX_SANDBOX=off: unsandboxed, L1 only, a warning at every start (development)
    job_uids: tuple[int, int] = (1_500_000_000, 65_536)  # first uid, count: one uid per running local job
    local: LocalSettings = field(default_factory=LocalSettings)  # PNYX_LOCAL_*, PNYX_JOB_RETENTION_S
    # (PNYX_LOCAL_RUNTIME: off | server | DIR[:DIR...], executors/local_runtime.py)
    # the engines (Slurm, Ray, Kubernetes): PNYX_ENGINES_FILE's sections, the environment on top
    # (PNYX_SLURM_URL/_USER/_TOKEN/_WORKDIR/_LOGDIR, PNYX_RAY_URL, PNYX_KUBECONFIG); each executor
    # reads its own section (executors/engine_settings.py). No section: no such executor.
    engines: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    max_body_bytes: int = 1024 * 1024  # larger request bodies are refused (413) before they are parsed
    public_url: str = ""  # PNYX_PUBLIC_URL: the API's public address in registry metadata (not the Host)
    registry_project_bytes: int = 10 * 1024**3  # PNYX_REGISTRY_PROJECT_BYTES: dataset bytes per project
    # PNYX_WITNESSES: URL=VKEY,... (c2sp.org/tlog-witness); PNYX_WITNESS_QUORUM: cosignatures a checkpoint
    # needs before it is served (default 1 with witnesses; docs/transparency.md)
    witnesses: tuple[tuple[str, str], ...] = ()
    witness_quorum: int = 0
    workspace_object_bytes: int = 64 * 1024**3  # PNYX_WORKSPACE_OBJECT_BYTES: one SME object's ciphertext

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = resolve_data_dir(env)
        database_url = env.get("PNYX_DATABASE_URL") or f"sqlite:///{data_dir / 'pnyx.db'}"
        log_key_file = Path(env.get("PNYX_LOG_KEY_FILE", str(data_dir / "log-signing.key")))
        job_root = _job_root(env.get("PNYX_JOB_ROOT", DEFAULT_JOB_ROOT), data_dir)
        hidden = {"the data directory": data_dir, "the job root": job_root, "the log key": log_key_file}
        return cls(
            data_dir=data_dir,
            database_url=normalise_database_url(database_url),
            log_origin=env.get("PNYX_LOG_ORIGIN", "pnyx.example/log"),
            log_key_file=log_key_file,
            host=env.get("PNYX_HOST", "127.0.0.1"),
            port=_port(env.get("PNYX_PORT", "8000")),
            executor=env.get("PNYX_EXECUTOR", "local"),
            dispatch=_flag(env.get("PNYX_DISPATCH", "1"), "PNYX_DISPATCH"),
            local_executor=_flag(env.get("PNYX_LOCAL_EXECUTOR", "1"), "PNYX_LOCAL_EXECUTOR"),
            job_root=job_root,
            sandbox=_flag(env.get("PNYX_SANDBOX", "on"), "PNYX_SANDBOX"),
            job_uids=_uid_range(env.get("PNYX_JOB_UIDS", "1500000000-1500065535")),
            local=LocalSettings.from_env(env, _runtime(env, hidden)),
            engines=load_engine_sections(env, _engine_defaults(data_dir)),
            max_body_bytes=positive_count(env.get("PNYX_MAX_BODY_BYTES", "1048576"), "PNYX_MAX_BODY_BYTES"),
            public_url=_public_url(env.get("PNYX_PUBLIC_URL", "")),
            registry_project_bytes=positive_count(
                env.get("PNYX_REGISTRY_PROJECT_BYTES", str(10 * 1024**3)), "PNYX_REGISTRY_PROJECT_BYTES"
            ),
            **_witness_settings(env.get("PNYX_WITNESSES", ""), env.get("PNYX_WITNESS_QUORUM")),
            workspace_object_bytes=positive_count(
                env.get("PNYX_WORKSPACE_OBJECT_BYTES", str(64 * 1024**3)), "PNYX_WORKSPACE_OBJECT_BYTES"
            ),
        )


def resolve_data_dir(env: Mapping[str, str]) -> Path:
    """Where the database and the log key live, resolved once to an absolute path, so that every
    command finds the same one from any directory: PNYX_DATA_DIR (relative to the working directory);
    unset, the source checkout's ``var/`` (an editable install), else ``$XDG_DATA_HOME/pnyx``."""
    if given := env.get("PNYX_DATA_DIR"):
        return Path(given).expanduser().resolve()
    if (checkout := source_checkout()) is not None:
        return checkout / "var"
    share = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return (Path(share).expanduser() / "pnyx").resolve()


def source_checkout() -> Path | None:
    """The repository this package runs from (src/pnyx beside a pyproject.toml), if it runs from one."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "pnyx").is_dir() else None


def _public_url(text: str) -> str:
    """An http(s) URL without a trailing slash; empty: http://PNYX_HOST:PNYX_PORT is used."""
    if text and not (text.startswith(("http://", "https://")) and text.isprintable() and " " not in text):
        raise InvalidInput(
            f"PNYX_PUBLIC_URL must be an http:// or https:// URL, got {text!r}", field="PNYX_PUBLIC_URL"
        )
    return text.rstrip("/")


def _witness_settings(text: str, quorum: str | None) -> dict[str, Any]:
    """PNYX_WITNESSES (URL=VKEY, comma-separated) and PNYX_WITNESS_QUORUM (0..their number)."""
    pairs = tuple(
        (url.strip(), vkey.strip()) for url, _, vkey in (w.partition("=") for w in text.split(",") if w)
    )
    for url, vkey in pairs:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"PNYX_WITNESSES: {url!r} is not an http(s) URL", field="PNYX_WITNESSES")
        CosignatureVerifier.from_vkey(vkey)  # a cosignature/v1 verifier key, or InvalidKey
    needed = (1 if pairs else 0) if quorum is None else quorum
    if not str(needed).isdigit() or int(needed) > len(pairs):
        raise InvalidInput(
            f"PNYX_WITNESS_QUORUM must be 0..{len(pairs)} (the number of witnesses), got {needed!r}",
            field="PNYX_WITNESS_QUORUM",
        )
    return {"witnesses": pairs, "witness_quorum": int(needed)}


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings and pick the driver we ship (psycopg 3 for PostgreSQL)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("sqlite:", "postgresql+psycopg:")):
        return url
    raise InvalidInput(
        f"PNYX_DATABASE_URL must be sqlite:///PATH or postgresql://..., got {url.split(':', 1)[0]}:...",
        field="PNYX_DATABASE_URL",
    )


def _engine_defaults(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Where Slurm jobs start and write their output, unless the engines file says."""
    return {"slurm": {"working_directory": str(data_dir / "slurm"), "log_directory": str(data_dir / "slurm")}}


def _runtime(env: Mapping[str, str], hidden: Mapping[str, Path]) -> Runtime:
    """PNYX_LOCAL_RUNTIME, refused where it would show jobs a secret (also a SQLite database)."""
    database = env.get("PNYX_DATABASE_URL", "")
    if database.startswith("sqlite:///"):
        hidden = {**hidden, "the database": Path(database.removeprefix("sqlite:///"))}
    return runtime_setting(env.get("PNYX_LOCAL_RUNTIME", "off"), hidden=hidden)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidInput(f"PNYX_PORT must be a TCP port number, got {text!r}", field="PNYX_PORT")
    return int(text)


def _job_root(text: str, data_dir: Path) -> Path:
    """Jobs must never reach the data directory (key, database): their root lies outside it."""
    root, data = Path(text).expanduser().resolve(), data_dir.expanduser().resolve()
    if root.is_relative_to(data) or data.is_relative_to(root):
        raise InvalidInput(
            f"PNYX_JOB_ROOT ({root}) must lie outside the data directory ({data})", field="PNYX_JOB_ROOT"
        )
    return root


def _uid_range(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    if not (first.isdigit() and last.isdigit()) or not 0 < int(first) <= int(last) < 2**32 - 1:
        raise InvalidInput(f"PNYX_JOB_UIDS must be FIRST-LAST (uids), got {text!r}", field="PNYX_JOB_UIDS")
    return int(first), int(last) - int(first) + 1


def _flag(text: str, name: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{name} must be 1 or 0, got {text!r}", field=name)
