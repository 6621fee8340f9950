"""The public log holds one digest per attempt's outputs; the manifest behind it is canonical."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from pnyx.jobs.model import Artifact
from pnyx.jobs.rules import outputs_manifest

artifacts = st.lists(
    st.builds(
        Artifact,
        path=st.text(min_size=1, max_size=20),
        sha256=st.text("0123456789abcdef", min_size=64, max_size=64),
        size=st.integers(0, 2**40),
    ),
    unique_by=lambda a: a.path,
    max_size=8,
)


@given(artifacts, st.randoms())
def test_the_manifest_does_not_depend_on_the_order_files_were_found(
    found: list[Artifact], rnd: object
) -> None:
    shuffled = list(found)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert outputs_manifest(shuffled) == outputs_manifest(found)


def test_the_manifest_lists_each_file_by_path_hash_and_size() -> None:
    a = Artifact(path="b.bin", sha256="0" * 64, size=3)
    b = Artifact(path="a.txt", sha256="f" * 64, size=1)
    assert json.loads(outputs_manifest([a, b])) == [
        {"path": "a.txt", "sha256": "f" * 64, "size": 1},
        {"path": "b.bin", "sha256": "0" * 64, "size": 3},
    ]
