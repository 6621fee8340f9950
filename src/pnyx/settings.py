"""One typed settings object, read once from the environment at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pnyx.core.errors import InvalidInput


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
    local_executor: bool = True  # run jobs as local processes (not a sandbox: single-user installations)
    slurm_url: str | None = None  # slurmrestd, e.g. http://127.0.0.1:6820; unset: no Slurm executor
    slurm_user: str = "pnyx"
    slurm_token: str = ""  # from `scontrol token username=USER lifespan=S`
    slurm_workdir: str = "."  # where batch scripts start, as the cluster's nodes see it
    slurm_logdir: str = "."  # where job output goes, as the cluster's nodes see it
    kubeconfig: str | None = None  # a kubeconfig file: Kubernetes executor (needs the [kubernetes] extra)
    ray_url: str | None = None  # the Ray Jobs API, e.g. http://127.0.0.1:8265; unset: no Ray executor

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("PNYX_DATA_DIR", "var")).expanduser()
        database_url = env.get("PNYX_DATABASE_URL") or f"sqlite:///{data_dir / 'pnyx.db'}"
        return cls(
            data_dir=data_dir,
            database_url=normalise_database_url(database_url),
            log_origin=env.get("PNYX_LOG_ORIGIN", "pnyx.example/log"),
            log_key_file=Path(env.get("PNYX_LOG_KEY_FILE", str(data_dir / "log-signing.key"))),
            host=env.get("PNYX_HOST", "127.0.0.1"),
            port=_port(env.get("PNYX_PORT", "8000")),
            executor=env.get("PNYX_EXECUTOR", "local"),
            dispatch=_flag(env.get("PNYX_DISPATCH", "1"), "PNYX_DISPATCH"),
            local_executor=_flag(env.get("PNYX_LOCAL_EXECUTOR", "1"), "PNYX_LOCAL_EXECUTOR"),
            slurm_url=env.get("PNYX_SLURM_URL") or None,
            slurm_user=env.get("PNYX_SLURM_USER", "pnyx"),
            slurm_token=env.get("PNYX_SLURM_TOKEN", ""),
            slurm_workdir=env.get("PNYX_SLURM_WORKDIR", str(data_dir / "slurm")),
            slurm_logdir=env.get("PNYX_SLURM_LOGDIR", str(data_dir / "slurm")),
            ray_url=env.get("PNYX_RAY_URL") or None,
            kubeconfig=env.get("PNYX_KUBECONFIG") or None,
        )


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


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidInput(f"PNYX_PORT must be a TCP port number, got {text!r}", field="PNYX_PORT")
    return int(text)


def _flag(text: str, name: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{name} must be 1 or 0, got {text!r}", field=name)
