"""Widgets of the domain-health screen: the domain and finding tables, the detail
of one finding, and the history of a domain's runs."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from mailops.audit.health import AREAS, DomainHealth, Grade, area_of_finding
from mailops.audit.history import HistoryEntry

# Short column headers: eleven areas, the domain and the time fit 120 columns.
AREA_HEADERS = {"MTA-STS/TLS-RPT": "STS/RPT", "DNSSEC/DANE": "DNSSEC"}
_GRADE_STYLE = {Grade.fail: "bold red", Grade.warn: "yellow", Grade.passed: "green"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
MESSAGE_WIDTH = 72  # the finding table fits 120 columns without a horizontal scroll bar


def when(ts: float | None) -> str:
    """A run's time as `YYYY-MM-DD HH:MM` UTC (the stored time, never the clock, so
    the same store always shows the same text); "never" for no run."""
    return "never" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts))


def grade_cell(grade: Grade | None) -> Text:
    """An area's cell: pass / warn / fail in colour, `-` when not checked."""
    if grade is None:
        return Text("-", style="dim")
    return Text(grade.value, style=_GRADE_STYLE[grade])


class _Table(DataTable[Any]):
    """A row-cursor table that also answers to j/k."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        # the cells' own colours (a red "fail") win over the cursor row's
        super().__init__(cursor_type="row", zebra_stripes=False,
                         cursor_foreground_priority="renderable", **kwargs)


class DomainTable(_Table):
    """One row per domain: the latest run's time and a grade per area."""

    def on_mount(self) -> None:
        """The columns."""
        self.add_column("Domain", key="domain")
        self.add_column("Last run (UTC)", key="when")
        for area in AREAS:
            self.add_column(AREA_HEADERS.get(area, area), key=area)

    def show(self, rows: list[DomainHealth], unchecked: frozenset[str],
             keep: str | None = None) -> None:
        """Replace the rows, the cursor staying on `keep` when it is still listed."""
        self.clear()
        for row in rows:
            areas = row.areas()
            cells = [grade_cell(None if row.run_at is None or (area in unchecked
                                and areas[area] is Grade.passed) else areas[area])
                     for area in AREAS]
            self.add_row(Text(row.domain, style="bold"), when(row.run_at), *cells,
                         key=row.domain)
        names = [r.domain for r in rows]
        if keep in names:
            self.move_cursor(row=names.index(keep))


class FindingTable(_Table):
    """The findings of one domain, worst first."""

    def on_mount(self) -> None:
        """The columns."""
        self.add_column("Severity", key="severity")
        self.add_column("Area", key="area")
        self.add_column("Code", key="code")
        self.add_column("Message", key="message")

    def show(self, findings: list[dict[str, Any]]) -> None:
        """Replace the rows (the row key is the finding's index in `findings`)."""
        self.clear()
        for i, f in enumerate(findings):
            sev = str(f.get("severity"))
            message = " ".join(str(f.get("message", "")).split())
            area = area_of_finding(f)
            self.add_row(Text(sev, style=SEVERITY_STYLE.get(sev, "")),
                         AREA_HEADERS.get(area, area), str(f.get("code")),
                         message[:MESSAGE_WIDTH] + ("…" if len(message) > MESSAGE_WIDTH
                                                    else ""), key=str(i))


def finding_detail(finding: dict[str, Any] | None, domain: str = "") -> Text:
    """Everything about one finding: code, severity, message, what was seen and the
    fix (the record to publish), or a hint when there is nothing to show."""
    if finding is None:
        return Text(f"{domain}: no findings in the latest run." if domain else "",
                    style="dim")
    sev = str(finding.get("severity"))
    text = Text()
    text.append(f"{finding.get('code')}", style="bold")
    text.append(f"  {sev}\n", style=SEVERITY_STYLE.get(sev, ""))
    text.append(f"{finding.get('message')}\n")
    for line in finding.get("evidence") or []:
        text.append(f"  seen: {line}\n", style="dim")
    fix = finding.get("fix")
    if fix:
        text.append("Fix: ", style="bold green")
        text.append(f"{fix}\n", style="green")
    else:
        text.append("No record to publish for this one; see docs/checks.md.\n", style="dim")
    return text


def history_text(domain: str, entries: list[HistoryEntry]) -> Text:
    """A domain's stored runs, newest first: counts and what appeared, went away or
    changed severity since the run before."""
    text = Text()
    text.append(f"History of {domain}", style="bold")
    text.append(f"  ({len(entries)} run{'s' * (len(entries) != 1)}, newest first)\n\n")
    if not entries:
        text.append("No stored runs yet: r re-runs the audit.\n", style="dim")
    for entry in reversed(entries):
        counts = entry.run.counts()
        summary = ", ".join(f"{n} {s}{'s' * (n != 1)}" for s, n in counts.items() if n)
        text.append(f"{when(entry.run.run_at)}  ", style="bold")
        text.append(f"{summary or 'no findings'}\n")
        c = entry.changes
        if c.previous_at is None:  # every finding is "new": say so once
            text.append("    first stored run\n", style="dim")
            continue
        if not c.changed:
            text.append("    no change\n", style="dim")
        for f in c.new:
            text.append(f"    new       {f['severity']:<8}{f['code']}  {f['message']}\n",
                        style=SEVERITY_STYLE.get(str(f["severity"]), ""))
        for f in c.resolved:
            text.append(f"    fixed     {f['severity']:<8}{f['code']}  {f['message']}\n",
                        style="green")
        for f in c.severity_changed:
            text.append(f"    changed   {f['previous_severity']} -> {f['severity']}  "
                        f"{f['code']}  {f['message']}\n", style="yellow")
    return text


class HistoryScreen(ModalScreen[None]):
    """What changed between a domain's stored runs (`h` on the health screen)."""

    DEFAULT_CSS = """
    HistoryScreen { align: center middle; }
    HistoryScreen > VerticalScroll { width: 90%; height: 80%; border: round $accent;
        background: $surface; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,h", "close", "Close"),
        Binding("j", "scroll('down')", "Scroll down", show=False),
        Binding("k", "scroll('up')", "Scroll up", show=False),
    ]

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        """The history text, scrolling."""
        with VerticalScroll(id="history"):
            yield Static(self.text, id="history-text")

    def action_scroll(self, way: str) -> None:
        """j/k scroll the history."""
        scroller = self.query_one(VerticalScroll)
        if way == "down":
            scroller.scroll_down()
        else:
            scroller.scroll_up()

    def action_close(self) -> None:
        """Back to the health screen."""
        self.dismiss(None)
