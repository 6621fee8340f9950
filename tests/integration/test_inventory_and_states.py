"""Inventory (generated and imported) and member-state stores on both databases."""

from __future__ import annotations

import dataclasses
import json

import pytest

from pnyx.core.errors import Conflict, InvalidInput, NotFound
from pnyx.governance.rules import contribution_shares
from pnyx.inventory.model import EngineInventory, EngineNode, InventorySource, NodeState, Site
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.jobs.topology import check_dispatch, fit_check
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import JobDoesNotFit, PriorityClass
from pnyx.wiring import Platform


def test_generate_store_and_load(platform: Platform) -> None:
    summary = platform.inventory.generate(2000, seed=3)
    assert summary.accelerators == 2000
    loaded = platform.inventory.facility()
    assert loaded.accelerator_count == 2000
    assert platform.inventory.summary() == summary
    with pytest.raises(Conflict):
        platform.inventory.generate(1000)
    assert platform.inventory.generate(1000, replace=True).accelerators == 1000
    assert platform.log.drain() == 2


def test_empty_inventory_is_a_clear_error(platform: Platform) -> None:
    with pytest.raises(NotFound, match="inventory import --from ENGINE"):
        platform.inventory.summary()


def test_member_states(platform: Platform) -> None:
    platform.member_states.admit(code="de", name="Germany", contribution_minor_units=300, population=84)
    platform.member_states.admit(code="FR", name="France", contribution_minor_units=100, population=68)
    states = platform.member_states.list()
    assert [s.code for s in states] == ["DE", "FR"]
    assert contribution_shares(states) == {"DE": 0.75, "FR": 0.25}
    platform.member_states.set_contribution("FR", 300)
    assert contribution_shares(platform.member_states.list())["FR"] == 0.5
    with pytest.raises(InvalidInput):
        platform.member_states.admit(code="DEU", name="X", contribution_minor_units=1, population=1)
    with pytest.raises(Conflict):
        platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=1, population=1)
    with pytest.raises(InvalidInput):
        platform.member_states.admit(code="XX", name="X", contribution_minor_units=-1, population=1)
    assert platform.log.drain() == 3


# --- the inventory imported from an engine ---------------------------------------------------------

SITE = Site(id="infratest", name="Test cluster", member_state="DE", city="Jülich")


def slurm_cluster(*specs: tuple[str, int, NodeState]) -> EngineInventory:
    return EngineInventory(
        source=InventorySource.SLURM,
        site=SITE,
        nodes=tuple(
            EngineNode(
                name=name,
                accelerator_type="H100-SXM",
                accelerators=8,
                safety_level=SafetyLevel(level),
                state=state,
                partitions=("open" if level == 1 else "secure",),
                features=("ib",),
            )
            for name, level, state in specs
        ),
    )


UP, DRAINED = NodeState.UP, NodeState.DRAINED


def _logged(platform: Platform) -> list[dict[str, object]]:
    platform.log.drain()
    return [json.loads(e.data) for e in platform.log.entries(0, platform.log.size())]


def test_import_and_reimport_reconcile_and_are_logged(platform: Platform) -> None:
    first = platform.inventory.import_from(slurm_cluster(("n1", 1, UP), ("n2", 1, UP), ("n3", 3, UP)))
    assert (first.added, first.summary.accelerators) == (("n1", "n2", "n3"), 24)
    stored = platform.inventory.facility()
    assert next((n.id, n.source, n.partitions, n.features) for n in stored.nodes) == (
        "n1",
        InventorySource.SLURM,
        ("open",),
        ("ib",),
    )
    again = platform.inventory.import_from(slurm_cluster(("n1", 1, UP), ("n2", 1, DRAINED), ("n4", 3, UP)))
    assert (again.added, again.removed, again.unchanged) == (("n4",), ("n3",), 1)
    assert [(c.node_id, c.changes) for c in again.changed] == [("n2", {"state": ("up", "drained")})]
    assert [n.id for n in platform.inventory.facility().nodes] == ["n1", "n2", "n4"]
    types = [e["type"] for e in _logged(platform)]
    assert types == [
        *["inventory.node.added"] * 3,
        "inventory.imported",
        "inventory.node.added",
        "inventory.node.changed",
        "inventory.node.removed",
        "inventory.imported",
    ]


def test_another_sources_inventory_is_replaced_only_when_asked(platform: Platform) -> None:
    platform.inventory.generate(64, seed=1)
    with pytest.raises(Conflict, match=r"holds 10 generated nodes.*pass --replace"):
        platform.inventory.import_from(slurm_cluster(("n1", 1, UP)))
    assert platform.inventory.summary().accelerators == 64  # nothing imported half
    platform.inventory.import_from(slurm_cluster(("n1", 1, UP)), replace=True)
    assert platform.inventory.sources() == {InventorySource.SLURM}
    assert _logged(platform)[-1]["data"]["replaced"] == {"generated": 10}  # type: ignore[index]
    with pytest.raises(Conflict, match="already has an inventory"):
        platform.inventory.generate(64)


def test_a_refused_import_changes_nothing(platform: Platform) -> None:
    platform.inventory.import_from(slurm_cluster(("n1", 1, UP), ("n2", 1, UP)))
    mixed = slurm_cluster(("n1", 1, UP))
    odd = dataclasses.replace(mixed.nodes[0], name="n9", accelerators=4)
    with pytest.raises(InvalidInput, match="differ in accelerators per node"):
        platform.inventory.import_from(dataclasses.replace(mixed, nodes=(*mixed.nodes, odd)))
    assert [n.id for n in platform.inventory.facility().nodes] == ["n1", "n2"]
    assert [e["type"] for e in _logged(platform)].count("inventory.imported") == 1


def test_the_scheduler_sees_each_import(platform: Platform) -> None:
    platform.inventory.import_from(slurm_cluster(("n1", 1, UP), ("n2", 3, UP)))
    before = platform.topology.topology()
    assert platform.topology.topology() is before  # cached while the inventory stands
    platform.inventory.import_from(slurm_cluster(("n1", 1, DRAINED), ("n2", 3, UP)))
    after = platform.topology.topology()
    assert (before.node_up, after.node_up) == ((True, True), (False, True))
    assert platform.topology.current().engine == "slurm"


def test_jobs_for_another_engine_are_refused_on_an_imported_inventory(platform: Platform) -> None:
    platform.inventory.import_from(slurm_cluster(("n1", 1, UP)))
    job = JobRecord(
        id="job-1",
        name="x",
        project="p",
        user="u",
        engine="local",
        accelerator_type=None,
        accelerators=8,
        estimate_s=60,
        checkpoint_s=0,
        priority_class=PriorityClass.ENTITLED,
        label=Label(level=SafetyLevel.L1, categories=frozenset({"project:p"})),
        status=JobStatus.PENDING,
        submitted_at=platform.clock.now(),
    )
    check = fit_check(platform.topology)
    with pytest.raises(InvalidInput, match="imported from slurm: jobs run there, not on the 'local' engine"):
        check(job)
    check(dataclasses.replace(job, engine="slurm"))
    with pytest.raises(JobDoesNotFit, match="largest gang"):
        check(dataclasses.replace(job, engine="slurm", accelerators=16))


def test_a_dispatcher_schedules_only_its_engines_hardware(platform: Platform) -> None:
    with pytest.raises(InvalidInput, match="PNYX_EXECUTOR=slurm, but the inventory is empty"):
        check_dispatch("slurm", {}, None)
    check_dispatch("local", {}, None)
    platform.inventory.generate(64, seed=1)
    generated = platform.topology.current()
    with pytest.raises(
        InvalidInput, match=r"inventory is generated \(the twin and the demo\): run `pnyx inv"
    ):
        check_dispatch("slurm", {}, generated)
    check_dispatch("local", {"ray": frozenset({"H100-SXM"})}, generated)
    platform.inventory.import_from(slurm_cluster(("n1", 1, UP)), replace=True)
    imported = platform.topology.current()
    check_dispatch("slurm", {"slurm": frozenset({"H100-SXM"})}, imported)
    with pytest.raises(
        InvalidInput, match="slurm settings map to accelerator types the inventory lacks: H200"
    ):
        check_dispatch("slurm", {"slurm": frozenset({"H100-SXM", "H200"})}, imported)
