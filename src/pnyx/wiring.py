"""Composition root: builds the engine, clock, unit of work, services and signer from settings."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from pnyx.accounting.service import AccountingService, NoBudgets
from pnyx.core.clock import Clock, SystemClock
from pnyx.db.engine import create_engine
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.governance.rules import contribution_shares
from pnyx.governance.service import MemberStateService
from pnyx.identity.service import IdentityService
from pnyx.inventory.rules import accelerator_type
from pnyx.inventory.service import InventoryService
from pnyx.settings import Settings
from pnyx.transparency.note import NoteSigner
from pnyx.transparency.service import LogService
from pnyx.transparency.signing import load_signer


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    settings: Settings
    engine: sa.Engine
    clock: Clock
    uow: UnitOfWork
    identity: IdentityService
    inventory: InventoryService
    member_states: MemberStateService
    log: LogService
    accounting: AccountingService


def build_platform(
    settings: Settings, *, clock: Clock | None = None, signer: NoteSigner | None = None
) -> Platform:
    engine = create_engine(settings.database_url)
    clock = clock or SystemClock()
    uow = UnitOfWork(engine=engine, clock=clock)
    if signer is None and settings.log_key_file.exists():
        signer = load_signer(settings.log_key_file)
    inventory = InventoryService(uow)
    member_states = MemberStateService(uow)
    return Platform(
        settings=settings,
        engine=engine,
        clock=clock,
        uow=uow,
        identity=IdentityService(uow),
        inventory=inventory,
        member_states=member_states,
        log=LogService(uow, signer),
        accounting=AccountingService(
            uow,
            budgets=NoBudgets(),
            shares_at=lambda _at: contribution_shares(member_states.list()),
            capacity=inventory.accelerator_count,
            speed_of=lambda name: accelerator_type(name).speed_factor,
        ),
    )
