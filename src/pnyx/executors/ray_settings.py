"""The ``[ray]`` section of the engines file: the executor's ``RayConfig`` and the import mapping.

```toml
[ray]
url = "http://127.0.0.1:8265"        # or PNYX_RAY_URL
accelerator_resource = "accelerator"  # the resource counting a node's accelerators ("GPU" on GPU nodes)
safety_level = 1                      # the certification of the cluster's nodes; higher levels are refused
working_directory = "/shared/pnyx/ray" # optional: jobs start in pnyx-<key>/ here (inputs, outputs)
work_mount = "/shared/pnyx/ray"       # optional: the same, as the control plane sees it (outputs collected)
dataset_mount = "/shared/pnyx/datasets"  # optional: where nodes see the registry's dataset versions
[ray.types]                           # Ray's accelerator type (resource accelerator_type:X) -> Pnyx type;
"*" = "H100-SXM"                      # "*": any node without one
[ray.site]                            # id, name, member_state (required to import), city
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pnyx.executors import engine_settings as es
from pnyx.executors.ray import RayConfig, RayExecutor
from pnyx.inventory.model import Site
from pnyx.safety.model import SafetyLevel

ENGINE = "ray"
ANY_TYPE = "*"
KEYS = frozenset(
    {
        "url",
        "accelerator_resource",
        "driver_cpus",
        "safety_level",
        "timeout_s",
        "cycle_listing_max_s",
        "working_directory",
        "work_mount",
        "dataset_mount",
        "site",
        "types",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RaySettings:
    config: RayConfig
    types: Mapping[str, str]  # Ray's accelerator type (or "*") -> Pnyx type
    section: Mapping[str, object]

    @classmethod
    def from_section(cls, section: es.Section) -> RaySettings:
        es.check_keys(section, ENGINE, KEYS)
        config = RayConfig(
            base_url=es.text(section, ENGINE, "url"),
            accelerator_resource=es.text(section, ENGINE, "accelerator_resource", "accelerator"),
            driver_cpus=es.number(section, ENGINE, "driver_cpus", 0.1),
            max_safety_level=es.safety_level(section.get("safety_level", 1), "ray.safety_level"),
            timeout_s=es.number(section, ENGINE, "timeout_s", 10.0),
            cycle_listing_max_s=es.number(section, ENGINE, "cycle_listing_max_s", 30.0),
            working_directory=es.optional_text(section, ENGINE, "working_directory"),
            work_mount=es.optional_text(section, ENGINE, "work_mount"),
            dataset_mount=es.optional_text(section, ENGINE, "dataset_mount"),
        )
        return cls(config=config, types=es.type_map(section, ENGINE, "types"), section=section)

    @property
    def safety_level(self) -> SafetyLevel:
        return self.config.max_safety_level

    def mapped_types(self) -> frozenset[str]:
        return frozenset(self.types.values())

    def ahead_depth(self) -> int:
        return 1  # Ray places by resources, not by node: a job handed over early runs anywhere

    def site(self) -> Site:
        return es.site(self.section, ENGINE)

    def executor(self) -> RayExecutor:
        return RayExecutor(self.config)
