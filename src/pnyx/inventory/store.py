"""Inventory tables and the facility repository."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.inventory.model import (
    AcceleratorType,
    Facility,
    InventorySource,
    Island,
    Node,
    NodeState,
    Rack,
    Revision,
    Site,
)
from pnyx.safety.model import SafetyLevel

accelerator_types = sa.Table(
    "accelerator_types",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("vendor", sa.String(40), nullable=False),
    sa.Column("speed_factor", sa.Float(), nullable=False),
    sa.Column("memory_gb", sa.Integer(), nullable=False),
    sa.Column("peak_bf16_tflops", sa.Integer(), nullable=False),
    sa.Column("per_node", sa.Integer(), nullable=False),
    sa.Column("nvlink_domain_size", sa.Integer(), nullable=False),
    sa.Column("rack_nodes", sa.Integer(), nullable=False),
    sa.Column("island_racks", sa.Integer(), nullable=False),
)

sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("member_state", sa.String(2), nullable=False),
    sa.Column("city", sa.String(100), nullable=False),
)

islands = sa.Table(
    "islands",
    metadata,
    sa.Column("id", sa.String(60), primary_key=True),
    sa.Column("site_id", sa.String(40), sa.ForeignKey("sites.id"), nullable=False),
    sa.Column("accelerator_type", sa.String(40), sa.ForeignKey("accelerator_types.name"), nullable=False),
    sa.Column("safety_level", sa.SmallInteger(), nullable=False),
)

racks = sa.Table(
    "racks",
    metadata,
    sa.Column("id", sa.String(60), primary_key=True),
    sa.Column("island_id", sa.String(60), sa.ForeignKey("islands.id"), nullable=False),
)

nodes = sa.Table(
    "nodes",
    metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("rack_id", sa.String(60), sa.ForeignKey("racks.id"), nullable=False),
    sa.Column("island_id", sa.String(60), sa.ForeignKey("islands.id"), nullable=False),
    sa.Column("site_id", sa.String(40), sa.ForeignKey("sites.id"), nullable=False),
    sa.Column("nvlink_domain", sa.String(80), nullable=False),
    sa.Column("accelerator_type", sa.String(40), sa.ForeignKey("accelerator_types.name"), nullable=False),
    sa.Column("accelerators", sa.Integer(), nullable=False),
    sa.Column("safety_level", sa.SmallInteger(), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),  # generated, or the engine it was imported from
    sa.Column("partitions", sa.Text(), nullable=False),  # comma-separated, as the engine names them
    sa.Column("features", sa.Text(), nullable=False),
)

accelerators = sa.Table(
    "accelerators",
    metadata,
    sa.Column("id", sa.String(90), primary_key=True),
    sa.Column("node_id", sa.String(80), sa.ForeignKey("nodes.id"), nullable=False, index=True),
    sa.Column("slot", sa.SmallInteger(), nullable=False),
)

# One row per change of the inventory (generated or imported): its history, and the topology's version.
inventory_revisions = sa.Table(
    "inventory_revisions",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("made_at", UtcDateTime(), nullable=False),
    sa.Column("nodes", sa.Integer(), nullable=False),
    sa.Column("accelerators", sa.Integer(), nullable=False),
    sa.Column("added", sa.Integer(), nullable=False),
    sa.Column("changed", sa.Integer(), nullable=False),
    sa.Column("removed", sa.Integer(), nullable=False),
)

# Children first, for deletion.
TABLES = (accelerators, nodes, racks, islands, sites, accelerator_types)


class FacilityRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def is_empty(self) -> bool:
        return self.conn.execute(sa.select(nodes.c.id).limit(1)).first() is None

    def clear(self) -> None:
        for table in TABLES:
            self.conn.execute(table.delete())

    def save(self, facility: Facility) -> None:
        c = self.conn
        c.execute(accelerator_types.insert(), [_type_row(t) for t in facility.types])
        c.execute(sites.insert(), [_plain(s) for s in facility.sites])
        c.execute(
            islands.insert(), [{**_plain(i), "safety_level": int(i.safety_level)} for i in facility.islands]
        )
        c.execute(racks.insert(), [_plain(r) for r in facility.racks])
        c.execute(nodes.insert(), [_node_row(n) for n in facility.nodes])
        c.execute(accelerators.insert(), list(_accelerator_rows(facility.nodes)))

    def load(self) -> Facility:
        c = self.conn
        return Facility(
            types=tuple(AcceleratorType(**r) for r in c.execute(sa.select(accelerator_types)).mappings()),
            sites=tuple(Site(**r) for r in c.execute(sa.select(sites).order_by(sites.c.id)).mappings()),
            islands=tuple(
                Island(**{**r, "safety_level": SafetyLevel(r["safety_level"])})
                for r in c.execute(sa.select(islands).order_by(islands.c.id)).mappings()
            ),
            racks=tuple(Rack(**r) for r in c.execute(sa.select(racks).order_by(racks.c.id)).mappings()),
            nodes=tuple(_node(r) for r in c.execute(sa.select(nodes).order_by(nodes.c.id)).mappings()),
        )

    def nodes_page(self, *, site: str | None, offset: int, limit: int) -> list[Node]:
        query = sa.select(nodes).order_by(nodes.c.id).offset(offset).limit(limit)
        if site is not None:
            query = query.where(nodes.c.site_id == site)
        return [_node(r) for r in self.conn.execute(query).mappings()]

    def node(self, node_id: str, *, for_update: bool = False) -> Node | None:
        query = sa.select(nodes).where(nodes.c.id == node_id)
        row = self.conn.execute(query.with_for_update() if for_update else query).mappings().first()
        return None if row is None else _node(row)

    def set_state(self, node_id: str, state: NodeState) -> None:
        self.conn.execute(nodes.update().where(nodes.c.id == node_id).values(state=state.value))

    def version(self) -> tuple[int, int, int]:
        """Changes whenever the inventory is generated or imported (cheap: two aggregate queries)."""
        up = sa.func.sum(sa.case((nodes.c.state == "up", 1), else_=0))
        row = self.conn.execute(sa.select(sa.func.count(), sa.func.coalesce(up, 0)).select_from(nodes)).one()
        revision = self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(inventory_revisions.c.id), 0)))
        return int(row[0]), int(row[1]), int(revision.scalar_one())

    def sources(self) -> frozenset[InventorySource]:
        """Where the nodes came from: generated, or the engines they were imported from."""
        found = self.conn.execute(sa.select(nodes.c.source).distinct()).scalars()
        return frozenset(InventorySource(s) for s in found)

    def record_revision(self, revision: Revision) -> None:
        self.conn.execute(inventory_revisions.insert().values(**_plain(revision)))

    def accelerator_count(self) -> int:
        total = sa.select(sa.func.coalesce(sa.func.sum(nodes.c.accelerators), 0))
        return int(self.conn.execute(total).scalar_one())


def _node(row: sa.RowMapping) -> Node:
    return Node(
        **{
            **row,
            "safety_level": SafetyLevel(row["safety_level"]),
            "state": NodeState(row["state"]),
            "source": InventorySource(row["source"]),
            "partitions": _names(row["partitions"]),
            "features": _names(row["features"]),
        }
    )


def _node_row(n: Node) -> dict[str, object]:
    return {
        **_plain(n),
        "safety_level": int(n.safety_level),
        "state": n.state.value,
        "source": n.source.value,
        "partitions": ",".join(n.partitions),
        "features": ",".join(n.features),
    }


def _names(text: str) -> tuple[str, ...]:
    return tuple(name for name in text.split(",") if name)


def _type_row(t: AcceleratorType) -> dict[str, object]:
    return {f: getattr(t, f) for f in t.__slots__}


def _plain(record: Site | Island | Rack | Node | Revision) -> dict[str, object]:
    return {f: getattr(record, f) for f in record.__slots__}


def _accelerator_rows(all_nodes: tuple[Node, ...]) -> Iterator[dict[str, object]]:
    for n in all_nodes:
        for slot in range(n.accelerators):
            yield {"id": f"{n.id}-g{slot}", "node_id": n.id, "slot": slot}
