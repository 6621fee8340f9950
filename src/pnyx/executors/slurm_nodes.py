"""A Slurm cluster's nodes and partitions as Pnyx's inventory: parsing (pure), mapping (pure), reading.

Both dialects: 22.05 (``v0.0.38``) reports a node's ``state`` as a lower-case base state plus
``state_flags``, and ``features`` as one comma-separated string; 23.11+ (``v0.0.40``-``v0.0.42``)
report ``state`` as a list of upper-case words and ``features`` as a list. ``gres`` is the same
string in both (``gpu:h100:8(S:0-1),shard:16``). The mapping of the cluster's names to Pnyx's comes
from ``[slurm.gres]``, ``[slurm.features]`` and ``[slurm.partitions]`` (``slurm_settings``); a
mapping that names what the cluster lacks is an error naming the setting and the cluster's answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from pnyx.core.errors import InvalidInput
from pnyx.executors.slurm import SlurmExecutor
from pnyx.executors.slurm_api import parse_errors
from pnyx.executors.slurm_settings import SlurmSettings
from pnyx.inventory.model import EngineInventory, EngineNode, InventorySource, NodeState, SkippedNode
from pnyx.jobs.model import EngineUnavailable
from pnyx.safety.model import SafetyLevel

DOWN_WORDS = frozenset(
    {"DOWN", "NOT_RESPONDING", "FUTURE", "POWERED_DOWN", "POWER_DOWN", "UNKNOWN", "INVALID"}
)
DRAIN_WORDS = frozenset(
    {
        "DRAIN",
        "DRAINING",
        "DRAINED",
        "FAIL",
        "MAINTENANCE",
        "REBOOT_REQUESTED",
        "REBOOT_ISSUED",
        "POWERING_DOWN",
    }
)
MAX_NAMES = 64  # features or partitions kept per node
MAX_NAME = 64
_SOCKETS = re.compile(r"\([^)]*\)")  # "(S:0-1)" after a gres count
GPU = "gpu"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlurmNode:
    name: str
    states: frozenset[str]  # base state and flags, upper case
    gres: Mapping[str, int]  # "gpu:h100" (or "gpu") -> count
    features: tuple[str, ...]
    partitions: tuple[str, ...]


def parse_node(raw: Mapping[str, Any]) -> SlurmNode:
    return SlurmNode(
        name=str(raw.get("name") or ""),
        states=_words(raw.get("state")) | _words(raw.get("state_flags")),
        gres=parse_gres(str(raw.get("gres") or "")),
        features=_names(raw.get("features")),
        partitions=_names(raw.get("partitions")),
    )


def parse_gres(text: str) -> dict[str, int]:
    """``gpu:h100:8(S:0-1),gpu:2,shard:16`` -> {"gpu:h100": 8, "gpu": 2, "shard": 16}."""
    found: dict[str, int] = {}
    for entry in _SOCKETS.sub("", text).split(","):
        parts = [p for p in entry.strip().split(":") if p]
        if not parts or parts == ["(null)"]:
            continue
        count = int(parts.pop()) if len(parts) > 1 and parts[-1].isdigit() else 1
        key = ":".join(parts[:2])
        found[key] = found.get(key, 0) + count
    return found


def partition_names(body: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(str(p.get("name")) for p in body.get("partitions") or [] if p.get("name"))


def node_state(states: frozenset[str]) -> NodeState:
    if states & DOWN_WORDS:
        return NodeState.DOWN
    if states & DRAIN_WORDS:
        return NodeState.DRAINED
    return NodeState.UP


# --- mapping -------------------------------------------------------------------------------------


def inventory_of(
    nodes: Iterable[SlurmNode], partitions: frozenset[str], settings: SlurmSettings
) -> EngineInventory:
    """The cluster's nodes in Pnyx's words; refuses a mapping that names what the cluster lacks."""
    nodes = list(nodes)
    check_mapping(nodes, partitions, settings)
    mapped: list[EngineNode] = []
    skipped: list[SkippedNode] = []
    for node in nodes:
        result = engine_node(node, settings)
        if isinstance(result, EngineNode):
            mapped.append(result)
        else:
            skipped.append(result)
    return EngineInventory(
        source=InventorySource.SLURM, site=settings.site(), nodes=tuple(mapped), skipped=tuple(skipped)
    )


def check_mapping(nodes: list[SlurmNode], partitions: frozenset[str], settings: SlurmSettings) -> None:
    if not settings.partitions:
        raise InvalidInput(
            "slurm.partitions maps no partition to a safety certification; the import needs at least "
            f"one (the cluster has: {_listed(partitions)})",
            field="slurm.partitions",
        )
    _all_known("slurm.partitions", settings.partitions, partitions, "partition")
    _all_known("slurm.partition_accounts", settings.config.partition_accounts, partitions, "partition")
    _all_known("slurm.gres", settings.gres, {k for n in nodes for k in n.gres}, "gres")
    _all_known("slurm.features", settings.features, {f for n in nodes for f in n.features}, "feature")


def engine_node(node: SlurmNode, settings: SlurmSettings) -> EngineNode | SkippedNode:
    typed = _typed(node, settings)
    if not typed:
        gres = ",".join(f"{k}:{v}" for k, v in sorted(node.gres.items())) or "none"
        return SkippedNode(name=node.name, reason=f"no gres or feature in the mapping (gres {gres})")
    if len(typed) > 1:
        raise InvalidInput(
            f"Slurm node {node.name} has accelerators of {len(typed)} mapped types "
            f"({', '.join(sorted(typed))}); a Pnyx node has one type",
            field="slurm.gres",
        )
    levels = [settings.partitions[p] for p in node.partitions if p in settings.partitions]
    if not levels:
        return SkippedNode(
            name=node.name, reason=f"in no partition of slurm.partitions ({_listed(node.partitions)})"
        )
    [(type_name, count)] = typed.items()
    return EngineNode(
        name=node.name,
        accelerator_type=type_name,
        accelerators=count,
        # reachable through its least certified partition, it is only as isolated as that one
        safety_level=SafetyLevel(min(levels)),
        state=node_state(node.states),
        partitions=node.partitions,
        features=node.features,
    )


def _typed(node: SlurmNode, settings: SlurmSettings) -> dict[str, int]:
    """Pnyx type -> accelerators: by gres type, else by feature (counting the node's gpu gres)."""
    typed: dict[str, int] = {}
    for key, count in node.gres.items():
        if key in settings.gres:
            typed[settings.gres[key]] = typed.get(settings.gres[key], 0) + count
    if typed:
        return typed
    gpus = sum(c for k, c in node.gres.items() if k.partition(":")[0] == GPU)
    by_feature = {settings.features[f] for f in node.features if f in settings.features}
    return dict.fromkeys(by_feature, gpus) if gpus else {}


def _all_known(setting: str, mapped: Iterable[str], reported: Iterable[str], what: str) -> None:
    missing = sorted(set(mapped) - set(reported))
    if missing:
        raise InvalidInput(
            f"{setting} names {what} {', '.join(repr(m) for m in missing)}, which the cluster lacks "
            f"(it reports: {_listed(reported)})",
            field=setting,
            code="engine_mapping_unknown",
        )


def _words(value: Any) -> frozenset[str]:
    items = value if isinstance(value, list) else str(value or "").split("+")
    return frozenset(str(v).strip().upper() for v in items if str(v).strip())


def _names(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    kept = {str(v).strip()[:MAX_NAME] for v in items if str(v).strip() and str(v).strip() != "(null)"}
    return tuple(sorted(kept)[:MAX_NAMES])


def _listed(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


# --- reading the cluster -------------------------------------------------------------------------


def read_inventory(settings: SlurmSettings) -> EngineInventory:
    """Nodes and partitions from slurmrestd (the API version the executor negotiates), mapped."""
    config = settings.config
    executor = SlurmExecutor(config)
    try:
        version = executor.dialect().version
        nodes = _get(executor, f"/slurm/{version}/nodes").get("nodes") or []
        partitions = partition_names(_get(executor, f"/slurm/{version}/partitions"))
        if config.use_accounting:
            _check_accounts(settings, _get(executor, f"/slurmdb/{version}/accounts"))
    finally:
        executor.close()
    return inventory_of((parse_node(raw) for raw in nodes), partitions, settings)


def _get(executor: SlurmExecutor, url: str) -> dict[str, Any]:
    config = executor.config
    headers = {"X-SLURM-USER-NAME": config.user, "X-SLURM-USER-TOKEN": config.token}
    try:
        response = httpx.get(config.base_url.rstrip("/") + url, headers=headers, timeout=config.timeout_s)
    except httpx.HTTPError as exc:
        raise EngineUnavailable(f"slurmrestd at {config.base_url} unreachable: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise EngineUnavailable(
            f"slurmrestd answered GET {url} with {response.status_code}, not a JSON object"
        )
    errors = parse_errors(body)
    if errors or response.status_code >= 400:
        said = "; ".join(f"{e.message} [{e.number}]" for e in errors) or f"status {response.status_code}"
        raise EngineUnavailable(
            f"slurmrestd at {config.base_url} refused GET {url}: {said} (as slurm.user {config.user!r}; "
            "is PNYX_SLURM_TOKEN or slurm.token_file a current token?)"
        )
    return body


def _check_accounts(settings: SlurmSettings, body: Mapping[str, Any]) -> None:
    known = {str(a.get("name")) for a in body.get("accounts") or []}
    named = {f"slurm.accounts.{p}": a for p, a in settings.config.accounts.items()}
    fixed = settings.section.get("fixed_account")
    if isinstance(fixed, str):
        named["slurm.fixed_account"] = fixed
    for setting, account in sorted(named.items()):
        if account not in known:
            raise InvalidInput(
                f"{setting} names account {account!r}, which Slurm's accounting lacks "
                f"(it has: {_listed(known)})",
                field=setting,
                code="engine_mapping_unknown",
            )
