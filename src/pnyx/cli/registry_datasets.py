"""pnyx registry dataset: import a directory of samples, list and show versions, their Croissant
metadata and dataset cards, take samples down, verify a version, and make demo samples.

Commands act as the local console (the facility's operator) unless ``--as USER`` names a user.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pnyx.cli.context import console, full_id, inert, platform
from pnyx.identity.model import LOCAL_CONSOLE, Principal
from pnyx.registry import rules
from pnyx.registry.model import DatasetVersion, Takedown
from pnyx.registry.samples import write_samples
from pnyx.wiring import Platform

app = typer.Typer(help="Datasets: import, list, show, Croissant, cards, takedowns.", no_args_is_help=True)
AS = typer.Option(None, "--as", help="Act as this user; default: the local console (operator)")
VERSION = typer.Argument(..., help="A dataset version (64 hex digits)")
BASE_URL = typer.Option(None, "--base-url", help="The API's public URL; default PNYX_PUBLIC_URL")


def _as(p: Platform, user: str | None) -> Principal:
    return LOCAL_CONSOLE if user is None else p.identity.principal_of(user)


@app.command("import")
def import_directory(
    directory: Path = typer.Argument(..., help="DIR/sources.json and DIR/<source>/<files>"),
    name: str = typer.Option(..., "--name", help="The dataset's name"),
    project: str | None = typer.Option(None, "--project", help="Import into this project (its label)"),
    shard_samples: int = typer.Option(
        rules.DEFAULT_SHARD_SAMPLES, "--shard-samples", help="Samples per shard"
    ),
    description: str = typer.Option("", "--description"),
    user: str | None = AS,
) -> None:
    """Import a directory of samples into content-addressed WebDataset shards."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with platform() as p, Progress(*columns, console=console(), transient=True) as progress:
        task = progress.add_task("reading samples", total=None)
        done = p.datasets.import_directory(
            _as(p, user),
            directory,
            name=name,
            project=project,
            shard_samples=shard_samples,
            description=description,
            progress=lambda n: progress.update(task, description=f"read {n} samples"),
        )
    verb = "imported" if done.created else "already registered:"
    console().print(f"{verb} {inert(name)} version [bold]{done.version.version}[/]", highlight=False)
    _summary(done.version)
    if done.left_out:
        console().print(f"{done.left_out} samples left out (opt-out signals or earlier takedowns)")


@app.command("list")
def list_versions(
    every: bool = typer.Option(False, "--all", help="Every version, not only each dataset's current one"),
    dataset: str | None = typer.Option(None, "--dataset"),
    user: str | None = AS,
) -> None:
    with platform() as p:
        found = p.datasets.versions(_as(p, user), dataset=dataset, current_only=not every)
    table = Table("dataset", full_id(), "status", "label", "shards", "samples", "bytes", "created")
    for v in found:
        table.add_row(
            inert(v.dataset), v.version, v.status.value, inert(str(v.label)), str(len(v.shards)),
            str(v.samples), str(v.size), v.created_at.strftime("%Y-%m-%d %H:%M"),
        )  # fmt: skip
    console().print(table)


@app.command("show")
def show(version: str = VERSION, user: str | None = AS) -> None:
    with platform() as p:
        v = p.datasets.version(_as(p, user), version)
    console().print(f"{inert(v.dataset)} version [bold]{v.version}[/]", highlight=False)
    _summary(v)
    for s in v.sources:
        reserved = " [red](reserved: samples left out)[/]" if rules.reservation(s) else ""
        opt_out = ", ".join(s.opt_out) or "none"
        line = f"  source {inert(s.name)}: {inert(s.licence)}, {inert(s.origin)}, opt-out: {inert(opt_out)}"
        console().print(line + reserved, highlight=False)
    for shard in v.shards:
        console().print(
            f"  {shard.name} {shard.sha256} {shard.size} B {shard.samples} samples", highlight=False
        )


def _summary(v: DatasetVersion) -> None:
    rows = {
        "status": v.status.value + (f" (successor {v.successor})" if v.successor else ""),
        "parent": v.parent or "-",
        "label": str(v.label),
        "samples": f"{v.samples} in {len(v.shards)} shards, {v.size} bytes",
        "modalities": ", ".join(sorted(m.value for m in v.modalities)),
        "manifest": v.manifest_sha256,
        "tombstones": str(len(v.tombstones)),
    }
    for key, value in rows.items():
        console().print(f"[bold]{key:>10}[/] {inert(value)}", highlight=False)


@app.command("manifest")
def manifest(version: str = VERSION, user: str | None = AS) -> None:
    """manifest.json, byte for byte."""
    with platform() as p:
        data = p.datasets.manifest(_as(p, user), version)
    typer.echo(data.decode(), nl=False)


@app.command("croissant")
def croissant(version: str = VERSION, base_url: str | None = BASE_URL, user: str | None = AS) -> None:
    """Croissant 1.1 JSON-LD metadata."""
    with platform() as p:
        document = p.datasets.croissant(_as(p, user), version, base_url=base_url)
    typer.echo(json.dumps(document, indent=2))


@app.command("card")
def card(version: str = VERSION, base_url: str | None = BASE_URL, user: str | None = AS) -> None:
    """The dataset card (Markdown with YAML front matter)."""
    with platform() as p:
        typer.echo(p.datasets.card(_as(p, user), version, base_url=base_url), nl=False)


@app.command("takedown")
def takedown(
    dataset: str = typer.Argument(..., help="The dataset's name"),
    reason: str = typer.Option(..., "--reason", help="Public: it goes into the log"),
    origin: str | None = typer.Option(None, "--origin", help="Every sample from sources with this origin"),
    samples: list[str] = typer.Option([], "--sample", help="A sample's SHA-256 (repeatable)"),
    user: str | None = AS,
) -> None:
    """Leave samples out: a new version without them; versions that held them are withdrawn."""
    with platform() as p:
        done = p.datasets.takedown(_as(p, user), dataset, reason=reason, origin=origin, samples=samples)
    _print_takedown(done)


def _print_takedown(t: Takedown) -> None:
    console().print(
        f"takedown [bold]{t.id}[/]: {t.removed} samples removed from {inert(t.dataset)}", highlight=False
    )
    console().print(f"  new version: {t.to_version or 'none (nothing left)'}", highlight=False)
    console().print(f"  withdrawn: {', '.join(t.withdrawn)}", highlight=False)
    models = ", ".join(t.affected_models) or "none"
    console().print(f"  model versions trained on affected shards: {models}", highlight=False)


@app.command("verify")
def verify(version: str = VERSION) -> None:
    """Re-hash a version's shards and manifest against what was registered."""
    with platform() as p:
        found = p.datasets.verify(version)
    console().print(
        f"version {found.version} verified: {found.shards} shards, {found.bytes} bytes", highlight=False
    )


@app.command("demo-samples")
def demo_samples(
    directory: Path = typer.Argument(..., help="A new (or empty) directory"),
    per_source: int = typer.Option(6, "--per-source", help="Samples per source"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write small deterministic multimodal samples (text, code, PGM images, WAV audio) to import."""
    count = write_samples(directory, per_source=per_source, seed=seed)
    console().print(
        f"wrote {count} sample files and sources.json to {inert(str(directory))}", highlight=False
    )
