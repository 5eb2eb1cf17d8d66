"""`mailops retention` (apply and show policies) and `mailops store vacuum`
(docs/retention.md)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer

from .context import state
from .output import print_json, print_plain_table

if TYPE_CHECKING:
    from mailops.retention import RetentionResult

retention_app = typer.Typer(
    help="Delete the oldest mail beyond count, age or size limits.\n\n"
         "Example: mailops retention apply --max-age 30d --dry-run",
    no_args_is_help=True, rich_markup_mode=None)
store_app = typer.Typer(help="Maintain the mail store file.\n\nExample: mailops store vacuum",
                        no_args_is_help=True, rich_markup_mode=None)

_ITEM_COLUMNS = ["id", "received", "folder", "size", "from", "subject", "reason"]


def human_bytes(n: int) -> str:
    """1536 -> "1.5 KiB"."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _space_line(result: RetentionResult) -> str:
    notes = {"converted": " (converted to incremental auto-vacuum: one-time VACUUM)",
             "not-incremental": " (not reclaimed: run `mailops store vacuum` once)",
             "skipped": "", "none": "", "incremental": ""}
    return (f"store file {human_bytes(result.file_bytes_before)} -> "
            f"{human_bytes(result.file_bytes_after)}, freed "
            f"{human_bytes(result.file_bytes_freed)}{notes.get(result.vacuum, '')}")


@retention_app.command("apply")
def apply_cmd(
    ctx: typer.Context,
    max_messages: int | None = typer.Option(None, "--max-messages", metavar="N", min=1,
                                            help="Keep the newest N messages."),
    max_age: str | None = typer.Option(None, "--max-age", metavar="AGE",
                                       help="Delete mail received longer ago (30d, 12h, 2w)."),
    max_size: str | None = typer.Option(None, "--max-size", metavar="SIZE",
                                        help="Keep the newest mail up to this raw size "
                                             "(500M, 2G)."),
    folder: str | None = typer.Option(None, "--folder", metavar="F",
                                      help="Only messages in folder F."),
    tag: str | None = typer.Option(None, "--tag", metavar="T", help="Only messages tagged T."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would go; change nothing."),
    no_vacuum: bool = typer.Option(False, "--no-vacuum",
                                   help="Do not return freed space to the file system."),
    batch_size: int = typer.Option(200, "--batch-size", metavar="N", min=1,
                                   help="Messages per delete transaction."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Delete the oldest messages beyond a count, age or size limit.

    With limit flags, they are the policy (for the whole store, or --folder/--tag);
    without, the [retention] policy in config.toml applies (only its rules for
    --folder/--tag if given). Deletes in small transactions, so a running daemon
    keeps receiving; an interrupted run is finished by the next one. Then frees the
    space; a store created by an earlier mailops is first converted with one full
    VACUUM (it blocks writers while it runs; --no-vacuum skips it).

    \b
    Examples:
      mailops retention apply --max-age 30d --dry-run
      mailops retention apply --max-messages 10000 --folder Spam --json
      mailops retention apply            # the policy in config.toml
    """
    from mailops.errors import UsageError
    from mailops.retention import apply_retention, policy_from_config, policy_from_flags

    cfg = state(ctx).config
    if folder is not None and tag is not None:
        raise UsageError("give --folder or --tag, not both")
    if any(v is not None for v in (max_messages, max_age, max_size)):
        policy = policy_from_flags(max_messages, max_age, max_size, folder, tag)
    else:
        policy = policy_from_config(cfg)
        if folder is not None or tag is not None:
            policy = policy.only(folder, tag)
        if policy.is_empty:
            where = (f" for {'folder ' + folder if folder is not None else 'tag ' + str(tag)}"
                     if folder is not None or tag is not None else "")
            raise UsageError(f"no retention policy{where}: give --max-messages, --max-age or "
                             "--max-size, or set [retention] in the config "
                             "(docs/retention.md)")
    result = apply_retention(cfg.paths.store_file, policy, dry_run=dry_run,
                             batch_size=batch_size, reclaim_space=not no_vacuum, convert=True)
    if as_json:
        print_json(result.as_dict())
        return
    if dry_run:
        rows = [{"id": d.id, "received": time.strftime("%Y-%m-%d %H:%M",
                                                        time.gmtime(d.received_at)),
                 "folder": d.folder, "size": d.size, "from": d.sender, "subject": d.subject,
                 "reason": f"{d.scope}: {d.reason}"} for d in result.items]
        if rows:
            print_plain_table(rows, _ITEM_COLUMNS)
        typer.echo(f"would delete {result.messages} message(s), "
                   f"{human_bytes(result.raw_bytes)} of mail")
        return
    typer.echo(f"deleted {result.messages} message(s), {human_bytes(result.raw_bytes)} of "
               f"mail; {_space_line(result)}")


@retention_app.command("show")
def show_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the policy as JSON."),
) -> None:
    """Print the retention policy from the config (what `retention apply` and the
    daemon use).

    \b
    Examples:
      mailops retention show
      mailops retention show --json
    """
    from mailops.retention import policy_from_config

    cfg = state(ctx).config
    rules: list[dict[str, Any]] = [r.describe() for r in policy_from_config(cfg).rules]
    if as_json:
        print_json({"rules": rules, "interval": cfg.get("retention.interval")})
        return
    if not rules:
        typer.echo("no retention policy (set [retention] in the config: docs/retention.md)")
        return
    print_plain_table(rules, ["scope", "max_messages", "max_age", "max_size"], right=frozenset())
    typer.echo(f"the daemon applies it every {cfg.get('retention.interval')}")


@store_app.command("vacuum")
def vacuum_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Return the store's free space to the file system.

    The first run on a store created by an earlier mailops converts it to
    incremental auto-vacuum with one full VACUUM (it blocks writers while it runs: best with the
    daemon idle); later runs free space in small steps, safe beside the daemon.

    \b
    Examples:
      mailops store vacuum
      mailops store vacuum --json
    """
    from mailops.errors import StoreError
    from mailops.retention import vacuum_store

    path = state(ctx).config.paths.store_file
    if not path.exists():
        raise StoreError(f"no mail store at {path} (nothing received yet?)")
    result = vacuum_store(path)
    if as_json:
        print_json(result.as_dict())
        return
    typer.echo(_space_line(result))


def register(app: typer.Typer) -> None:
    """Add the `retention` and `store` groups to the root app."""
    app.add_typer(retention_app, name="retention")
    app.add_typer(store_app, name="store")
