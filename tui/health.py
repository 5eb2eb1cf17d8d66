"""The domain-health screen (`H` on the mailbox): the audit's latest results.

One row per domain (the config's `[audit.domains."D"]` ones plus any with stored
`mailops audit` runs) graded per area from its latest stored run; below, that
domain's findings worst first and the highlighted finding's evidence and fix.
`r` re-runs the audit of the highlighted domain (`R`: every listed domain) in a
thread worker with the options the config gives (`mailops.audit.health`), shows
progress, stores the run like `mailops audit` does and redraws; `h` shows what
changed between the domain's stored runs. The engine does all the work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, ProgressBar, Static
from textual.worker import Worker, get_current_worker

from mailops.audit import AuditOptions, DomainReport, run_audit
from mailops.audit.health import (
    DomainHealth,
    health_domains,
    latest_health,
    options_from_config,
    unchecked_areas,
)
from mailops.audit.history import Changes, history, record
from mailops.errors import MailopsError
from mailops.store import Store

from .health_widgets import (
    DomainTable,
    FindingTable,
    HistoryScreen,
    finding_detail,
    history_text,
)
from .widgets import KeyBar

if TYPE_CHECKING:
    from mailops.config import Config

HISTORY_RUNS = 50  # runs shown by `h`, like `mailops audit --history`'s default


class HealthScreen(Screen[None]):
    """The configured domains' audit results, findings, fixes, re-runs and history."""

    AUTO_FOCUS = "DomainTable"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,escape", "back", "Back"),
        Binding("r", "rerun(False)", "Re-run"),
        Binding("R", "rerun(True)", "Re-run all"),
        Binding("h", "history", "History"),
    ]
    DEFAULT_CSS = """
    HealthScreen #health-title { height: 1; padding: 0 1; background: $panel; }
    HealthScreen DomainTable { height: auto; max-height: 40%; }
    HealthScreen #health-progress { height: 1; padding: 0 1; display: none; }
    HealthScreen #health-progress.running { display: block; }
    HealthScreen #progress-label { width: auto; padding: 0 1 0 0; }
    HealthScreen FindingTable { height: 1fr; border-top: solid $panel-lighten-2; }
    HealthScreen #health-detail { height: 9; padding: 0 1; background: $surface; }
    """

    class Progress(Message):
        """A domain finished in the re-run: `done` of `total`."""

        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done = done
            self.total = total

    class Audited(Message):
        """The re-run ended: its reports, or the error that stopped it."""

        def __init__(self, reports: list[DomainReport], error: str = "") -> None:
            super().__init__()
            self.reports = reports
            self.error = error

    def __init__(self, store: Store, config: Config | None = None) -> None:
        super().__init__()
        self.store = store
        self.config = config
        self.rows: list[DomainHealth] = []
        self.running = False
        self.last_changes: list[Changes] = []  # what the last re-run changed (tests)
        self.error = ""
        try:
            self.options = (AuditOptions(smtp=True) if config is None
                            else options_from_config(config))
        except MailopsError as exc:  # shown in the title; re-runs refuse
            self.options, self.error = AuditOptions(), exc.message

    # -- layout and loading -----------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Title, domains, progress, findings, the finding's detail, keys."""
        yield Static("", id="health-title", markup=False)
        yield DomainTable(id="domains")
        with Horizontal(id="health-progress"):
            yield Static("", id="progress-label", markup=False)
            yield ProgressBar(show_eta=False, id="progress-bar")
        yield FindingTable(id="findings")
        with VerticalScroll(id="health-detail"):
            yield Static("", id="detail", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        """Show the stored results."""
        self.reload()

    @property
    def configured(self) -> list[str]:
        """The domains named in the config."""
        return [] if self.config is None else list(self.config.audit_domains)

    def reload(self) -> None:
        """Read every listed domain's latest stored run and redraw (a few small reads)."""
        current = self.current  # before the rows change: the cursor stays on it
        try:
            names = health_domains(self.store, self.configured)
        except MailopsError as exc:  # a malformed configured name
            self.error, names = exc.message, health_domains(self.store, [])
        self.rows = latest_health(self.store, names)
        self.query_one(DomainTable).show(self.rows, unchecked_areas(self.options),
                                         keep=None if current is None else current.domain)
        self._title()
        self._show_findings()

    def _title(self) -> None:
        o = self.options
        dns = (f"{len(o.nameservers)} nameserver{'s' * (len(o.nameservers) != 1)} "
               "from the config" if o.nameservers else "the system's resolver")
        parts = [f"Domain health: {len(self.rows)} domain{'s' * (len(self.rows) != 1)}",
                 f"DNS: {dns}", f"SMTP probe {'on' if o.smtp else 'off'}",
                 f"DNSSEC {'on' if o.dnssec else 'off'}"]
        if self.error:
            parts = [parts[0], self.error]
        self.query_one("#health-title", Static).update(" · ".join(parts))

    # -- what is highlighted ----------------------------------------------------------

    @property
    def current(self) -> DomainHealth | None:
        """The highlighted domain's row."""
        table = self.query_one(DomainTable)
        if not self.rows or table.row_count == 0:
            return None
        return self.rows[min(table.cursor_row, len(self.rows) - 1)]

    @property
    def findings(self) -> list[dict[str, Any]]:
        """The highlighted domain's findings, worst first."""
        row = self.current
        return [] if row is None else row.worst_first()

    @property
    def finding(self) -> dict[str, Any] | None:
        """The highlighted finding."""
        table = self.query_one(FindingTable)
        found = self.findings
        if not found or table.row_count == 0:
            return None
        return found[min(table.cursor_row, len(found) - 1)]

    def _show_findings(self) -> None:
        self.query_one(FindingTable).show(self.findings)
        self._show_detail()

    def _show_detail(self) -> None:
        row = self.current
        if row is None:
            detail = finding_detail(None)
            detail.append('No domains yet: list yours in the config ([audit.domains."D"] '
                          "tables, docs/tui.md) or run `mailops audit`.", style="dim")
        elif row.run_at is None:
            detail = finding_detail(None)
            detail.append(f"{row.domain} has no stored run: r runs the audit.", style="dim")
        else:
            detail = finding_detail(self.finding, row.domain)
        self.query_one("#detail", Static).update(detail)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """A domain highlighted: its findings; a finding highlighted: its detail."""
        event.stop()
        if isinstance(event.data_table, DomainTable):
            self._show_findings()
        else:
            self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a domain: over to its findings."""
        event.stop()
        if isinstance(event.data_table, DomainTable):
            self.query_one(FindingTable).focus()

    # -- re-running -------------------------------------------------------------------

    def action_rerun(self, every: bool) -> None:
        """`r`: audit the highlighted domain again; `R`: every listed domain."""
        if self.running:
            self.notify("An audit is already running", severity="warning")
            return
        if self.error:
            self.notify(self.error, severity="error")
            return
        names = [r.domain for r in self.rows] if every else (
            [] if self.current is None else [self.current.domain])
        if not names:
            self.notify("No domain to audit: name some in the config ([audit.domains])",
                        severity="warning")
            return
        self.running = True
        self._progress(0, len(names))
        self._audit(names, self.options)

    def _progress(self, done: int, total: int) -> None:
        box = self.query_one("#health-progress")
        box.set_class(self.running, "running")
        self.query_one("#progress-label", Static).update(
            f"Auditing: {done} of {total} domain{'s' * (total != 1)} done")
        self.query_one(ProgressBar).update(total=total, progress=done)

    @work(thread=True, exclusive=True, group="health-audit")
    def _audit(self, names: list[str], options: AuditOptions) -> None:
        done = 0

        def advance(_report: DomainReport) -> None:
            nonlocal done
            done += 1
            self.post_message(self.Progress(done, len(names)))

        # A fresh event loop in this thread (never the engine's process pool: forking a
        # threaded app is unsafe, and the configured domains are few).
        try:
            reports = asyncio.run(_cancellable(run_audit(names, options, advance),
                                               get_current_worker()))
        except MailopsError as exc:
            self.post_message(self.Audited([], exc.message))
            return
        except asyncio.CancelledError:
            return  # the screen was left: nothing is stored
        self.post_message(self.Audited(reports))

    def on_health_screen_progress(self, msg: Progress) -> None:
        """Move the bar."""
        self._progress(msg.done, msg.total)

    def on_health_screen_audited(self, msg: Audited) -> None:
        """Store the run on the UI thread (the app's read-write connection), as
        `mailops audit` does, then redraw and say what changed."""
        self.running = False
        self.query_one("#health-progress").set_class(False, "running")
        if msg.error:
            self.notify(f"Audit failed: {msg.error}", severity="error")
            return
        keep = 0 if self.config is None else max(0, self.config.get_int("audit.keep_runs"))
        try:
            self.last_changes = record(self.store, msg.reports, ignore=self.options.ignore,
                                       keep=keep)
        except MailopsError as exc:
            self.notify(f"Could not store the run: {exc.message}", severity="error")
            return
        self.reload()
        self.notify("; ".join(_summary(c) for c in self.last_changes), title="Audit done")

    # -- history and leaving ----------------------------------------------------------

    def action_history(self) -> None:
        """`h`: the highlighted domain's stored runs and what changed between them."""
        row = self.current
        if row is None:
            return
        entries = history(self.store, row.domain, HISTORY_RUNS)
        self.app.push_screen(HistoryScreen(history_text(row.domain, entries)))

    def action_back(self) -> None:
        """Back to the mailbox (a re-run still going is abandoned, not stored)."""
        self.app.pop_screen()


async def _cancellable(audit: Coroutine[Any, Any, list[DomainReport]],
                       worker: Worker[None]) -> list[DomainReport]:
    """Run `audit`, stopping it when the worker is cancelled (its screen left or the
    app quitting), so no DNS or HTTPS work outlives the screen by more than a moment."""
    task = asyncio.ensure_future(audit)
    while not task.done():
        if worker.is_cancelled:
            task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    return task.result()


def _summary(c: Changes) -> str:
    """One domain's change in a few words."""
    if c.previous_at is None:
        return f"{c.domain}: first stored run"
    if not c.changed:
        return f"{c.domain}: no change"
    parts = [f"{len(x)} {name}" for x, name in ((c.new, "new"), (c.resolved, "fixed"),
                                                (c.severity_changed, "changed")) if x]
    return f"{c.domain}: {', '.join(parts)}"
