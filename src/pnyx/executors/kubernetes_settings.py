"""The ``[kubernetes]`` section of the engines file: the executor's ``KubernetesConfig`` and the
import mapping. Needs the optional extra ``kubernetes``; imported only when the section exists.

```toml
[kubernetes]
kubeconfig = "/etc/pnyx/kubeconfig"      # or PNYX_KUBECONFIG
namespace = "pnyx"
accelerator_resource = "nvidia.com/gpu"  # allocatable per node: its accelerators
product_label = "nvidia.com/gpu.product" # the node label naming the accelerator model
safety_label = "pnyx.eu/safety-level"    # optional node label: 1..4 or L1..L4
safety_level = 2                         # the certification of nodes without that label
[kubernetes.products]                    # product label value -> Pnyx type
"NVIDIA-H100-80GB-HBM3" = "H100-SXM"
[kubernetes.queues]                      # level -> Kueue LocalQueue (default L1 open, L2+ secure)
[kubernetes.site]                        # id, name, member_state (required to import), city
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pnyx.core.errors import InvalidInput
from pnyx.executors import engine_settings as es
from pnyx.executors.kubernetes import DEFAULT_QUEUES, KubernetesConfig, KubernetesExecutor
from pnyx.inventory.model import Site
from pnyx.safety.model import SafetyLevel

ENGINE = "kubernetes"
KEYS = frozenset(
    {
        "kubeconfig", "namespace", "accelerator_resource", "product_label", "safety_label", "safety_level",
        "default_image", "priority_class", "workload_priority_class", "site", "products", "queues",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class KubernetesSettings:
    kubeconfig: str
    config: KubernetesConfig
    products: Mapping[str, str]  # product label value -> Pnyx type
    safety_label: str | None
    safety_level: SafetyLevel
    section: Mapping[str, object]

    @classmethod
    def from_section(cls, section: es.Section) -> KubernetesSettings:
        es.check_keys(section, ENGINE, KEYS)
        products = es.type_map(section, ENGINE, "products")
        queues = es.names(section, ENGINE, "queues")
        config = KubernetesConfig(
            namespace=es.text(section, ENGINE, "namespace", "pnyx"),
            queues={es.safety_level(k, f"kubernetes.queues.{k}"): v for k, v in queues.items()}
            or dict(DEFAULT_QUEUES),
            priority_class=es.optional_text(section, ENGINE, "priority_class"),
            workload_priority_class=es.optional_text(section, ENGINE, "workload_priority_class"),
            accelerator_resource=es.text(section, ENGINE, "accelerator_resource", "nvidia.com/gpu"),
            product_label=es.text(section, ENGINE, "product_label", "nvidia.com/gpu.product"),
            products=_by_type(products),
            default_image=es.optional_text(section, ENGINE, "default_image"),
        )
        return cls(
            kubeconfig=es.text(section, ENGINE, "kubeconfig"),
            config=config,
            products=products,
            safety_label=es.optional_text(section, ENGINE, "safety_label"),
            safety_level=es.safety_level(section.get("safety_level", 2), "kubernetes.safety_level"),
            section=section,
        )

    def mapped_types(self) -> frozenset[str]:
        return frozenset(self.products.values())

    def ahead_depth(self) -> int:
        return 1  # not yet: pods pinned to busy nodes would hold their quota while pending

    def site(self) -> Site:
        return es.site(self.section, ENGINE)

    def api_client(self) -> Any:
        from kubernetes import config as kube_config

        return kube_config.new_client_from_config(config_file=self.kubeconfig)  # type: ignore[no-untyped-call]

    def executor(self) -> KubernetesExecutor:
        return KubernetesExecutor(self.config, self.api_client())


def _by_type(products: Mapping[str, str]) -> dict[str, str]:
    """Pnyx type -> the product label value its pods select."""
    inverse: dict[str, str] = {}
    for product, pnyx in sorted(products.items()):
        if pnyx in inverse:
            raise InvalidInput(
                f"kubernetes.products maps both {inverse[pnyx]!r} and {product!r} to {pnyx}; pods select one "
                "product per type (map the other to another type)",
                field="kubernetes.products",
            )
        inverse[pnyx] = product
    return inverse
