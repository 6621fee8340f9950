"""What a job or a user wrote never drives the terminal of the person reading it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pnyx.cli.context import inert


def test_control_sequences_and_bidi_overrides_are_shown_as_escapes() -> None:
    assert inert("\x1b[2J\x1b]0;owned\x07done", markup=False) == "\\x1b[2J\\x1b]0;owned\\x07done"
    assert inert("abc\u202edcba", markup=False) == "abc\\u202edcba"
    assert inert("line one\nline\ttwo", markup=False) == "line one\nline\ttwo"  # layout stays


def test_rich_markup_is_escaped_for_console_print() -> None:
    assert inert("[link=http://x]click[/link]") == "\\[link=http://x]click\\[/link]"


@given(st.text())
def test_nothing_unsafe_survives(text: str) -> None:
    shown = inert(text, markup=False)
    assert not any(ord(c) < 0x20 and c not in "\n\t" for c in shown)
    assert not any(0x7F <= ord(c) < 0xA0 or 0x202A <= ord(c) <= 0x202E for c in shown)
