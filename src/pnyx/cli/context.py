"""What every command needs: settings, the platform, a console, one way to fail."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Column

from pnyx.db.migrate import ensure_current, require_database
from pnyx.settings import Settings
from pnyx.wiring import Platform, build_platform, engine_settings

PIPED_WIDTH = 1000  # output to a pipe or a file: no terminal to fit, so lines are not cut at 80


def console() -> Console:
    """Standard output, made per use so that width and colour follow the environment of the call."""
    return Console(width=_width(sys.stdout))


_UNSAFE = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))}
_UNSAFE.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def inert(text: str, *, markup: bool = True) -> str:
    """Text a job or a user wrote, made safe to print: terminal control sequences and bidirectional
    overrides shown as escapes (a job cannot clear the screen or fake the platform's lines), and Rich
    markup escaped when the text goes through ``Console.print``."""
    shown = text.translate(_UNSAFE)
    return escape(shown) if markup else shown


def full_id(header: str = "version") -> Column:
    """A table column for an id commands take back (a 64-hex version): whole, never cut to fit."""
    return Column(header, no_wrap=True, min_width=64)


def errors() -> Console:
    """Errors are never broken into lines (the terminal wraps them): scripts match on whole messages."""
    return Console(stderr=True, width=_width(sys.stderr), soft_wrap=True)


def _width(stream: TextIO) -> int | None:
    """Rich's own width on a terminal or when COLUMNS says; PIPED_WIDTH when the output is piped."""
    if os.environ.get("COLUMNS") or stream.isatty():
        return None
    return PIPED_WIDTH


@contextmanager
def platform(*, migrated: bool = True, create: bool = False) -> Iterator[Platform]:
    """The platform from the environment, its connections closed at the end of the command.

    By default it refuses an unmigrated database, with the message that says what to run. Only
    ``create=True`` (``pnyx db upgrade``) may create a SQLite database that is not there yet.
    """
    settings = Settings.from_env()
    engine_settings(settings)  # a bad engines file is named first, as by every command
    if not create:
        require_database(settings.database_url)
    built = build_platform(settings)
    try:
        if migrated:
            ensure_current(built.engine)
        yield built
    finally:
        built.engine.dispose()
