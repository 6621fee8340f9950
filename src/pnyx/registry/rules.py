"""Pure dataset rules: what an import directory may hold, how samples become shards, what names a
version, which opt-out signals reserve a source, and the one transition table of a version's status.

No I/O and no clock. Payload checks take bytes; the service reads them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

from pnyx.core.errors import Conflict, InvalidInput
from pnyx.registry import licences
from pnyx.registry.model import (
    MANIFEST_FORMAT,
    PAYLOAD_EXTENSION,
    Modality,
    Sample,
    Shard,
    Source,
    Takedown,
    VersionAction,
    VersionStatus,
)
from pnyx.transparency.merkle import leaf_hash, root_from_leaf_hashes

SOURCES_FILE = "sources.json"
DEFAULT_SHARD_SAMPLES = 1000
MAX_SHARD_SAMPLES = 1_000_000
MAX_SAMPLE_BYTES = 64 * 1024 * 1024
MAX_SOURCES_BYTES = 1024 * 1024
MAX_ORIGIN = 500
MAX_REASON = 1000
MAX_VERSIONS = 1000  # imported versions of one dataset
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}")
SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
HEX64 = re.compile(r"[0-9a-f]{64}")
SOURCE_KEYS = frozenset({"licence", "license", "origin", "opt_out"})

TEXT = ("txt", "md")
CODE: tuple[str, ...] = (
    "py",
    "c",
    "h",
    "cc",
    "cpp",
    "hpp",
    "rs",
    "js",
    "ts",
    "go",
    "java",
    "kt",
    "scala",
    "rb",
    "jl",
)
CODE += ("sh", "lua", "hs", "ml", "swift", "r", "sql", "cs", "php", "pl")
EXTENSIONS: Mapping[str, Modality] = MappingProxyType(
    dict.fromkeys(TEXT, Modality.TEXT)
    | dict.fromkeys(CODE, Modality.CODE)
    | {"pgm": Modality.IMAGE, "wav": Modality.AUDIO}
)

# Opt-out signals as collected (lower case). Reserving ones keep a source's samples out of every
# version, each tombstoned with the signal as the reason; the others record that the signal was seen.
RESERVING: Mapping[str, str] = MappingProxyType(
    {
        "tdm-reservation=1": "TDM reservation (W3C TDMRep, EU DSM Directive art. 4(3))",
        "robots:noai": "robots meta or X-Robots-Tag noai",
        "robots:noimageai": "robots meta or X-Robots-Tag noimageai",
        "ai.txt:disallow": "ai.txt disallows AI training",
        "robots.txt:disallow-ai": "robots.txt disallows AI crawlers (GPTBot, CCBot, Google-Extended ...)",
    }
)
PERMITTING = frozenset({"tdm-reservation=0", "ai.txt:allow", "robots:all"})

VERSION_TABLE: Mapping[tuple[VersionStatus, VersionAction], VersionStatus] = MappingProxyType(
    {
        (VersionStatus.CURRENT, VersionAction.SUPERSEDE): VersionStatus.SUPERSEDED,
        (VersionStatus.CURRENT, VersionAction.WITHDRAW): VersionStatus.WITHDRAWN,
        (VersionStatus.SUPERSEDED, VersionAction.WITHDRAW): VersionStatus.WITHDRAWN,
        # a takedown whose result equals an older version (it removed exactly what came after it)
        (VersionStatus.SUPERSEDED, VersionAction.REINSTATE): VersionStatus.CURRENT,
    }
)


def version_next(status: VersionStatus, action: VersionAction) -> VersionStatus:
    found = VERSION_TABLE.get((status, action))
    if found is None:
        raise Conflict(f"a {status.value} dataset version cannot {action.value}", field="version")
    return found


# --- names and limits ----------------------------------------------------------------------------


def check_name(name: str) -> str:
    if NAME.fullmatch(name) is None:
        raise InvalidInput(
            f"dataset name {name!r} must be 1-80 of a-z 0-9 . _ - (starting with a letter or digit)",
            field="name",
        )
    return name


def check_shard_samples(count: int) -> int:
    if not 1 <= count <= MAX_SHARD_SAMPLES:
        raise InvalidInput(
            f"shard_samples must be 1..{MAX_SHARD_SAMPLES}, got {count}", field="shard_samples"
        )
    return count


def check_version(version: str) -> str:
    if HEX64.fullmatch(version) is None:
        raise InvalidInput(f"{version!r} is not a dataset version (64 hex digits)", field="version")
    return version


def check_version_count(dataset: str, count: int) -> None:
    """A dataset holds at most ``MAX_VERSIONS`` imported versions (takedowns may add more)."""
    if count >= MAX_VERSIONS:
        raise Conflict(
            f"dataset {dataset} has {count} versions; the limit is {MAX_VERSIONS}: import under a new name",
            field="name",
            code="dataset_versions_limit",
        )


def check_quota(held: int, adding: int, quota: int, project: str | None) -> None:
    """``held`` stored bytes plus ``adding`` stay within ``quota`` (Conflict naming the quota)."""
    if held + adding > quota:
        whose = f"project {project}'s datasets" if project else "the public datasets you imported"
        raise Conflict(
            f"storage quota: {whose} hold {held} bytes; adding {adding} would pass the quota of {quota} "
            "bytes (PNYX_REGISTRY_PROJECT_BYTES); an operator may raise it",
            field="quota",
            code="quota_exceeded",
        )


def check_reason(reason: str) -> str:
    if not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidInput(f"a takedown needs a reason of 1..{MAX_REASON} characters", field="reason")
    return check_text(reason.strip(), "reason")


def check_text(text: str, field: str) -> str:
    """Text for the database and the public log: no control character (a newline aside), no lone
    surrogate (neither database stores one; PostgreSQL refuses NUL)."""
    for char in text:
        if (ord(char) < 0x20 and char != "\n") or ord(char) == 0x7F or 0xD800 <= ord(char) <= 0xDFFF:
            raise InvalidInput(
                f"{field} holds a control character or a lone surrogate ({ord(char):#x})", field=field
            )
    return text


# --- sources.json --------------------------------------------------------------------------------


def parse_sources(data: bytes) -> tuple[Source, ...]:
    """``{"<source>": {"licence", "origin", "opt_out": [...]}}``, sorted by name; every fault names
    the field (``sources.json:<source>.licence``)."""
    if len(data) > MAX_SOURCES_BYTES:
        raise InvalidInput(f"{SOURCES_FILE} is larger than {MAX_SOURCES_BYTES} bytes", field=SOURCES_FILE)
    try:
        found = json.loads(data, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"{SOURCES_FILE} is not JSON: {shorten(str(exc))}", field=SOURCES_FILE) from None
    if not isinstance(found, dict) or not found:
        raise InvalidInput(f"{SOURCES_FILE} must be an object naming at least one source", field=SOURCES_FILE)
    return tuple(source(name, found[name]) for name in sorted(found))


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"key {shorten(key, 80)!r} appears twice in one object")
        found[key] = value
    return found


def shorten(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters (``...`` marks a cut): for hostile names in messages."""
    return text if len(text) <= limit else text[:limit] + "..."


def source(name: str, entry: object) -> Source:
    where = f"{SOURCES_FILE}:{shorten(name, 80)}"
    if SOURCE_NAME.fullmatch(name) is None:
        raise InvalidInput(f"{where}: a source name is 1-64 of A-Z a-z 0-9 . _ -", field=where)
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where} must be an object with licence, origin and opt_out", field=where)
    unknown = sorted(set(entry) - SOURCE_KEYS)
    if unknown or {"licence", "license"} <= set(entry):
        what = f"unknown key {shorten(unknown[0], 80)!r}" if unknown else "both licence and license"
        raise InvalidInput(
            f"{where} has {what} (known: {', '.join(sorted(SOURCE_KEYS))})",
            field=f"{where}.{shorten(unknown[0], 80) if unknown else 'licence'}",
        )
    licence = entry.get("licence", entry.get("license"))
    if not isinstance(licence, str) or not licence.strip():
        raise InvalidInput(
            f"{where} has no licence (an SPDX identifier or expression)", field=f"{where}.licence"
        )
    origin = entry.get("origin")
    if not isinstance(origin, str) or not origin.strip() or len(origin) > MAX_ORIGIN:
        raise InvalidInput(f"{where} needs an origin of 1..{MAX_ORIGIN} characters", field=f"{where}.origin")
    check_text(origin, f"{where}.origin")
    signals = entry.get("opt_out", [])
    if not isinstance(signals, list) or not all(isinstance(s, str) for s in signals):
        raise InvalidInput(f"{where}.opt_out must be a list of strings", field=f"{where}.opt_out")
    return Source(
        name=name,
        licence=licences.normalise(licence, f"{where}.licence"),
        origin=origin.strip(),
        opt_out=parse_signals(signals, f"{where}.opt_out"),
    )


def parse_signals(signals: Iterable[str], field: str) -> tuple[str, ...]:
    """The signals, lower-cased, sorted, each once; an unknown one is refused rather than ignored."""
    found = sorted({s.strip().lower() for s in signals})
    for signal in found:
        if signal not in RESERVING and signal not in PERMITTING:
            known = ", ".join(sorted({*RESERVING, *PERMITTING}))
            raise InvalidInput(f"{field}: unknown opt-out signal {signal!r} (known: {known})", field=field)
    return tuple(found)


def source_licences(sources: Sequence[Source], used: frozenset[str] | None = None) -> list[str]:
    """Every licence named by the sources in ``used`` (all when None), sorted, each once."""
    chosen = sources if used is None else contributing(sources, used)
    return sorted({name for s in chosen for name in licences.licence_ids(licences.parse(s.licence))})


def contributing(sources: Sequence[Source], used: Collection[str]) -> tuple[Source, ...]:
    """The sources named in ``used`` (those with samples in a version), in their order."""
    return tuple(s for s in sources if s.name in used)


def reservation(source: Source) -> str | None:
    """The reason a source's samples are left out (its first reserving signal), or None."""
    reserving = [s for s in source.opt_out if s in RESERVING]
    return None if not reserving else f"opt-out {reserving[0]}: {RESERVING[reserving[0]]}"


# --- samples -------------------------------------------------------------------------------------


def modality_of(path: str) -> Modality:
    """The modality from a file's extension (InvalidInput naming the file when unknown)."""
    extension = path.rpartition(".")[2].lower() if "." in path.rpartition("/")[2] else ""
    found = EXTENSIONS.get(extension)
    if found is None:
        known = ", ".join(f".{e}" for e in sorted(EXTENSIONS))
        raise InvalidInput(
            f"{path}: unknown sample type {extension or '(none)'!r} (known: {known})", field=path
        )
    return found


def deduplicate(samples: Iterable[Sample]) -> list[Sample]:
    """One sample per content hash (the first by source name), ordered by hash: the order of files
    on disk never changes a version."""
    kept: dict[str, Sample] = {}
    for sample in sorted(samples, key=lambda s: (s.sha256, s.source)):
        kept.setdefault(sample.sha256, sample)
    return list(kept.values())


def plan_shards(samples: Sequence[Sample], per_shard: int) -> tuple[tuple[Sample, ...], ...]:
    """Consecutive runs of ``per_shard`` samples, each placed (its shard index and position)."""
    check_shard_samples(per_shard)
    return tuple(
        tuple(replace(s, shard=i // per_shard, position=j) for j, s in enumerate(samples[i : i + per_shard]))
        for i in range(0, len(samples), per_shard)
    )


def member_names(sample: Sample) -> tuple[str, str]:
    """The sample's two tar members: ``<key>.json`` and ``<key>.<payload extension>``."""
    return f"{sample.sha256}.json", f"{sample.sha256}.{PAYLOAD_EXTENSION[sample.modality]}"


def sample_record(sample: Sample) -> bytes:
    """``<key>.json``: ``{"modality", "sha256", "source"}``, sorted keys, no spaces."""
    record = {"modality": sample.modality.value, "sha256": sample.sha256, "source": sample.source}
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.tar"


# --- versions ------------------------------------------------------------------------------------


def version_id(shard_digests: Sequence[str]) -> str:
    """The RFC 6962 Merkle root over the shards' SHA-256 digests (each a leaf), in manifest order."""
    return root_from_leaf_hashes([leaf_hash(bytes.fromhex(d)) for d in shard_digests]).hex()


def manifest(dataset: str, version: str, shards: Sequence[Shard]) -> bytes:
    """``manifest.json``'s exact bytes (sorted keys, two-space indent, a final newline)."""
    body = {
        "dataset": dataset,
        "format": MANIFEST_FORMAT,
        "shards": [
            {"index": s.index, "name": s.name, "samples": s.samples, "sha256": s.sha256, "size": s.size}
            for s in shards
        ],
        "version": version,
    }
    return (json.dumps(body, sort_keys=True, indent=2) + "\n").encode()


def removed_by(
    samples: Iterable[Sample], sources: Sequence[Source], *, origin: str | None, hashes: frozenset[str]
) -> list[Sample]:
    """The samples a takedown leaves out: those from sources with ``origin``, and those named."""
    wanted = None if origin is None else same_origin(origin)
    from_origin = {s.name for s in sources if wanted is not None and same_origin(s.origin) == wanted}
    return [s for s in samples if s.source in from_origin or s.sha256 in hashes]


def taken_down(
    samples: Sequence[Sample],
    sources: Sequence[Source],
    earlier: Sequence[Takedown],
    removed: Mapping[str, str] = MappingProxyType({}),
) -> dict[str, Takedown]:
    """Samples an earlier takedown of the dataset covers, by hash: every hash one removed
    (``removed``: the takedown's id by hash, whatever the origin is called now), and those it
    names by origin or hash. A new import does not bring them back."""
    by_id = {t.id: t for t in earlier}
    hits = {s.sha256: by_id[removed[s.sha256]] for s in samples if removed.get(s.sha256) in by_id}
    for takedown in earlier:
        for sample in removed_by(
            samples, sources, origin=takedown.origin, hashes=frozenset(takedown.samples)
        ):
            hits.setdefault(sample.sha256, takedown)
    return hits


def affected_shards(
    history: Mapping[str, tuple[Sequence[Source], Sequence[Sample]]],
    *,
    origin: str | None,
    hashes: frozenset[str],
) -> dict[str, tuple[int, ...]]:
    """Per version (``history``: its sources and samples), the shards holding a sample the takedown
    removes; versions holding none are left out."""
    found = {
        version: tuple(sorted({s.shard for s in removed_by(samples, sources, origin=origin, hashes=hashes)}))
        for version, (sources, samples) in history.items()
    }
    return {version: hit for version, hit in found.items() if hit}


def same_origin(origin: str) -> str:
    """An origin as a takedown compares it: a URL's scheme and host lower-cased, its default port and
    trailing slash dropped (``HTTPS://News.Example:443/`` is ``https://news.example``); other text as is."""
    parts = urlsplit(origin.strip())
    try:
        given = parts.port
    except ValueError:  # not a port: compared as written
        return origin.strip()
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return origin.strip()
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    port = "" if given in (None, default) else f":{given}"
    rest = urlunsplit(("", "", parts.path.rstrip("/"), parts.query, ""))
    return f"{parts.scheme.lower()}://{parts.hostname}{port}{rest}"


def check_takedown_target(origin: str | None, hashes: Sequence[str]) -> frozenset[str]:
    """A takedown names an origin or sample hashes (64 hex digits each), or both."""
    if origin is None and not hashes:
        raise InvalidInput("a takedown names an origin or at least one sample hash", field="origin")
    for digest in hashes:
        if HEX64.fullmatch(digest) is None:
            raise InvalidInput(
                f"{digest!r} is not a sample's SHA-256 (64 lower-case hex digits)", field="samples"
            )
    return frozenset(hashes)
