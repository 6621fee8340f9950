"""A model version's card: Hugging Face compatible, written by the registry (pure).

YAML front matter (license, datasets, tags, library_name, model-index with the run's final metrics),
then markdown: what the model is, its lineage (dataset versions and the shards read, the job, the
code digest and config hash, the data-order record), the files by SHA-256, and intended use. The YAML
is emitted here with every string double-quoted as JSON writes it (a YAML subset), so nothing a job
wrote can break out of its field. The same inputs always give the same bytes: the card's digest is
logged with the version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pnyx.registry.lineage_model import FileRole, ModelVersion

HF_LICENCE = re.compile(r"[a-z0-9][a-z0-9.-]*")
METRIC_NAMES = {
    "loss": "final training loss",
    "tokens_per_s": "tokens per second",
    "mfu": "model FLOPs utilization",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CardDataset:
    """A dataset version as the card names it."""

    name: str
    version: str
    licences: tuple[str, ...]  # the SPDX expressions of its sources with samples in it
    shards_read: int
    shards: int


def model_card(model: ModelVersion, datasets: Sequence[CardDataset]) -> str:
    """The card's text (front matter, then the body)."""
    return f"---\n{_yaml(front_matter(model, datasets), 0)}---\n\n{_body(model, datasets)}"


def front_matter(model: ModelVersion, datasets: Sequence[CardDataset]) -> dict[str, object]:
    licences = sorted({licence for d in datasets for licence in d.licences})
    matter: dict[str, object] = {"license": licence_id(licences)}
    if matter["license"] == "other":
        matter["license_name"] = "training-data-licences"
    matter["datasets"] = [f"pnyx/{d.name}@{d.version}" for d in datasets]
    matter["tags"] = [
        "pnyx",
        "safetensors",
        f"pnyx-label-{model.label.level.name}",
        *sorted(model.label.categories),
    ]
    matter["library_name"] = "pytorch"
    matter["model-index"] = [{"name": model.name, "results": [_result(model, d) for d in datasets]}]
    return matter


def licence_id(licences: Sequence[str]) -> str:
    """One licence that Hugging Face can name (a lowercased SPDX id): it; else ``other``."""
    if len(licences) == 1 and HF_LICENCE.fullmatch(licences[0].lower()):
        return licences[0].lower()
    return "other"


def _result(model: ModelVersion, dataset: CardDataset) -> dict[str, object]:
    metrics = [
        {"type": key, "value": value, "name": METRIC_NAMES.get(key, key), "verified": False}
        for key, value in sorted(model.final.items())
    ]
    return {
        "task": {"type": "text-generation", "name": "Next-token prediction (training)"},
        "dataset": {"name": dataset.name, "type": f"pnyx/{dataset.name}", "revision": dataset.version},
        "metrics": metrics,
    }


def _yaml(value: object, indent: int) -> str:
    """Block YAML for mappings and lists of scalars, mappings and lists; scalars as JSON."""
    pad = " " * indent
    if isinstance(value, Mapping):
        return "".join(_entry(f"{pad}{key}:", item, indent) for key, item in value.items())
    assert isinstance(value, list)
    return "".join(_item(pad, item, indent) for item in value)


def _entry(head: str, item: object, indent: int) -> str:
    if isinstance(item, Mapping | list) and item:
        return f"{head}\n{_yaml(item, indent + 2)}"
    return f"{head} {_scalar(item)}\n"


def _item(pad: str, item: object, indent: int) -> str:
    if isinstance(item, Mapping) and item:
        nested = _yaml(item, indent + 2)
        return f"{pad}- {nested[indent + 2 :]}"
    return f"{pad}- {_scalar(item)}\n"


def _scalar(value: object) -> str:
    if isinstance(value, Mapping | list):
        return "{}" if isinstance(value, Mapping) else "[]"
    return json.dumps(value)


def _body(model: ModelVersion, datasets: Sequence[CardDataset]) -> str:
    sections = [
        f"# {model.name}\n\nA model trained on the Pnyx public AI supercomputer by job `{model.job_id}` "
        f"(attempt {model.attempt}) of project `{model.project}`. Model version `{model.version}`.\n",
        _lineage(model, datasets),
        _training(model),
        _files(model),
        _use(model),
    ]
    return "\n".join(sections)


def _lineage(model: ModelVersion, datasets: Sequence[CardDataset]) -> str:
    rows = "".join(
        f"| `{d.name}` | `{d.version}` | {d.shards_read} of {d.shards} | {', '.join(d.licences) or '-'} |\n"
        for d in datasets
    )
    return (
        "## Lineage\n\n| dataset | version | shards read | licences |\n|---|---|---|---|\n"
        f"{rows}\n- job: `{model.job_id}` (attempt {model.attempt})\n"
        f"- code digest: `{model.code_digest}`\n- config hash: `{model.config_hash}`\n"
        f"- data order: seed {model.seed}, world size {model.world_size}, batch size {model.batch_size} "
        f"per rank, {model.steps} steps; the record of which shard and sample ranges went into which "
        "rank's batch at every step is `data-order.jsonl`, checked against the pure order when the "
        "version was registered.\n"
    )


def _training(model: ModelVersion) -> str:
    finals = "".join(f"- {METRIC_NAMES.get(k, k)}: {v:g}\n" for k, v in sorted(model.final.items()))
    w, fence = model.weights, _fence(model.config_json)
    return (
        f"## Training\n\n{finals}- parameters: {w.parameters:,} in {w.tensors} tensors "
        f"({', '.join(w.dtypes)})\n\nConfiguration (canonical JSON):\n\n"
        f"{fence}json\n{model.config_json}\n{fence}\n"
    )


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``: the config cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _files(model: ModelVersion) -> str:
    rows = "".join(
        f"| `{f.path}` | {f.role.value} | {f.size} | `{f.sha256}` |\n"
        for f in model.files
        if f.role is not FileRole.CARD
    )
    return (
        "## Files\n\n| file | role | bytes | SHA-256 |\n|---|---|---|---|\n" + rows + "\nEach digest is "
        "in the public transparency log's registration entry for this version; downloads are checked "
        "against it.\n"
    )


def _use(model: ModelVersion) -> str:
    return (
        "## Intended use\n\nResearch and evaluation. The model carries the safety label "
        f"`{model.label}`: it is public only once its weights, this card and its data-order record "
        "have each been released to the public label by a release decision. It has had no evaluation "
        "beyond its training metrics; do not rely on it for decisions about people.\n"
    )
