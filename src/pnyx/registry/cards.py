"""A dataset card (pure): Markdown with YAML front matter, in the shape of Hugging Face dataset
cards (``license``, ``task_categories``, ``size_categories``, ``pretty_name``, ``tags``), plus a
``pnyx`` block with the version's provenance: Merkle root, parent, status, label, manifest digest,
sources with licences and opt-out signals, and how many samples opt-outs and takedowns left out.

Every string in the front matter is written as a JSON string, which YAML reads as the same string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from pnyx.registry import rules as dataset_rules
from pnyx.registry.model import DatasetVersion, Modality

TASKS = {
    Modality.TEXT: "text-generation",
    Modality.CODE: "text-generation",
    Modality.IMAGE: "unconditional-image-generation",
    Modality.AUDIO: "audio-to-audio",
}
SIZES: tuple[tuple[int, str], ...] = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
)
SIZES += ((10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))


def size_category(samples: int) -> str:
    return next((name for limit, name in SIZES if samples < limit), "n>1B")


def card(
    v: DatasetVersion, counts: Mapping[Modality, int], *, url: str, used: frozenset[str] | None = None
) -> str:
    """``used``: the sources that contribute samples (all when None), whose licences apply."""
    return f"---\n{front_matter(v, counts, used)}---\n\n{body(v, counts, url)}"


def front_matter(
    v: DatasetVersion, counts: Mapping[Modality, int], used: frozenset[str] | None = None
) -> str:
    ids = dataset_rules.source_licences(v.sources, used)
    tasks = sorted({TASKS[m] for m in Modality if counts.get(m)})
    lines = [
        f"pretty_name: {_s(v.dataset)}",
        f"license: {_list(sorted({_hf_licence(n) for n in ids}))}",
        f"task_categories: {_list(tasks)}",
        f"size_categories: {_list([size_category(v.samples)])}",
        f"tags: {_list(['pnyx', 'webdataset', *sorted(m.value for m in Modality if counts.get(m))])}",
        "pnyx:",
        *_provenance(v, counts),
    ]
    return "\n".join(lines) + "\n"


def _provenance(v: DatasetVersion, counts: Mapping[Modality, int]) -> list[str]:
    opted_out = sum(1 for s in v.sources if dataset_rules.reservation(s) is not None)
    fields = {
        "version": v.version,
        "parent": v.parent,
        "status": v.status.value,
        "label": str(v.label),
        "manifest_sha256": v.manifest_sha256,
        "shards": len(v.shards),
        "samples": v.samples,
        "bytes": v.size,
        "samples_by_modality": {m.value: counts[m] for m in Modality if counts.get(m)},
        "opted_out_sources": opted_out,
        "tombstones": len(v.tombstones),
    }
    lines = [f"  {name}: {json.dumps(value)}" for name, value in fields.items()]
    lines.append("  sources:")
    for s in v.sources:
        lines.append(f"    - name: {_s(s.name)}")
        lines += [f"      licence: {_s(s.licence)}", f"      origin: {_s(s.origin)}"]
        lines.append(f"      opt_out: {_list(list(s.opt_out))}")
    return lines


def body(v: DatasetVersion, counts: Mapping[Modality, int], url: str) -> str:
    kinds = ", ".join(f"{counts[m]} {m.value}" for m in Modality if counts.get(m)) or "no samples"
    rows = "\n".join(
        f"| {_cell(s.name)} | {_cell(s.licence)} | {_cell(s.origin)} | {_cell(', '.join(s.opt_out) or '-')} |"
        for s in v.sources
    )
    return (
        f"# {v.dataset}\n\n{_text(v.description) or 'A dataset of the Pnyx registry.'}\n\n"
        f"Version `{v.version}` ({v.status.value}), {v.samples} samples ({kinds}) in {len(v.shards)} "
        f"WebDataset shards, {v.size} bytes, labelled {v.label}.\n\n"
        f"## Sources\n\n| source | licence | origin | opt-out signals |\n|---|---|---|---|\n{rows}\n\n"
        f"## Left out\n\n{len(v.tombstones)} samples were left out by opt-out signals or takedown requests; "
        "each stays listed with its reason.\n\n"
        f"## Access\n\nManifest, shards (each with its SHA-256) and Croissant metadata: <{url}>\n"
    )


def _hf_licence(name: str) -> str:
    return "other" if "LicenseRef-" in name else name.lower()


def _s(text: str) -> str:
    return json.dumps(text)


def _list(items: list[str]) -> str:
    return json.dumps(items)


def _cell(text: str) -> str:
    return _text(text).replace("\n", " ")


_MARKDOWN = re.compile(r"([\\`*_\[\]()#!|])")


def _text(text: str) -> str:
    """Text shown as itself in Markdown and in the HTML it renders to: HTML's specials as
    entities, Markdown's punctuation backslash-escaped (no raw tag, link or autolink survives)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return _MARKDOWN.sub(r"\\\1", escaped)
