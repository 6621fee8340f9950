"""What every command needs: settings, the platform, a console, one way to fail."""

from __future__ import annotations

from rich.console import Console

from pnyx.db.migrate import ensure_current
from pnyx.settings import Settings
from pnyx.wiring import Platform, build_platform

console = Console()
errors = Console(stderr=True)


def platform(*, migrated: bool = True) -> Platform:
    """The platform from the environment; by default refuses an unmigrated database."""
    built = build_platform(Settings.from_env())
    if migrated:
        ensure_current(built.engine)
    return built
