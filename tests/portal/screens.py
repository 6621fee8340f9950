"""Screenshots the Chromium tests keep as artifacts, named for what they show: under
$PNYX_TEST_ARTIFACTS when set (a CI job collects it), else in ``tests/portal/artifacts/`` (ignored by
git, where the portal's other tests keep theirs), one folder per test module."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

ARTIFACTS = Path(__file__).parent / "artifacts"


def artifacts_dir(module: str) -> Path:
    root = Path(os.environ.get("PNYX_TEST_ARTIFACTS") or ARTIFACTS)
    folder = root / module.rsplit(".", 1)[-1]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shot(page: Page, module: str, name: str) -> Path:
    """A full-page screenshot of ``page`` for the test module ``module`` (its ``__name__``)."""
    path = artifacts_dir(module) / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path
