"""`mailops config`: see the effective configuration and where each value came from."""

from __future__ import annotations

import typer

from .context import state
from .output import Format, pick_format, render

config_app = typer.Typer(help="Inspect configuration.\n\nExample: mailops config show",
                         no_args_is_help=True, rich_markup_mode=None)


@config_app.command("show")
def show(
    ctx: typer.Context,
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
    as_json: bool = typer.Option(False, "--json", help="JSON rows."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV rows."),
) -> None:
    """Print every setting, its value and its source (default, file, env or flag).

    \b
    Examples:
      mailops config show
      MAILOPS_SERVE_MAX_SIZE=1000 mailops config show --json
    """
    cfg = state(ctx).config
    render(cfg.rows(), pick_format(fmt, as_json, as_csv), ["key", "value", "source", "env"],
           title=f"config file: {cfg.paths.config_file}")


@config_app.command("path")
def path(ctx: typer.Context) -> None:
    """Print the config file, data directory and store paths.

    \b
    Examples:
      mailops config path
      mailops --home /tmp/m config path
    """
    paths = state(ctx).config.paths
    typer.echo(f"config file: {paths.config_file}\ndata dir:    {paths.data_dir}\n"
               f"store:       {paths.store_file}\n(from {paths.source})")


def register(app: typer.Typer) -> None:
    """Add the `config` group to the root app."""
    app.add_typer(config_app, name="config")
