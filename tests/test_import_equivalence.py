"""A bulk import stores exactly what the plain stdlib parse of each message gives.

The import pipeline parses in worker processes with summarize()'s shortcuts
(header caches across messages, big base64 runs left out of the parse). Here a
generated maildir (bench/corpus.py, seeded, with big attachments) plus big
hand-made edge cases is imported, and every summary column, the search-index
text of every message and its raw bytes must equal what the reference path
computes: `_summarize(raw, slim_from=None)` (one whole parse, no caches) laid out
by the store's own `prepare`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import zstandard

from mailops.importer import import_paths
from mailops.mimeslim import _summarize
from mailops.store import Incoming, Store
from mailops.store.store import ZSTD_LEVEL, prepare

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = ("message_id, date, date_ts, from_addr, to_addrs, cc_addrs, subject, attachments,"
           " attachment_names, defects, in_reply_to, refs")


def corpus_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_corpus", ROOT / "bench" / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def big_edge_cases() -> list[bytes]:
    """Messages over the slimming threshold whose cut must be refused or handled."""
    rng = random.Random(5)
    text = base64.encodebytes(rng.randbytes(90_000)).decode()  # 76-character lines

    def message(*parts: str, preamble: str = "", eol: str = "\n") -> bytes:
        body = "".join(f"--b\n{p}\n" for p in parts)
        raw = ("From: =?utf-8?q?Zo=C3=AB?= <z@x.test>\nTo: a@b.test, \"B, C\" <c@d.test>\n"
               "Subject: =?utf-8?b?w4RuZGVydW5n?=\nMIME-Version: 1.0\n"
               f"Content-Type: multipart/mixed; boundary=\"b\"\n\n{preamble}{body}--b--\n")
        return raw.replace("\n", eol).encode("latin-1")

    def part(ctype: str, payload: str, name: str | None = "f.pdf") -> str:
        disposition = f"Content-Disposition: attachment; filename=\"{name}\"\n" if name else ""
        return (f"Content-Type: {ctype}\nContent-Transfer-Encoding: base64\n{disposition}\n"
                f"{payload}")

    inline_text = base64.encodebytes(("words and more words\n" * 4000).encode()).decode()
    return [
        message(part("text/plain", "aGk=\n", None), part("application/pdf", text)),
        message(part("application/pdf", text), eol="\r\n"),
        message(part("text/plain", inline_text, None)),  # indexed text: never cut
        message(part("application/pdf", text[:5000] + "*" + text[5000:])),  # bad character
        message(part("application/pdf", text), part("application/pdf", text, "g.pdf")),
        message(part("application/pdf", "aGk=\n"), preamble=text),
        message("Content-Type: message/rfc822\n\n" + message(
            part("image/png", text, None)).decode("latin-1")),
    ]


def test_import_stores_what_the_whole_parse_gives(tmp_path: Path) -> None:
    corpus = corpus_module()
    maildir = tmp_path / "Maildir"
    corpus.write_maildir(maildir, 150, seed=4)
    for i, raw in enumerate(big_edge_cases()):
        (maildir / "cur" / f"{1900000000 + i}.M{i}P1Q1.edge:2,S").write_bytes(raw)
    raws = [p.read_bytes() for sub in ("cur", "new") for p in sorted((maildir / sub).iterdir())]
    assert sum(len(r) > 64 * 1024 for r in raws) >= 8  # the slimming path is exercised

    with Store(tmp_path / "s.db") as store:
        result = import_paths(store, [maildir])
        assert (result.imported, result.failed) == (len(raws), 0)
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        for raw in raws:
            expected = prepare(Incoming(raw, source="import"), _summarize(raw, slim_from=None),
                               compressor)
            digest = hashlib.sha256(raw).hexdigest()
            row = store.db.execute(f"SELECT id, {SUMMARY} FROM messages WHERE sha256 = ?",
                                   (digest,)).fetchone()
            assert tuple(row)[1:] == expected.summary, raw[:400]
            texts = store.db.execute(
                "SELECT subject, sender, recipients, cc, body, filename FROM texts WHERE id = ?",
                (row["id"],)).fetchone()
            assert tuple(texts) == expected.texts, raw[:400]
            assert store.raw(row["id"]) == raw
        # The full-text index holds exactly the texts rows (external content, rank 1).
        store.db.execute("INSERT INTO texts_fts (texts_fts, rank) VALUES ('integrity-check', 1)")
