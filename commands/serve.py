"""`mailops serve`: the local receive daemon (mail catcher)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from mailops.errors import ServeError, UsageError

from .context import state
from .output import err, print_json

HELP = """Receive mail over SMTP and store it (a catcher: any recipient, nothing relayed).

\b
Examples:
  mailops serve                                  # 127.0.0.1:2525
  mailops serve --listen 127.0.0.1:2525 --listen [::1]:2525 --starttls
  mailops serve --chaos rcpt:451:30              # fail 30% of RCPT TO with 451
  mailops serve --detach --pidfile /tmp/m.pid && mailops serve --stop --pidfile /tmp/m.pid
"""


def _pidfile(ctx: typer.Context, given: Path | None) -> Path:
    return given or state(ctx).config.paths.run_dir / "serve.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().split()
        return int(text[0]) if text else None
    except (OSError, ValueError):
        return None


def _stop(path: Path, wait: float = 15.0) -> None:
    pid = _read_pid(path)
    if pid is None or not _alive(pid):
        path.unlink(missing_ok=True)
        raise ServeError(f"no running daemon recorded in {path}", exit_code=1)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        raise ServeError(f"daemon {pid} did not stop within {wait:.0f}s")
    path.unlink(missing_ok=True)
    typer.echo(f"stopped mailops serve (pid {pid})")


def _status(path: Path, as_json: bool) -> int:
    pid = _read_pid(path)
    running = pid is not None and _alive(pid)
    lines = path.read_text().split() if running else []
    info = {"running": running, "pid": pid if running else None, "pidfile": str(path),
            "addresses": lines[1:]}
    if as_json:
        print_json(info)
    elif running:
        typer.echo(f"running: pid {pid}, listening on {' '.join(lines[1:])}")
    else:
        typer.echo(f"not running (no live pid in {path})")
    return 0 if running else 1


def _record_thread_settings(store_path: Path, subject_days: int) -> None:
    """Write the thread subject-fallback window into the store: the daemon's indexer
    reads it there."""
    from mailops.store import Store
    from mailops.threads import sync_settings

    with Store(store_path) as store:
        sync_settings(store, subject_days)


def _detach(pidfile: Path) -> None:
    """Start this same command without --detach in a new session; wait until ready."""
    if (pid := _read_pid(pidfile)) and _alive(pid):
        raise ServeError(f"already running (pid {pid}, pidfile {pidfile})")
    pidfile.unlink(missing_ok=True)
    args = [a for a in sys.argv[1:] if a != "--detach"]
    if "--pidfile" not in args:
        args += ["--pidfile", str(pidfile)]
    logfile = pidfile.with_suffix(".log")
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mailops.commands", *args],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = logfile.read_text(errors="replace").strip().splitlines()[-1:]
            reason = " ".join(tail).removeprefix("mailops: error: ")
            # Keep the child's exit code (7 for a port in use) for scripts.
            code = proc.returncode if 0 < proc.returncode < 126 else None
            raise ServeError(f"daemon exited at start: {reason or 'see ' + str(logfile)}",
                             exit_code=code)
        if _read_pid(pidfile) == proc.pid:
            addrs = pidfile.read_text().split()[1:]
            typer.echo(f"mailops serve running in the background (pid {proc.pid}) on "
                       f"{' '.join(addrs)}; log: {logfile}")
            return
        time.sleep(0.05)
    proc.terminate()
    raise ServeError("daemon did not become ready within 30s")


def serve_cmd(
    ctx: typer.Context,
    listen: list[str] = typer.Option(None, "--listen", "-l", metavar="HOST:PORT",
                                     help="Address to listen on (repeatable; IPv6 as [::1]:2525)."),
    tls_listen: list[str] = typer.Option(None, "--tls-listen", metavar="HOST:PORT",
                                         help="Implicit-TLS (SMTPS) listener (repeatable)."),
    starttls: bool = typer.Option(False, "--starttls", help="Offer STARTTLS on --listen ports."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate (else a "
                                         "self-signed one is generated)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key."),
    auth: str | None = typer.Option(None, "--auth", help="SMTP AUTH: none or any."),
    max_size: int | None = typer.Option(None, "--max-size", help="Largest message in bytes."),
    max_recipients: int | None = typer.Option(None, "--max-recipients",
                                              help="Most RCPT TO per message."),
    timeout: int | None = typer.Option(None, "--timeout",
                                       help="Seconds a client may stay idle (between commands "
                                       "or mid-DATA) before 421 and disconnect."),
    hostname: str | None = typer.Option(None, "--hostname", help="Name in banner and EHLO."),
    allow_public: bool = typer.Option(False, "--allow-public",
                                      help="Allow binding non-loopback addresses."),
    chaos: list[str] = typer.Option(None, "--chaos", metavar="STAGE:CODE:PERCENT",
                                    help="Inject failures, e.g. rcpt:451:30 "
                                    "(repeatable; stages: connect, helo, auth, mail, rcpt, data)."),
    chaos_seed: int | None = typer.Option(None, "--chaos-seed", help="Seed for repeatable chaos."),
    log_format: str | None = typer.Option(None, "--log-format", help="text or json."),
    loop: str = typer.Option("uvloop", "--loop", help="Event loop: uvloop or asyncio."),
    workers: str | None = typer.Option(None, "--workers", metavar="N|auto",
                                       help="SMTP processes sharing the port (auto: 2 with "
                                       "2+ CPUs, else 1)."),
    detach: bool = typer.Option(False, "--detach", help="Run in the background."),
    pidfile: Path | None = typer.Option(None, "--pidfile", help="Pid file (with --detach, "
                                        "--stop, --status)."),
    stop: bool = typer.Option(False, "--stop", help="Stop the daemon in --pidfile."),
    status: bool = typer.Option(False, "--status", help="Is the daemon in --pidfile running?"),
    as_json: bool = typer.Option(False, "--json", help="With --status: JSON output."),
) -> None:
    from mailops.retention import parse_duration, policy_from_config
    from mailops.smtp import logfmt
    from mailops.smtp.chaos import parse_trigger
    from mailops.smtp.server import (
        ServeOptions,
        parse_listen,
        resolve_workers,
        serve,
        validate,
    )

    cfg = state(ctx).config
    pid_path = _pidfile(ctx, pidfile)
    if stop:
        _stop(pid_path)
        return
    if status:
        raise typer.Exit(_status(pid_path, as_json))
    if workers is not None:
        resolve_workers(workers)  # a bad flag is a usage error (2), not a config one
    for key, value in (("serve.listen", listen or None), ("serve.auth", auth),
                       ("serve.max_size", max_size), ("serve.max_recipients", max_recipients),
                       ("serve.command_timeout", timeout), ("serve.hostname", hostname),
                       ("serve.log_format", log_format), ("serve.workers", workers)):
        if value is not None:
            cfg.set(key, value, "flag")
    if allow_public:
        cfg.set("serve.allow_public", True, "flag")
    listeners = [parse_listen(s) for s in cfg.get_list("serve.listen")]
    listeners += [parse_listen(s, implicit_tls=True) for s in tls_listen or []]
    opts = ServeOptions(
        store_path=cfg.paths.store_file, listeners=listeners,
        hostname=cfg.get_str("serve.hostname"), max_size=cfg.get_int("serve.max_size"),
        max_recipients=cfg.get_int("serve.max_recipients"), auth=cfg.get_str("serve.auth"),
        timeout=cfg.get_int("serve.command_timeout"), allow_public=cfg.get("serve.allow_public"),
        starttls=starttls, tls_cert=tls_cert, tls_key=tls_key, tls_dir=cfg.paths.data_dir / "tls",
        chaos=[parse_trigger(c) for c in chaos or []], chaos_seed=chaos_seed, event_loop=loop,
        workers=resolve_workers(cfg.get_str("serve.workers"), chaos_seed),
        retention=policy_from_config(cfg),
        retention_interval=parse_duration(cfg.get_str("retention.interval")))
    log_fmt = cfg.get_str("serve.log_format")
    if log_fmt not in {"text", "json"}:
        raise UsageError(f"--log-format {log_fmt!r}: expected text or json")
    validate(opts)  # fail here, not in a detached child's log
    if detach:
        _detach(pid_path)
        return
    logfmt.configure(log_fmt)
    _record_thread_settings(opts.store_path, cfg.get_int("threads.subject_days"))
    if cfg.paths.source == "--home":  # the indexer child loads the same config (rules)
        os.environ["MAILOPS_HOME"] = str(cfg.paths.config_dir)

    def ready(addresses: list[str]) -> None:
        if pidfile is not None:
            pidfile.parent.mkdir(parents=True, exist_ok=True)
            tmp = pidfile.with_suffix(".tmp")
            tmp.write_text(f"{os.getpid()} {' '.join(addresses)}\n")
            tmp.replace(pidfile)
        if sys.stdout.isatty() or pidfile is None:
            first = addresses[0]
            host, _, port = first.rpartition(":")
            print(f"mailops serve: listening on {', '.join(addresses)}\n"
                  f"  storing mail in {opts.store_path}\n"
                  f"  send a first message:  mailops send --server {first} --to you@example.test"
                  f" --subject hello --body 'it works'\n"
                  f"  then list it:          mailops ls\n"
                  f"  (or: swaks --server {host.strip('[]')} --port {port} --to you@example.test)\n"
                  f"  Ctrl-C stops.", flush=True)

    try:
        serve(opts, on_ready=ready)
    finally:
        if pidfile is not None and _read_pid(pidfile) == os.getpid():
            pidfile.unlink(missing_ok=True)
    err("stopped")


def register(app: typer.Typer) -> None:
    """Add `serve` to the root app."""
    app.command("serve", help=HELP)(serve_cmd)
