"""Croissant 1.1 JSON-LD for a dataset version (pure: a dict, no I/O).

Each shard is a ``cr:FileObject`` (its SHA-256 and size, downloadable from the registry's API); the
samples inside are ``cr:FileSet``s by modality (``containedIn`` every shard) with a ``cr:RecordSet``
per modality (key and content) and one over the ``<key>.json`` records (sha256, modality, source).
Licences are SPDX URLs; ``citeAs`` is a BibTeX entry. See https://docs.mlcommons.org/croissant/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pnyx.registry import rules
from pnyx.registry.model import PAYLOAD_EXTENSION, DatasetVersion, Modality

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
PUBLISHER = "Pnyx public AI supercomputer: dataset registry"

CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "description": {"@container": "@language"},
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "name": {"@container": "@language"},
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

ENCODING = {
    Modality.TEXT: "text/plain",
    Modality.CODE: "text/plain",
    Modality.IMAGE: "image/x-portable-graymap",
    Modality.AUDIO: "audio/wav",
}
CONTENT_TYPE = {
    Modality.TEXT: "sc:Text",
    Modality.CODE: "sc:Text",
    Modality.IMAGE: "sc:ImageObject",
    Modality.AUDIO: "sc:AudioObject",
}


def version_url(base_url: str, version: str) -> str:
    return f"{base_url.rstrip('/')}/api/v1/registry/datasets/versions/{version}"


def croissant(
    v: DatasetVersion,
    counts: Mapping[Modality, int],
    *,
    base_url: str,
    generation: int = 1,
    used: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The version's Croissant document. ``counts``: samples per modality; ``generation``: the
    version's place among its dataset's versions (1 for the first), its semantic version's major
    number (the Merkle root rides along as build metadata); ``used``: the sources that contribute
    samples (all when None), whose licences apply."""
    url = version_url(base_url, v.version)
    present = [m for m in Modality if counts.get(m)]
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": v.dataset,
        "description": _description(v, counts),
        "conformsTo": CONFORMS_TO,
        "identifier": v.version,
        "version": f"{generation}.0.0+{v.version}",
        "url": url,
        "license": licence_urls(v, used),
        "citeAs": cite_as(v, url),
        "creator": {"@type": "sc:Organization", "name": PUBLISHER},
        "datePublished": v.created_at.date().isoformat(),
        "isAccessibleForFree": True,
        "rai:dataCollection": collection(v),
        "distribution": [_shard(s.index, s.name, s.sha256, s.size, url) for s in v.shards]
        + [_file_set(v, "records", "application/json", "json")]
        + [_file_set(v, m.value, ENCODING[m], PAYLOAD_EXTENSION[m]) for m in present],
        "recordSet": [_records()] + [_modality_records(m) for m in present],
    }


def licence_urls(v: DatasetVersion, used: frozenset[str] | None = None) -> list[str]:
    return [_licence_url(name) for name in rules.source_licences(v.sources, used)]


def _licence_url(name: str) -> str:
    if "LicenseRef-" in name:
        return name
    return f"https://spdx.org/licenses/{name.removesuffix('+')}.html"


def cite_as(v: DatasetVersion, url: str) -> str:
    return (
        f"@misc{{pnyx-{v.dataset}-{v.version[:12]},\n  title = {{{v.dataset}}},\n"
        f"  author = {{{{{PUBLISHER}}}}},\n  year = {{{v.created_at.year}}},\n"
        f"  howpublished = {{\\url{{{url}}}}},\n  note = {{dataset version {v.version}}}\n}}"
    )


def collection(v: DatasetVersion) -> str:
    """Where the samples came from, with the licence and opt-out signals seen at collection time."""
    lines = [
        f"{s.name}: {s.origin} under {s.licence}; opt-out signals seen: {', '.join(s.opt_out) or 'none'}"
        for s in v.sources
    ]
    return "\n".join([*lines, f"{len(v.tombstones)} samples left out by opt-outs or takedowns."])


def _description(v: DatasetVersion, counts: Mapping[Modality, int]) -> str:
    parts = ", ".join(f"{counts[m]} {m.value}" for m in Modality if counts.get(m))
    text = v.description or f"Dataset {v.dataset}"
    return f"{text} ({v.samples} samples: {parts or 'none'}; {len(v.shards)} WebDataset shards)."


def _shard(index: int, name: str, sha256: str, size: int, url: str) -> dict[str, Any]:
    return {
        "@type": "cr:FileObject",
        "@id": name,
        "name": name,
        "description": f"WebDataset shard {index}",
        "contentUrl": f"{url}/shards/{index}",
        "contentSize": f"{size} B",
        "encodingFormat": "application/x-tar",
        "sha256": sha256,
    }


def _file_set(v: DatasetVersion, name: str, encoding: str, extension: str) -> dict[str, Any]:
    return {
        "@type": "cr:FileSet",
        "@id": f"{name}-files",
        "name": f"{name}-files",
        "containedIn": [{"@id": s.name} for s in v.shards],
        "encodingFormat": encoding,
        "includes": f"*.{extension}",
    }


def _field(record: str, name: str, data_type: str, source: dict[str, Any], about: str) -> dict[str, Any]:
    return {
        "@type": "cr:Field",
        "@id": f"{record}/{name}",
        "name": name,
        "description": about,
        "dataType": data_type,
        "source": source,
    }


def _records() -> dict[str, Any]:
    files = {"fileSet": {"@id": "records-files"}}
    fields = [
        _field("samples", name, "sc:Text", {**files, "extract": {"jsonPath": f"$.{name}"}}, about)
        for name, about in (
            ("sha256", "SHA-256 of the sample's payload: its key"),
            ("modality", "text, code, image or audio"),
            ("source", "the source it was collected from (see rai:dataCollection)"),
        )
    ]
    return {
        "@type": "cr:RecordSet",
        "@id": "samples",
        "name": "samples",
        "description": "Every sample's record.",
        "field": fields,
    }


def _modality_records(m: Modality) -> dict[str, Any]:
    files = {"fileSet": {"@id": f"{m.value}-files"}}
    key = {**files, "extract": {"fileProperty": "filename"}, "transform": {"regex": r"^([0-9a-f]{64})\.\w+$"}}
    content = {**files, "extract": {"fileProperty": "content"}}
    return {
        "@type": "cr:RecordSet",
        "@id": m.value,
        "name": m.value,
        "description": f"The {m.value} samples.",
        "field": [
            _field(m.value, "key", "sc:Text", key, "SHA-256 of the payload"),
            _field(m.value, "content", CONTENT_TYPE[m], content, f"The {m.value} payload"),
        ],
    }
