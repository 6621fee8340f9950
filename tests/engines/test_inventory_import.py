"""``pnyx inventory import`` against the real engines of ``scripts/engines/up.sh`` (Slurm, Ray), and
against a FAKE Kubernetes transport (no API server can run here: marked fake on every response).

The test cluster: n1..n4 with ``gres gpu:h100:8``; partitions ``open`` (n1, n2) and ``secure``
(n3, n4, account ``secure`` only); accounts ``public``, ``secure``. The Ray head: one node
advertising ``{"accelerator": 8}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.core.errors import InvalidInput
from pnyx.executors import kubernetes_nodes, ray_nodes, slurm_nodes
from pnyx.executors.kubernetes_settings import KubernetesSettings
from pnyx.executors.ray_settings import RaySettings
from pnyx.executors.slurm_settings import SlurmSettings
from pnyx.inventory.model import InventorySource, NodeState
from pnyx.jobs.model import EngineUnavailable
from pnyx.safety.model import SafetyLevel
from tests.engines.conftest import SLURM_URL

pytestmark = pytest.mark.engines
SITE = {"id": "infratest", "name": "Test cluster", "member_state": "DE"}


def slurm_section(token: str, **overrides: Any) -> dict[str, Any]:
    return {
        "url": SLURM_URL,
        "user": "root",
        "token": token,
        "working_directory": "/tmp",
        "log_directory": "/tmp",
        "fixed_account": "public",
        "site": SITE,
        "gres": {"gpu:h100": "H100-SXM"},
        "partitions": {"open": 1, "secure": 3},
    } | overrides


def test_slurm_nodes_become_the_inventory(slurm_token: str) -> None:
    imported = slurm_nodes.read_inventory(SlurmSettings.from_section(slurm_section(slurm_token)))
    assert imported.source is InventorySource.SLURM
    by_name = {n.name: n for n in imported.nodes}
    assert sorted(by_name) == ["n1", "n2", "n3", "n4"]
    assert {(n.accelerator_type, n.accelerators) for n in imported.nodes} == {("H100-SXM", 8)}
    assert [by_name[n].safety_level for n in ("n1", "n3")] == [SafetyLevel.L1, SafetyLevel.L3]
    assert by_name["n1"].partitions == ("open",)
    assert all(n.state is NodeState.UP for n in imported.nodes), imported.nodes


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gres": {"gpu:a100": "H100-SXM"}}, r"slurm.gres names gres 'gpu:a100', which the cluster lacks "
         r"\(it reports: gpu:h100\)"),
        ({"partitions": {"open": 1, "gpu": 2}}, r"slurm.partitions names partition 'gpu', which the cluster "
         r"lacks \(it reports: open, secure\)"),
        ({"fixed_account": "pnyx"}, r"slurm.fixed_account names account 'pnyx', which Slurm's accounting "
         r"lacks \(it has: [^)]*\bpublic\b"),  # other tests may add accounts meanwhile
    ],
)  # fmt: skip
def test_a_mapping_the_cluster_contradicts_is_refused(
    slurm_token: str, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        slurm_nodes.read_inventory(SlurmSettings.from_section(slurm_section(slurm_token, **overrides)))


def test_a_slurm_that_is_down_or_refuses_us_says_so(slurm_token: str) -> None:
    down = SlurmSettings.from_section(slurm_section(slurm_token, url="http://127.0.0.1:1"))
    with pytest.raises(EngineUnavailable, match=r"slurmrestd at http://127.0.0.1:1 unreachable"):
        slurm_nodes.read_inventory(down)
    refused = SlurmSettings.from_section(slurm_section("not-a-token", api_version="v0.0.38"))
    with pytest.raises(EngineUnavailable, match=r"refused GET /slurm/v0.0.38/nodes: .*as slurm.user 'root'"):
        slurm_nodes.read_inventory(refused)


def test_the_cli_imports_and_a_failed_import_changes_nothing(slurm_token: str, tmp_path: Path) -> None:
    """As a deployer: the engines file, the token in the environment, ``pnyx inventory import``."""
    engines = tmp_path / "engines.toml"
    base = Path(__file__).parents[2] / "examples" / "engines" / "slurm.toml"
    engines.write_text(base.read_text().replace("http://127.0.0.1:6820", SLURM_URL))
    env = {
        "PNYX_DATA_DIR": str(tmp_path / "data"),
        "PNYX_ENGINES_FILE": str(engines),
        "PNYX_SLURM_TOKEN": slurm_token,
        "COLUMNS": "200",
    }
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    first = runner.invoke(app, ["inventory", "import", "--from", "slurm"], env=env)
    assert first.exit_code == 0, first.output
    assert "4 nodes added" in first.output
    assert "L1 16, L3 16" in first.output
    again = runner.invoke(app, ["inventory", "import", "--from", "slurm"], env=env)
    assert "0 nodes added, 0 changed, 0 removed, 4 unchanged" in again.output
    engines.write_text(engines.read_text().replace('"gpu:h100"', '"gpu:b200"'))
    bad = runner.invoke(app, ["inventory", "import", "--from", "slurm"], env=env)
    assert isinstance(bad.exception, InvalidInput)
    assert "which the cluster lacks" in str(bad.exception)
    shown = runner.invoke(app, ["inventory", "show"], env=env)
    assert "32 accelerators in 4 nodes" in shown.output  # the first import stands


def test_ray_nodes_become_the_inventory(ray_url: str) -> None:
    section = {
        "url": ray_url,
        "accelerator_resource": "accelerator",
        "site": SITE,
        "types": {"*": "H100-SXM"},
    }
    imported = ray_nodes.read_inventory(RaySettings.from_section(section))
    alive = [n for n in imported.nodes if n.state is NodeState.UP]
    assert len(alive) >= 1
    assert {(n.accelerator_type, n.accelerators, n.safety_level) for n in alive} == {
        ("H100-SXM", 8, SafetyLevel.L1)
    }


def test_a_ray_that_is_down_says_so() -> None:
    section = {"url": "http://127.0.0.1:1", "site": SITE, "types": {"*": "H100-SXM"}}
    with pytest.raises(EngineUnavailable, match=r"Ray dashboard at http://127\.0\.0\.1:1 unreachable"):
        ray_nodes.read_inventory(RaySettings.from_section(section))


# --- Kubernetes: FAKE transport only ----------------------------------------------------------------

FAKE = {"X-Pnyx-Transport": "FAKE in-memory Kubernetes API, no cluster", "Content-Type": "application/json"}


@dataclass
class FakeNodeResponse:
    status: int
    data: bytes
    reason: str = "fake"
    headers: dict[str, str] = field(default_factory=lambda: dict(FAKE))

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def release_conn(self) -> None:
        pass


@dataclass
class FakeNodesTransport:
    """Serves ``GET /api/v1/nodes`` only, and says it is fake."""

    is_fake: bool = True
    nodes: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def request(self, method: str, url: str, **_: Any) -> FakeNodeResponse:
        self.calls.append(f"{method} {url.split('?', maxsplit=1)[0]}")
        assert url.split("?", maxsplit=1)[0].endswith("/api/v1/nodes"), url
        return FakeNodeResponse(200, json.dumps({"kind": "NodeList", "items": self.nodes}).encode())

    def clear(self) -> None:
        pass


def kube_node(name: str, product: str, gpus: str, *, ready: bool = True, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"nvidia.com/gpu.product": product, "pnyx.eu/safety-level": "L3"},
        },
        "spec": spec,
        "status": {
            "allocatable": {"cpu": "96", "nvidia.com/gpu": gpus},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_kubernetes_nodes_through_a_fake_transport() -> None:
    fake = FakeNodesTransport(
        nodes=[
            kube_node("gpu-a", "NVIDIA-H100-80GB-HBM3", "8"),
            kube_node("gpu-b", "NVIDIA-H100-80GB-HBM3", "8", unschedulable=True),
            kube_node("gpu-c", "NVIDIA-H100-80GB-HBM3", "8", ready=False),
            kube_node("cpu-a", "none", "0"),
        ]
    )
    api = client.ApiClient(client.Configuration(host="https://fake-apiserver.invalid"))
    api.rest_client.pool_manager = fake  # type: ignore[assignment]
    settings = KubernetesSettings.from_section(
        {
            "kubeconfig": "/unused",
            "safety_label": "pnyx.eu/safety-level",
            "site": {"id": "k8s", "member_state": "FR"},
            "products": {"NVIDIA-H100-80GB-HBM3": "H100-SXM"},
        }
    )
    try:
        imported = kubernetes_nodes.read_inventory(settings, api)
    finally:
        api.close()  # type: ignore[no-untyped-call]
    assert fake.is_fake
    assert fake.calls == ["GET https://fake-apiserver.invalid/api/v1/nodes"]
    assert [(n.name, n.accelerators, n.safety_level, n.state) for n in imported.nodes] == [
        ("gpu-a", 8, SafetyLevel.L3, NodeState.UP),
        ("gpu-b", 8, SafetyLevel.L3, NodeState.DRAINED),
        ("gpu-c", 8, SafetyLevel.L3, NodeState.DOWN),
    ]
    assert [s.name for s in imported.skipped] == ["cpu-a"]
    assert settings.config.products == {"H100-SXM": "NVIDIA-H100-80GB-HBM3"}  # what the pods select
