"""pnyx registry: datasets (``dataset``) and models, with exact provenance."""

from __future__ import annotations

import typer

from pnyx.cli import registry_datasets, registry_models

app = typer.Typer(help="The registry: datasets and models with exact provenance.", no_args_is_help=True)
app.add_typer(registry_datasets.app, name="dataset")
app.add_typer(registry_models.app, name="model")
