"""Takedowns: a request by origin or by sample hash leaves those samples out. It makes a new version
without them (parent: the dataset's current one; their tombstones carry the reason and the request
id), withdraws every version of the dataset that held one (no new job reads it, its shards are no
longer served), and names every model version trained on an affected shard (``TrainedOn``).

Operators and safety officers take samples down from any dataset they may see; a researcher from
their own project's datasets. A dataset the caller may not see answers as an unknown one (NotFound),
so a takedown is no probe of what it holds. The new shards are written to the blob store before the
one transaction that records the request, the hashes of every sample it covers (a later import of the
dataset leaves them out, whatever their origin is called then), the new version and the withdrawals;
after it commits, each withdrawn version's directory is removed (staging one then fails closed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pnyx.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from pnyx.core.ids import new_id
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.registry import rules, shards
from pnyx.registry.events import MAX_LISTED, DatasetTakedownApplied
from pnyx.registry.model import (
    Dataset,
    DatasetVersion,
    Sample,
    Takedown,
    Tombstone,
    VersionAction,
    VersionStatus,
)
from pnyx.registry.store import DatasetRepository
from pnyx.registry.subjects import ProjectClearance, TrainedOn
from pnyx.registry.versions import VersionWriter, act, check_same_dataset, created_event, flat


class Takedowns:
    def __init__(
        self,
        uow: UnitOfWork,
        writer: VersionWriter,
        *,
        projects: ProjectClearance,
        trained_on: TrainedOn,
        visible: Callable[[Principal, DatasetVersion], bool] = lambda by, v: True,
    ) -> None:
        """``visible``: whether a person may see a version (``DatasetService``'s read rule)."""
        self.uow = uow
        self.visible = visible
        self.writer = writer
        self.blobs = writer.blobs
        self.projects = projects
        self.trained_on = trained_on

    def apply(
        self,
        by: Principal,
        dataset: str,
        *,
        reason: str,
        origin: str | None = None,
        samples: Sequence[str] = (),
    ) -> Takedown:
        """Leave out every sample from ``origin`` and every one of ``samples``: a new version without
        them (parent: the current one), every version that held one withdrawn, and the model
        versions trained on an affected shard named in the result and its event."""
        reason = rules.check_reason(reason)
        hashes = rules.check_takedown_target(origin, samples)
        history = self._history(by, dataset)
        current, held = next((v, s) for v, s in history.values() if v.status is VersionStatus.CURRENT)
        removed = rules.removed_by(held, current.sources, origin=origin, hashes=hashes)
        if not removed:
            field = "samples" if origin is None else "origin"
            raise InvalidInput(
                f"no sample of {dataset} version {current.version} matches the request", field=field
            )
        affected = rules.affected_shards(
            {v: (found.sources, s) for v, (found, s) in history.items()}, origin=origin, hashes=hashes
        )
        covered = {
            s.sha256
            for found, held_then in history.values()
            for s in rules.removed_by(held_then, found.sources, origin=origin, hashes=hashes)
        }
        plan = _Plan(
            request=new_id("tdn"),
            reason=reason,
            origin=origin,
            hashes=hashes,
            removed=removed,
            affected=affected,
            covered=frozenset(covered),
        )
        made, placed = self._derive(by, current, held, plan)
        return self._apply(by, current, made, placed, plan, self._models(affected))

    def _history(self, by: Principal, dataset: str) -> dict[str, tuple[DatasetVersion, list[Sample]]]:
        require_role(by, *Role)
        with self.uow.read() as conn:
            repo = DatasetRepository(conn)
            found = repo.dataset(dataset)
            versions = [] if found is None else repo.versions(dataset)
            if found is None or not self._may_see(by, found, versions):
                raise NotFound(f"no dataset {dataset!r} that you may see", field="dataset")
            self._may_take_down(by, found)
            if found.current is None:
                raise Conflict(f"dataset {dataset} has no current version left", field="dataset")
            return {v.version: (v, repo.samples(v.version)) for v in versions}

    def _member(self, by: Principal, dataset: Dataset) -> bool:
        return dataset.project is not None and self.projects.member_clearance(by, dataset.project) is not None

    def _may_see(self, by: Principal, dataset: Dataset, versions: Iterable[DatasetVersion]) -> bool:
        """A member sees their project's datasets; anyone else what the read rule lets them see."""
        return self._member(by, dataset) or any(self.visible(by, v) for v in versions)

    def _may_take_down(self, by: Principal, dataset: Dataset) -> None:
        if by.roles & {Role.OPERATOR, Role.SAFETY_OFFICER}:
            return
        if not self._member(by, dataset):
            raise Forbidden(
                "operators and safety officers take samples down; researchers from their project's datasets",
                field="dataset",
            )

    def _models(self, affected: dict[str, tuple[int, ...]]) -> list[str]:
        return sorted({m for v, hit in affected.items() for m in self.trained_on.models_trained_on(v, hit)})

    def _derive(
        self, by: Principal, current: DatasetVersion, held: Sequence[Sample], plan: _Plan
    ) -> tuple[DatasetVersion | None, list[Sample]]:
        """The new version's shards (written to the blob store) and placed samples; None when the
        takedown leaves nothing."""
        gone = {s.sha256 for s in plan.removed}
        kept = [s for s in held if s.sha256 not in gone]
        if not kept:
            return None, []
        per_shard = max(s.samples for s in current.shards)
        placed = flat(rules.plan_shards(kept, per_shard))
        stored = shards.store_shards(self.blobs, self._kept_payloads(current, gone), per_shard)
        template = replace(
            current,
            parent=current.version,
            tombstones=current.tombstones + _tombstones(plan),
            status=VersionStatus.CURRENT,
            successor=None,
            created_by=by.name,
            created_at=self.uow.clock.now(),
            modalities=frozenset(s.modality for s in kept),
        )
        return self.writer.seal(template, stored), placed

    def _kept_payloads(self, v: DatasetVersion, gone: set[str]) -> Iterator[tuple[Sample, bytes]]:
        for shard in v.shards:
            with self.blobs.open(shard.sha256) as handle:
                yield from (
                    (s, data) for s, data in shards.read_shard(handle, shard.name) if s.sha256 not in gone
                )

    def _apply(
        self,
        by: Principal,
        current: DatasetVersion,
        made: DatasetVersion | None,
        placed: Sequence[Sample],
        plan: _Plan,
        models: list[str],
    ) -> Takedown:
        with self.uow.write() as tx:
            repo = DatasetRepository(tx.conn)
            _check_unchanged(repo, current)
            to_version = None if made is None else self._install(repo, tx, made, placed, plan)
            for version in sorted(plan.affected):
                if version != to_version:
                    act(repo, version, VersionAction.WITHDRAW, to_version, skip=VersionStatus.WITHDRAWN)
            repo.set_current(current.dataset, to_version)
            done = _takedown(plan, current, to_version, by, tx.now, models)
            repo.add_takedown(done, sorted(plan.covered))
            tx.emit(_applied(done, plan, redact=current.project is not None))
        for version in done.withdrawn:
            self.writer.remove(version)
        if made is not None:
            self.writer.materialise(made)
        return done

    def _install(
        self,
        repo: DatasetRepository,
        tx: Transaction,
        made: DatasetVersion,
        placed: Sequence[Sample],
        plan: _Plan,
    ) -> str:
        """Register the new version; one equal to an older version of the dataset is reinstated."""
        existing = repo.version(made.version, for_update=True)
        if existing is None:
            repo.add_version(replace(made, created_at=tx.now), placed)
            tx.emit(created_event(replace(made, created_at=tx.now), placed))
            return made.version
        check_same_dataset(existing, made.dataset)
        act(repo, existing.version, VersionAction.REINSTATE, None)
        listed = {t.sample_sha256 for t in existing.tombstones}
        repo.add_tombstones(existing.version, [t for t in _tombstones(plan) if t.sample_sha256 not in listed])
        return existing.version


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    request: str
    reason: str
    origin: str | None
    hashes: frozenset[str]
    removed: Sequence[Sample]  # from the current version
    affected: dict[str, tuple[int, ...]]  # every version holding a removed sample: its shards that do
    covered: frozenset[str]  # every sample hash the request covers in any version of the dataset


def _check_unchanged(repo: DatasetRepository, current: DatasetVersion) -> None:
    found = repo.dataset(current.dataset, for_update=True)
    if found is None or found.current != current.version:
        raise Conflict(f"dataset {current.dataset} changed meanwhile; ask again", field="dataset")


def _tombstones(plan: _Plan) -> tuple[Tombstone, ...]:
    return tuple(
        Tombstone(
            sample_sha256=s.sha256, source=s.source, reason=f"takedown: {plan.reason}", request=plan.request
        )
        for s in plan.removed
    )


def _takedown(
    plan: _Plan,
    current: DatasetVersion,
    to_version: str | None,
    by: Principal,
    now: datetime,
    models: list[str],
) -> Takedown:
    return Takedown(
        id=plan.request,
        dataset=current.dataset,
        origin=plan.origin,
        samples=tuple(sorted(plan.hashes)),
        reason=plan.reason,
        requested_by=by.name,
        requested_at=now,
        from_version=current.version,
        to_version=to_version,
        removed=len(plan.removed),
        withdrawn=tuple(sorted(plan.affected)),
        affected_models=tuple(models),
    )


def _applied(done: Takedown, plan: _Plan, *, redact: bool) -> DatasetTakedownApplied:
    """The public entry: lists capped (``MAX_LISTED`` ids, the count, a digest over all), and a
    project's dataset redacted (no name, no reason, no digest of the hashes named)."""
    named = "\n".join(sorted(plan.hashes))
    return DatasetTakedownApplied(
        request_id=done.id,
        dataset="" if redact else done.dataset,
        from_version=done.from_version,
        to_version=done.to_version,
        removed=done.removed,
        reason="" if redact else done.reason,
        by_origin=done.origin is not None,
        samples_digest=_digest(sorted(plan.hashes)) if named and not redact else "",
        withdrawn=list(done.withdrawn[:MAX_LISTED]),
        withdrawn_count=len(done.withdrawn),
        withdrawn_digest=_digest(done.withdrawn),
        affected_models=list(done.affected_models[:MAX_LISTED]),
        affected_model_count=len(done.affected_models),
        affected_models_digest=_digest(done.affected_models),
        by=done.requested_by,
        redacted=redact,
    )


def _digest(ids: Sequence[str]) -> str:
    """SHA-256 (hex) over ``ids``, sorted, joined by newlines."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
