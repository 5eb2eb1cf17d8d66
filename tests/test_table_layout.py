"""The plain tables of `ls`, `search` and `ls --threads` on terminals of every width."""

from __future__ import annotations

import pytest
from mailops.commands.output import print_plain_table

COLUMNS = ["id", "date", "from", "to", "subject", "size"]
ROWS = [
    {"id": 1500, "date": "2026-10-31 12:35", "from": "Alice Dubois <alice.dubois55@stark.net>",
     "to": ["Heidi Taylor <heidi.taylor186@acme.net>", "bob@example.org"],
     "subject": "Re: Über die Planung Monvoze yakashi #1393", "size": 21838},
    {"id": 7, "date": "2026-10-30 21:53", "from": "mallory.schaefer135@tyrell.test",
     "to": ["Judy Nowak <judy.nowak189@initech.com>"],
     "subject": "Quarterly numbers", "size": 6828},
]


def _table(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
           width: int, rows: list[dict[str, object]] = ROWS,
           columns: list[str] = COLUMNS) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(width))
    print_plain_table(rows, columns)
    return capsys.readouterr().out.splitlines()


def test_a_wide_terminal_shows_every_cell_whole(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _table(capsys, monkeypatch, 250)
    assert "Alice Dubois <alice.dubois55@stark.net>" in lines[1]
    assert "Heidi Taylor <heidi.taylor186@acme.net>, bob@example.org" in lines[1]
    assert "Re: Über die Planung Monvoze yakashi #1393" in lines[1]
    assert "…" not in "".join(lines)


@pytest.mark.parametrize("width", [100, 120])
def test_addresses_give_way_to_names_before_the_subject_is_cut(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        width: int) -> None:
    lines = _table(capsys, monkeypatch, width)
    assert all(len(line) <= width for line in lines)
    # A cut address column keeps the display names, not a cut address.
    assert "Alice Dubois " in lines[1] and "<alice" not in lines[1]
    assert lines[1][lines[0].index("to"):].startswith("Heidi Taylor")
    assert lines[0].index("subject") == lines[1].index("Re: Über")  # aligned
    subject = lines[1][lines[0].index("subject"):].rsplit("  ", 1)[0].strip()
    if width >= 120:
        assert subject == "Re: Über die Planung Monvoze yakashi #1393"
    else:
        assert len(subject) >= 24


@pytest.mark.parametrize("width", [66, 80])
def test_a_narrow_terminal_cuts_with_an_ellipsis_and_keeps_the_subject_longest(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        width: int) -> None:
    lines = _table(capsys, monkeypatch, width)
    assert all(len(line) <= width for line in lines), lines
    start = lines[0].index("subject")
    subject = lines[1][start:].rsplit("  ", 1)[0].strip()
    sender = lines[1][lines[0].index("from"):lines[0].index("to")].strip()
    assert subject.startswith("Re: Über") and len(subject) >= 12
    assert len(subject) >= len(sender)
    assert lines[1].endswith("21838")  # the size column is never cut


def test_snippet_and_participants_tables_fit(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"id": 3, "date": "2026-10-15 03:29", "from": "Walter Müller <walter@x.test>",
             "subject": "Re: Guvo xine jowen #1227",
             "snippet": "…monvo of about [budget] this new monxiyashi tripa of the " * 3}]
    lines = _table(capsys, monkeypatch, 80, rows, ["id", "date", "from", "subject", "snippet"])
    assert all(len(line) <= 80 for line in lines)
    assert "Walter Müller " in lines[1] and "Re: Guvo xine jowen #1227" in lines[1]


def test_a_table_snippet_starts_a_few_words_before_its_match() -> None:
    from mailops.commands.search import _MARK, _lead_in

    hit = f"{_MARK[0]}budget{_MARK[1]}"
    assert _lead_in(f"…monvo of about shigustergu to {hit} this new") == \
        f"…about shigustergu to {hit} this new"
    assert _lead_in(f"the {hit} is late") == f"the {hit} is late"  # already near
    assert _lead_in("no match marked here") == "no match marked here"
