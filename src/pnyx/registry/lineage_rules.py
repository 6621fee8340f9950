"""Checks on what a training job wrote, before any of it becomes a model version (pure).

Everything here reads job output, which is hostile: sizes are capped before parsing, JSON is parsed
strictly (no duplicate keys, no NaN, no unknown fields), integers are integers (never ``true``),
paths are plain relative names. A refusal is an ``InvalidInput`` naming what is wrong; its ``field``
is one of ours, never text the job chose.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pnyx.core.canonical import canonical_json
from pnyx.core.errors import IntegrityFailure, InvalidInput, NotFound
from pnyx.registry.lineage_model import (
    CARD_NAME,
    MANIFEST_NAME,
    MODEL_ARTIFACT_PREFIX,
    MODEL_FORMAT,
    PUBLIC_ROLES,
    CheckpointManifest,
    CheckpointRef,
    FileRelease,
    FileRole,
    Manifest,
    ModelFile,
    ModelVersion,
)
from pnyx.safety.model import Label, SafetyLevel, SafetyPolicy
from pnyx.safety.rules import may_read

MAX_MANIFEST_BYTES = 64 * 1024
MAX_CHECKPOINT_MANIFEST_BYTES = 64 * 1024
RUN_LENGTH_FIELDS = frozenset({"steps", "checkpoint_every"})  # not part of a config's hash
MAX_ORDER_LINES = 10_000_000  # steps x world size: what one registration re-derives
MAX_ORDER_LINE_BYTES = 64 * 1024
MAX_CHECKPOINTS = 1000
MAX_NAME = 100
HEX64 = re.compile(r"[0-9a-f]{64}")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
PATH_PART = re.compile(r"[A-Za-z0-9._-]{1,255}")
MANIFEST_KEYS = frozenset(
    {
        "format", "name", "config", "config_hash", "code_digest", "datasets", "seed", "world_size",
        "batch_size", "steps", "weights", "data_order", "metrics", "checkpoints", "final",
    }
)  # fmt: skip
FINAL_KEYS = frozenset({"loss", "tokens_per_s", "mfu"})
CHECKPOINT_KEYS = frozenset({"step", "dir"})
CHECKPOINT_MANIFEST_KEYS = frozenset({"step", "config_hash", "dataset", "seed", "world_size"})
CHECKPOINT_CONFIG = "config"  # optional in pnyx-checkpoint.json: the config that wrote it
PUBLIC = Label(level=SafetyLevel.L1)  # what everyone may read: L1, no category
SUFFIXES = {FileRole.WEIGHTS: ".safetensors", FileRole.DATA_ORDER: ".jsonl", FileRole.METRICS: ".jsonl"}


# --- strict JSON ---------------------------------------------------------------------------------


def strict_json(data: bytes, what: str, cap: int) -> dict[str, Any]:
    """A JSON object of at most ``cap`` bytes: UTF-8, no duplicate keys, no NaN or Infinity."""
    if len(data) > cap:
        raise InvalidInput(f"{what} is {len(data)} bytes; the limit is {cap}", field=what)
    try:
        found = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{what} is not valid JSON: {_short(str(exc))}", field=what) from None
    if not isinstance(found, dict):
        raise InvalidInput(f"{what} is not a JSON object", field=what)
    return found


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return found


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _fields(found: Mapping[str, Any], keys: frozenset[str], what: str) -> None:
    unknown, missing = set(found) - keys, keys - set(found)
    if unknown:
        names = ", ".join(_short(repr(k), 40) for k in sorted(unknown)[:5])
        raise InvalidInput(f"{what} has unknown fields: {names}", field=what)
    if missing:
        raise InvalidInput(f"{what} lacks {', '.join(sorted(missing))}", field=what)


def _int(found: Mapping[str, Any], key: str, what: str, low: int, high: int) -> int:
    value = found[key]
    if type(value) is not int or not low <= value <= high:
        raise InvalidInput(f"{what}: {key} must be an integer in {low}..{high}", field=f"{what}.{key}")
    return value


def _hex(found: Mapping[str, Any], key: str, what: str) -> str:
    value = found[key]
    if not isinstance(value, str) or not HEX64.fullmatch(value):
        raise InvalidInput(f"{what}: {key} must be 64 lowercase hex digits", field=f"{what}.{key}")
    return value


def relative_path(value: object, field: str) -> str:
    """A plain path under the outputs: ``a/b.c`` of letters, digits and ``._-``, no ``.`` or ``..``."""
    parts = value.split("/") if isinstance(value, str) and len(value) <= 500 else []
    if not parts or any(not PATH_PART.fullmatch(p) or p in {".", ".."} for p in parts) or len(parts) > 16:
        raise InvalidInput(
            f"{field} must be a relative path of letters, digits and '._-' (no '..'), at most 500 characters",
            field=field,
        )
    assert isinstance(value, str)
    return value


# --- pnyx-model.json -----------------------------------------------------------------------------


def parse_manifest(data: bytes) -> Manifest:
    """``pnyx-model.json``: every field of the README contract, of its type, and nothing else."""
    found = strict_json(data, "manifest", MAX_MANIFEST_BYTES)
    _fields(found, MANIFEST_KEYS, "manifest")
    if found["format"] != MODEL_FORMAT:
        raise InvalidInput(f"manifest: format must be {MODEL_FORMAT!r}", field="manifest.format")
    steps = _int(found, "steps", "manifest", 1, MAX_ORDER_LINES)
    world_size = _int(found, "world_size", "manifest", 1, MAX_ORDER_LINES // steps)
    manifest = Manifest(
        name=_name(found["name"]),
        config_json=_config(found["config"]).decode(),
        config_hash=_hex(found, "config_hash", "manifest"),
        code_digest=_hex(found, "code_digest", "manifest"),
        datasets=_datasets(found["datasets"]),
        seed=_int(found, "seed", "manifest", 0, 2**63 - 1),
        world_size=world_size,
        batch_size=_int(found, "batch_size", "manifest", 1, 1_000_000),
        steps=steps,
        weights=relative_path(found["weights"], "manifest.weights"),
        data_order=relative_path(found["data_order"], "manifest.data_order"),
        metrics=relative_path(found["metrics"], "manifest.metrics"),
        checkpoints=_checkpoints(found["checkpoints"], steps),
        final=_final(found["final"]),
    )
    run = {"seed": manifest.seed, "batch_size": manifest.batch_size, "steps": manifest.steps}
    check_config(found["config"], manifest.config_hash, run, "manifest")
    _check_paths(manifest)
    return manifest


def _name(value: object) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise InvalidInput(
            f"manifest: name must be 1-{MAX_NAME} letters, digits or '._-', starting with a letter or digit",
            field="manifest.name",
        )
    return value


def _config(value: object) -> bytes:
    if not isinstance(value, dict):
        raise InvalidInput("manifest: config must be a JSON object", field="manifest.config")
    try:
        return canonical_json(value)
    except ValueError as exc:
        raise InvalidInput(
            f"manifest: config has no canonical JSON: {exc}", field="manifest.config"
        ) from None


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON (RFC 8785) of a config's trajectory: every field but
    ``RUN_LENGTH_FIELDS`` (how long a run goes and how often it saves change when it is resumed, not
    what each step computes), as the training recipe names its runs (``pnyx.training.config``)."""
    trajectory = {k: v for k, v in config.items() if k not in RUN_LENGTH_FIELDS}
    try:
        return hashlib.sha256(canonical_json(trajectory)).hexdigest()
    except ValueError as exc:
        raise InvalidInput(f"a config has no canonical JSON: {exc}", field="manifest.config") from None


def check_config(config: Mapping[str, Any], claimed: str, run: Mapping[str, int], what: str) -> None:
    """The claimed config hash is the config's, and the config agrees with the run's own fields."""
    found = config_hash(config)
    if found != claimed:
        raise InvalidInput(
            f"{what}: config_hash {claimed} does not match its config, whose trajectory hashes to {found}",
            field=f"{what}.config_hash",
            code="config_mismatch",
        )
    for key, value in run.items():
        if key in config and config[key] != value:
            raise InvalidInput(f"{what}: config.{key} is {config[key]!r}, the run's {key} is {value}",
                               field=f"{what}.config", code="config_mismatch")  # fmt: skip


def _datasets(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) != 1:
        raise InvalidInput(
            "manifest: datasets must list exactly one dataset version (the data order reads one)",
            field="manifest.datasets",
        )
    return tuple(_hex({"datasets": v}, "datasets", "manifest") for v in value)


def _checkpoints(value: object, steps: int) -> tuple[CheckpointRef, ...]:
    if not isinstance(value, list) or len(value) > MAX_CHECKPOINTS:
        raise InvalidInput(f"manifest: checkpoints must be a list of at most {MAX_CHECKPOINTS}",
                           field="manifest.checkpoints")  # fmt: skip
    refs = tuple(_checkpoint(item, steps) for item in value)
    if len({r.step for r in refs}) != len(refs) or len({r.dir for r in refs}) != len(refs):
        raise InvalidInput(
            "manifest: two checkpoints share a step or a directory", field="manifest.checkpoints"
        )
    return refs


def _checkpoint(item: object, steps: int) -> CheckpointRef:
    if not isinstance(item, dict):
        raise InvalidInput("manifest: each checkpoint is an object {step, dir}", field="manifest.checkpoints")
    _fields(item, CHECKPOINT_KEYS, "manifest.checkpoints")
    step = _int(item, "step", "manifest.checkpoints", 0, steps)
    return CheckpointRef(step=step, dir=relative_path(item["dir"], "manifest.checkpoints.dir"))


def _final(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        raise InvalidInput(
            "manifest: final must be an object {loss, tokens_per_s, mfu}", field="manifest.final"
        )
    _fields(value, FINAL_KEYS, "manifest.final")
    for key, number in value.items():
        if not _finite(number):
            raise InvalidInput(f"manifest: final.{key} must be a finite number", field="manifest.final")
    return {k: float(v) for k, v in sorted(value.items())}


def _finite(number: object) -> bool:
    """A float that is finite, or an integer a float holds (``10**400`` is not: no OverflowError)."""
    if type(number) is int:
        return abs(number) <= 2**53
    return type(number) is float and math.isfinite(number)


def _check_paths(manifest: Manifest) -> None:
    paths = manifest.paths()
    for role, suffix in SUFFIXES.items():
        if not paths[role].endswith(suffix):
            raise InvalidInput(f"manifest: {role.value} must end in {suffix}", field=f"manifest.{role.value}")
    if len(set(paths.values())) != len(paths) or {CARD_NAME, MANIFEST_NAME} & {
        manifest.weights,
        manifest.data_order,
        manifest.metrics,
    }:
        raise InvalidInput(
            f"manifest: weights, data_order and metrics must be three different files, none named "
            f"{CARD_NAME} or {MANIFEST_NAME}",
            field="manifest",
        )


# --- pnyx-checkpoint.json ------------------------------------------------------------------------


def parse_checkpoint_manifest(data: bytes) -> CheckpointManifest:
    """``pnyx-checkpoint.json``: step, config hash, dataset, seed, world size, and optionally the
    config itself (then its hash must be the one claimed)."""
    found = strict_json(data, "checkpoint", MAX_CHECKPOINT_MANIFEST_BYTES)
    config = found.pop(CHECKPOINT_CONFIG, None)
    _fields(found, CHECKPOINT_MANIFEST_KEYS, "checkpoint")
    checkpoint = CheckpointManifest(
        step=_int(found, "step", "checkpoint", 0, MAX_ORDER_LINES),
        config_hash=_hex(found, "config_hash", "checkpoint"),
        dataset=_hex(found, "dataset", "checkpoint"),
        seed=_int(found, "seed", "checkpoint", 0, 2**63 - 1),
        world_size=_int(found, "world_size", "checkpoint", 1, MAX_ORDER_LINES),
    )
    if config is not None:
        if not isinstance(config, dict):
            raise InvalidInput("checkpoint: config must be a JSON object", field="checkpoint.config")
        check_config(config, checkpoint.config_hash, {"seed": checkpoint.seed}, "checkpoint")
    return checkpoint


def check_checkpoint(manifest: Manifest, ref: CheckpointRef, found: CheckpointManifest) -> None:
    """A checkpoint belongs to the run that lists it: same step, config, dataset, seed, world size
    (a resumed run's checkpoint written under another configuration is refused, naming the field)."""
    wanted = {
        "step": ref.step,
        "config_hash": manifest.config_hash,
        "dataset": manifest.datasets[0],
        "seed": manifest.seed,
        "world_size": manifest.world_size,
    }
    for key, value in wanted.items():
        if getattr(found, key) != value:
            raise InvalidInput(
                f"checkpoint {ref.dir}: its {key} is {getattr(found, key)}, the run's is {value}: it was "
                "written by another configuration",
                field=f"checkpoint.{key}",
                code="config_mismatch",
            )


def checkpoint_files(ref: CheckpointRef, recorded: Iterable[str]) -> list[str]:
    """The recorded outputs under the checkpoint's directory (its manifest among them, or refused)."""
    prefix = ref.dir + "/"
    found = sorted(p for p in recorded if p.startswith(prefix))
    if prefix + "pnyx-checkpoint.json" not in found:
        raise InvalidInput(
            f"checkpoint {ref.dir} (step {ref.step}) has no recorded pnyx-checkpoint.json",
            field="manifest.checkpoints",
        )
    return found


def role_of(manifest: bytes, version: str, path: str) -> str:
    """The role of ``path`` in a version whose ``pnyx-model.json`` (checked against the log) is
    ``manifest``: the card and the manifest by their fixed names, the others as the manifest names
    them (NotFound for a path it does not name). What a downloader checks a file's digest by."""
    fixed = {CARD_NAME: FileRole.CARD.value, MANIFEST_NAME: FileRole.MANIFEST.value}
    if path in fixed:
        return fixed[path]
    try:
        named = {p: role.value for role, p in parse_manifest(manifest).paths().items()}
    except InvalidInput as exc:
        raise IntegrityFailure(f"model version {version}'s manifest does not parse: {exc.message}",
                               field="manifest") from None  # fmt: skip
    if path not in named:
        raise NotFound(f"model version {version} has no file {path[:200]!r}; its manifest names "
                       f"{', '.join(sorted(named))}", field="file", code="model_file_not_found")  # fmt: skip
    return named[path]


def model_file(model: ModelVersion, path: str) -> ModelFile:
    """The version's file at ``path`` (NotFound naming the files it has)."""
    found = model.file(path)
    if found is None:
        names = ", ".join(f.path for f in model.files)
        raise NotFound(f"model version {model.version} has no file {path!r}; it has {names}", field="file",
                       code="model_file_not_found")  # fmt: skip
    return found


# --- ids -----------------------------------------------------------------------------------------


def version_id(job_id: str, attempt: int, digests: Mapping[FileRole, str]) -> str:
    """A model version's id: SHA-256 over the job attempt and the digests of what it wrote (manifest,
    weights, data order, metrics), so the same outputs of the same attempt name the same version."""
    body = {"format": "pnyx.model-version/1", "job": job_id, "attempt": attempt}
    body["files"] = {role.value: digest for role, digest in sorted(digests.items())}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def model_artifact(version: str, path: str) -> str:
    """A version's file as a release subject: ``model:<version>/<path>``."""
    return f"{MODEL_ARTIFACT_PREFIX}{version}/{path}"


def parse_model_artifact(artifact_id: str) -> tuple[str, str] | None:
    """(version, path) of a ``model:<version>/<path>`` id; None for any other id."""
    if not artifact_id.startswith(MODEL_ARTIFACT_PREFIX):
        return None
    version, _, path = artifact_id.removeprefix(MODEL_ARTIFACT_PREFIX).partition("/")
    return (version, path) if HEX64.fullmatch(version) and path else None


# --- who reads a version -------------------------------------------------------------------------


def is_public(model: ModelVersion, releases: Iterable[FileRelease]) -> bool:
    """Public once its weights, card and data-order record have each been released, with exactly
    their registered content, to the public label (L1, no category)."""
    released = {(r.path, r.sha256) for r in releases if r.label == PUBLIC}
    return all((f.path, f.sha256) in released for f in (model.role(role) for role in PUBLIC_ROLES))


def may_read_model(public: bool, clearance: Label | None, label: Label, policy: SafetyPolicy) -> bool:
    """Anyone reads a public version; else whoever's clearance covers its label (no person reads at
    a level whose readers are jobs only)."""
    return public or (clearance is not None and may_read(clearance, label, policy, human=True))
