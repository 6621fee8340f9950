"""A Kubernetes cluster's nodes as Pnyx's inventory: parsing and mapping (pure), and listing them
through the official client. Tested against a fake transport only: no API server runs here.

A node's accelerators are its allocatable ``accelerator_resource``; its type is its product label
mapped by ``[kubernetes.products]``; its certification is its ``safety_label`` (or the section's
``safety_level``). Not Ready: DOWN; cordoned (``spec.unschedulable``): DRAINED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from pnyx.core.errors import InvalidInput
from pnyx.executors.engine_settings import safety_level
from pnyx.executors.kubernetes import serialize
from pnyx.executors.kubernetes_settings import KubernetesSettings
from pnyx.inventory.model import EngineInventory, EngineNode, InventorySource, NodeState, SkippedNode
from pnyx.jobs.model import EngineUnavailable


def inventory_of(items: Iterable[Mapping[str, Any]], settings: KubernetesSettings) -> EngineInventory:
    items = list(items)
    label = settings.config.product_label
    reported = {str((i.get("metadata") or {}).get("labels", {}).get(label)) for i in items} - {"None"}
    missing = sorted(set(settings.products) - reported)
    if missing:
        raise InvalidInput(
            f"kubernetes.products names {missing}, which no node's {label} label reports "
            f"(they report: {', '.join(sorted(reported)) or 'none'})",
            field="kubernetes.products",
            code="engine_mapping_unknown",
        )
    mapped: list[EngineNode] = []
    skipped: list[SkippedNode] = []
    for item in items:
        result = engine_node(item, settings)
        if isinstance(result, EngineNode):
            mapped.append(result)
        else:
            skipped.append(result)
    return EngineInventory(
        source=InventorySource.KUBERNETES, site=settings.site(), nodes=tuple(mapped), skipped=tuple(skipped)
    )


def engine_node(item: Mapping[str, Any], settings: KubernetesSettings) -> EngineNode | SkippedNode:
    metadata, spec, status = (item.get(k) or {} for k in ("metadata", "spec", "status"))
    name, labels = str(metadata.get("name") or ""), metadata.get("labels") or {}
    resource = settings.config.accelerator_resource
    count = _quantity((status.get("allocatable") or {}).get(resource))
    if count <= 0:
        return SkippedNode(name=name, reason=f"no allocatable {resource}")
    product = str(labels.get(settings.config.product_label) or "")
    if product not in settings.products:
        return SkippedNode(
            name=name, reason=f"{settings.config.product_label}={product} not in kubernetes.products"
        )
    level = settings.safety_level
    if settings.safety_label and settings.safety_label in labels:
        level = safety_level(labels[settings.safety_label], f"node {name} label {settings.safety_label}")
    return EngineNode(
        name=name,
        accelerator_type=settings.products[product],
        accelerators=count,
        safety_level=level,
        state=node_state(spec, status),
        features=(f"{settings.config.product_label}={product}",),
    )


def node_state(spec: Mapping[str, Any], status: Mapping[str, Any]) -> NodeState:
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    if not ready:
        return NodeState.DOWN
    return NodeState.DRAINED if spec.get("unschedulable") else NodeState.UP


def read_inventory(settings: KubernetesSettings, api_client: Any | None = None) -> EngineInventory:
    api = api_client or settings.api_client()
    try:
        listing = client.CoreV1Api(api).list_node()
    except ApiException as exc:
        raise EngineUnavailable(f"Kubernetes answered {exc.status} listing nodes: {exc.reason}") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise EngineUnavailable(f"Kubernetes API unreachable: {exc}") from exc
    return inventory_of(serialize(listing).get("items") or [], settings)


def _quantity(value: Any) -> int:
    text = str(value or "0")
    return int(text) if text.isdigit() else 0
