"""The deployer's engine settings: one TOML file (``PNYX_ENGINES_FILE``), the environment on top.

The file has one section per engine (``[slurm]``, ``[ray]``, ``[kubernetes]``); each executor reads
its own (``slurm_settings``, ``ray_settings``, ``kubernetes_settings``). A few values may also come
from the environment, which wins over the file (secrets belong there, never in the file). Example
and reference: ``examples/engines/`` and ``docs/executors.md``, "Deploying on an engine".
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pnyx.core.errors import InvalidInput
from pnyx.inventory.model import Site
from pnyx.inventory.rules import accelerator_type
from pnyx.safety.model import SafetyLevel

ENGINES_FILE_ENV = "PNYX_ENGINES_FILE"
SECTIONS = ("slurm", "ray", "kubernetes")
# environment variable -> (section, key); the environment wins over the file
ENV_KEYS: Mapping[str, tuple[str, str]] = {
    "PNYX_SLURM_URL": ("slurm", "url"),
    "PNYX_SLURM_USER": ("slurm", "user"),
    "PNYX_SLURM_TOKEN": ("slurm", "token"),
    "PNYX_SLURM_WORKDIR": ("slurm", "working_directory"),
    "PNYX_SLURM_LOGDIR": ("slurm", "log_directory"),
    "PNYX_RAY_URL": ("ray", "url"),
    "PNYX_KUBECONFIG": ("kubernetes", "kubeconfig"),
}
ANCHORS = frozenset({"PNYX_SLURM_URL", "PNYX_RAY_URL", "PNYX_KUBECONFIG"})  # these alone configure an engine
SECRETS = ("token",)  # never read from the file
SITE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
MEMBER_STATE = re.compile(r"^[A-Z]{2}$")
MAX_FILE_BYTES = 1024 * 1024

Section = Mapping[str, Any]


def load_engine_sections(
    env: Mapping[str, str], defaults: Mapping[str, Section] | None = None
) -> dict[str, dict[str, Any]]:
    """Each configured engine's section: the file's, the environment's values on top. ``defaults``
    fill keys of a section that is configured (the file or the environment names the engine)."""
    path = env.get(ENGINES_FILE_ENV)
    sections = read_engines_file(Path(path)) if path else {}
    for variable, (name, key) in ENV_KEYS.items():
        if env.get(variable) and (variable in ANCHORS or name in sections):
            sections.setdefault(name, {})[key] = env[variable]
    for name, section in sections.items():
        for key, value in (defaults or {}).get(name, {}).items():
            section.setdefault(key, value)
    return sections


def read_engines_file(path: Path) -> dict[str, dict[str, Any]]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInput(f"{ENGINES_FILE_ENV} {path} is larger than 1 MiB", field=ENGINES_FILE_ENV)
        parsed = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(
            f"{ENGINES_FILE_ENV} {path} cannot be read: {exc.strerror}", field=ENGINES_FILE_ENV
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"{ENGINES_FILE_ENV} {path} is not valid TOML: {exc}", field=ENGINES_FILE_ENV
        ) from None
    unknown = sorted(set(parsed) - set(SECTIONS))
    if unknown:
        raise InvalidInput(
            f"{ENGINES_FILE_ENV} {path} has unknown sections {unknown}; known: {', '.join(SECTIONS)}",
            field=ENGINES_FILE_ENV,
        )
    sections: dict[str, dict[str, Any]] = {}
    for name, section in parsed.items():
        if not isinstance(section, dict):
            raise InvalidInput(f"{name} in {path} must be a table (a {name} section)", field=name)
        for secret in SECRETS:
            if secret in section:
                raise InvalidInput(
                    f"{name}.{secret} does not belong in {path}: set PNYX_{name.upper()}_{secret.upper()} "
                    f"or {name}.{secret}_file",
                    field=f"{name}.{secret}",
                )
        sections[name] = dict(section)
    return sections


# --- reading one section: small typed getters that name the setting in every error -----------------


def check_keys(section: Section, engine: str, known: frozenset[str]) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        raise InvalidInput(
            f"the {engine} section has unknown settings {unknown}; known: {', '.join(sorted(known))}",
            field=engine,
        )


def text(section: Section, engine: str, key: str, default: str | None = None) -> str:
    value = section.get(key, default)
    if not isinstance(value, str) or not value:
        hint = f" (or {_env_for(engine, key)})" if _env_for(engine, key) else ""
        raise InvalidInput(f"{engine}.{key}{hint} must be set to a non-empty string", field=f"{engine}.{key}")
    return value


def optional_text(section: Section, engine: str, key: str) -> str | None:
    return text(section, engine, key) if key in section else None


def number(section: Section, engine: str, key: str, default: float) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInput(
            f"{engine}.{key} must be a positive number, got {value!r}", field=f"{engine}.{key}"
        )
    return float(value)


def whole(section: Section, engine: str, key: str, default: int) -> int:
    """A positive whole number (a count, a depth)."""
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(
            f"{engine}.{key} must be a positive whole number, got {value!r}", field=f"{engine}.{key}"
        )
    return value


def flag(section: Section, engine: str, key: str, default: bool) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{engine}.{key} must be true or false, got {value!r}", field=f"{engine}.{key}")
    return value


def table(section: Section, engine: str, key: str) -> dict[str, Any]:
    value = section.get(key, {})
    if not isinstance(value, dict):
        raise InvalidInput(f"{engine}.{key} must be a table", field=f"{engine}.{key}")
    return value


def names(section: Section, engine: str, key: str) -> dict[str, str]:
    """A table of engine names -> text (accounts, queues)."""
    return {
        name: _string(value, f"{engine}.{key}.{name}") for name, value in table(section, engine, key).items()
    }


def type_map(section: Section, engine: str, key: str) -> dict[str, str]:
    """A table of the engine's names -> Pnyx accelerator types (checked against the catalogue)."""
    return {
        name: pnyx_type(value, f"{engine}.{key}.{name}")
        for name, value in table(section, engine, key).items()
    }


def level_map(section: Section, engine: str, key: str) -> dict[str, SafetyLevel]:
    return {
        name: safety_level(value, f"{engine}.{key}.{name}")
        for name, value in table(section, engine, key).items()
    }


def pnyx_type(value: object, setting: str) -> str:
    name = _string(value, setting)
    try:
        return accelerator_type(name).name
    except InvalidInput as exc:
        raise InvalidInput(f"{setting}: {exc.message}", field=setting) from None


def safety_level(value: object, setting: str) -> SafetyLevel:
    """1..4 or "L1".."L4"."""
    spelled = value.upper().removeprefix("L") if isinstance(value, str) else value
    if isinstance(spelled, str) and spelled.isdigit():
        spelled = int(spelled)
    if isinstance(spelled, bool) or not isinstance(spelled, int) or spelled not in {1, 2, 3, 4}:
        raise InvalidInput(
            f"{setting} must be a safety level, 1 to 4 or L1 to L4; got {value!r}", field=setting
        )
    return SafetyLevel(spelled)


def site(section: Section, engine: str) -> Site:
    """The site the engine's cluster is (``[ENGINE.site]``: id, name, member_state, city)."""
    raw = table(section, engine, "site")
    check_keys(raw, f"{engine}.site", frozenset({"id", "name", "member_state", "city"}))
    site_id = str(raw.get("id", engine))
    if not SITE_ID.match(site_id):
        raise InvalidInput(
            f"{engine}.site.id must be 1-24 lower-case letters, digits and '-', got {site_id!r}",
            field=f"{engine}.site.id",
        )
    state = raw.get("member_state")
    if not isinstance(state, str) or not MEMBER_STATE.match(state):
        raise InvalidInput(
            f"{engine}.site.member_state must be the ISO 3166-1 alpha-2 code of the member state "
            f'hosting the cluster (e.g. "DE"), got {state!r}',
            field=f"{engine}.site.member_state",
        )
    return Site(
        id=site_id,
        name=_string(raw.get("name", f"{engine} cluster {site_id}"), f"{engine}.site.name")[:200],
        member_state=state,
        city=_string(raw.get("city", "-"), f"{engine}.site.city")[:100],
    )


def _string(value: object, setting: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{setting} must be a non-empty string, got {value!r}", field=setting)
    return value


def _env_for(engine: str, key: str) -> str | None:
    return next((var for var, where in ENV_KEYS.items() if where == (engine, key)), None)
