"""What every command needs: settings, the platform, a console, one way to fail."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from pnyx.db.migrate import ensure_current
from pnyx.settings import Settings
from pnyx.wiring import Platform, build_platform


def console() -> Console:
    """Standard output, made per use so that width and colour follow the environment of the call."""
    return Console()


def errors() -> Console:
    return Console(stderr=True)


@contextmanager
def platform(*, migrated: bool = True) -> Iterator[Platform]:
    """The platform from the environment, its connections closed at the end of the command.

    By default it refuses an unmigrated database, with the message that says what to run.
    """
    built = build_platform(Settings.from_env())
    try:
        if migrated:
            ensure_current(built.engine)
        yield built
    finally:
        built.engine.dispose()
