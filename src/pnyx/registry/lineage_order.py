"""A run's manifest against what its job was given and recorded, and its data-order record against
the pure order (pure): the files it names among the job's recorded outputs, the dataset it claims
among the job's inputs, the record within the size and cost a true record of the run has, then
equal to the order line for line; and the shards the run read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from pnyx.core.errors import InvalidInput
from pnyx.registry.lineage_model import Manifest, ShardUse
from pnyx.registry.order import OrderSpec, check_record, rank_ranges

MAX_ORDER_WORK = 8_000_000  # lines + ranges + epochs x shards one intake re-derives (5-13 us each)


def check_recorded(manifest: Manifest, recorded: Iterable[str]) -> None:
    """Every file the manifest names is among the job's recorded outputs."""
    have = set(recorded)
    for role, path in manifest.paths().items():
        if path not in have:
            raise InvalidInput(
                f"manifest: {role.value} names {path}, which is not among the job's recorded outputs",
                field=f"manifest.{role.value}",
            )


def check_inputs(manifest: Manifest, inputs: Collection[str]) -> None:
    """The dataset the manifest claims is one the job attempt was given (its recorded inputs)."""
    for version in manifest.datasets:
        if version not in inputs:
            given = ", ".join(sorted(inputs)) or "none"
            raise InvalidInput(
                f"manifest: dataset version {version} is not among the job's inputs (it was given: "
                f"{given}): a model is registered only from a dataset its job read",
                field="manifest.datasets",
                code="dataset_not_an_input",
            )


def check_order_budget(spec: OrderSpec, steps: int, size: int) -> None:
    """Refused up front: a data-order record longer than any true record of the run can be (a
    rank's batch of ``batch_size`` samples touches at most ``ceil((batch_size - 1) / smallest shard) + 1``
    ranges), or a run whose order costs more than ``MAX_ORDER_WORK`` to re-derive."""
    lines = steps * spec.world_size
    per_line = -(-(spec.batch_size - 1) // min(spec.sizes)) + 1  # boundaries inside a batch, plus one
    range_bytes = 5 + _digits(len(spec.sizes)) + 2 * _digits(max(spec.sizes))
    most = lines * (30 + _digits(spec.world_size) + _digits(steps) + per_line * range_bytes)
    if size > most:
        raise InvalidInput(f"the data-order record is {size} bytes; a record of this run is at most {most}",
                           field="data_order", code="order_over_budget")  # fmt: skip
    epochs = lines * spec.batch_size // sum(spec.sizes) + 1
    work = lines * (1 + per_line) + epochs * len(spec.sizes)
    if work > MAX_ORDER_WORK:
        raise InvalidInput(
            f"re-deriving this run's data order ({lines} lines of up to {per_line} ranges, {epochs} "
            f"epochs of {len(spec.sizes)} shards) costs {work} units; the intake's limit is {MAX_ORDER_WORK}",
            field="data_order",
            code="order_over_budget",
        )


def _digits(n: int) -> int:
    return len(str(n))


def order_spec(manifest: Manifest, sizes: Sequence[int]) -> OrderSpec:
    return OrderSpec(
        sizes=tuple(sizes), seed=manifest.seed, world_size=manifest.world_size, batch_size=manifest.batch_size
    )


def check_order(spec: OrderSpec, lines: Iterable[str], steps: int) -> None:
    """The data-order record equals the pure order for every (step, rank) (``order.check_record``)."""
    check_record(spec, lines, steps)


def shards_read(spec: OrderSpec, dataset: str, steps: int) -> tuple[ShardUse, ...]:
    """The shards a run of ``steps`` steps read: all of them once it has gone through an epoch."""
    if steps * spec.world_size * spec.batch_size >= sum(spec.sizes):
        return tuple(ShardUse(dataset=dataset, shard=i) for i in range(len(spec.sizes)))
    shards = {
        r.shard for s in range(steps) for rank in range(spec.world_size) for r in rank_ranges(spec, s, rank)
    }
    return tuple(ShardUse(dataset=dataset, shard=i) for i in sorted(shards))
