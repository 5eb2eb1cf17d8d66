"""A reproducible synthetic mail corpus (seeded), written as a maildir.

Realistic enough for import and search benchmarks: sizes mostly 2-20 KB, about
2% with a 100 KB-2 MB attachment (base64, log-uniform size), reply threads
(In-Reply-To/References chains), ~30% with an HTML alternative, attachment
names with non-ASCII characters (RFC 2231 `filename*=`), non-ASCII subjects
and display names (RFC 2047 encoded words), ~300 senders over ~40 domains,
dates spread over two years (2024-11-01 to 2026-11-01, increasing with the
message number). The same seed and count give the same bytes.

    uv run python bench/corpus.py DIR [--messages 20000] [--seed 1]

Importable: `write_maildir(dir, n, seed)` returns the byte total;
`messages(n, seed)` yields `Message` records (raw bytes plus the fields a
parser would find, for filling a store directly); `messages_shard` yields a
slice of a corpus generated on its own, for building large stores in parallel.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

START = 1730419200.0  # 2024-11-01T00:00:00Z
SPAN = 2 * 365 * 86400.0

FIRST = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
         "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter",
         "Zoë", "José", "Renée", "Jürgen", "Łukasz", "Søren", "François", "Åsa", "Çağla",
         "Noémie", "Björn"]
LAST = ["Smith", "Jones", "Müller", "García", "Dubois", "Rossi", "Nowak", "Johansson",
        "Novák", "Kowalski", "Peña", "Öztürk", "Brown", "Wilson", "Taylor", "Lefèvre",
        "Andersen", "Silva", "Martin", "Schäfer"]
DOMAINS = [f"{w}.{tld}" for w in ("example", "acme", "initech", "globex", "umbrella", "hooli",
                                  "stark", "wayne", "tyrell", "cyberdyne")
           for tld in ("test", "org", "net", "com")]
# Subject and body vocabulary; the first words are the most frequent (Zipf-like).
_VOCAB = ("the of and to in is for on that with as this be are from at by or it was your we an"
         " not have will can all our has more about new one which their if you they but any"
         " report invoice meeting password reset welcome order shipped account alert weekly"
         " digest newsletter quarterly budget review release notes project deadline server"
         " backup deploy outage incident customer contract payment receipt schedule agenda"
         " minutes draft proposal feedback ticket support upgrade migration database cluster"
         " certificate renewal domain dns mailbox quota storage network firewall policy"
         " security audit compliance training holiday travel expense approval request"
         " question answer update status summary monthly annual forecast revenue sales"
         " marketing campaign launch product feature roadmap design prototype testing"
         " café résumé naïve crème brûlée façade señor über straße déjà fiancée smörgåsbord"
         " koala zebra quantum nebula saffron tundra marzipan obsidian juniper walrus")
WORDS = _VOCAB.split()
_N_COMMON = 41  # "the" .. "any": function words
SUBJECT_EXTRA = ["Café menu", "Résumé attached", "Über die Planung", "Réunion lundi",
                 "Zürich office", "Ñandú report", "Straße closed", "naïve question"]
FILENAMES = ["report", "invoice", "Übersicht", "résumé", "présentation", "データ", "budget",
             "photo", "contract", "Änderungen"]
EXTS = [("pdf", "application/pdf"), ("png", "image/png"), ("zip", "application/zip"),
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")]


@dataclass
class Message:
    """One generated message: its bytes plus what a parser would report."""

    number: int
    raw: bytes
    message_id: str
    subject: str
    from_: str
    to: list[str]
    cc: list[str]
    date_ts: float
    text: str
    attachments: list[str] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    has_html: bool = False


def _encoded_word(text: str) -> str:
    """RFC 2047: an encoded word for non-ASCII text, the text itself otherwise."""
    if text.isascii():
        return text
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def _address(name: str, addr: str) -> str:
    shown = _encoded_word(name)
    if shown == name:
        shown = f'"{name}"'
    return f"{shown} <{addr}>"


class _Gen:
    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.rng = random.Random(seed)
        rng = self.rng
        self.people = []
        for i in range(300):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = f"{first}.{last}".lower().encode("ascii", "ignore").decode() or f"user{i}"
            self.people.append((f"{first} {last}", f"{local}{i}@{rng.choice(DOMAINS)}"))
        # Function words (Zipf-weighted) in every message; topic words from a
        # vocabulary of ~20,000 (pseudo-words, with the named topic words spread
        # through it ~100 apart): each message draws its topic words from one
        # window of 300, so a topic word occurs in a few percent of messages.
        self.common = WORDS[:_N_COMMON]
        self.cum = list(itertools.accumulate(1.0 / (r + 3) for r in range(_N_COMMON)))
        syll = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "vo", "ze", "pa", "qui", "dor",
                "len", "bar", "fi", "gu", "ho", "jo", "ster", "wen", "xi", "ya", "mon", "tri"]
        vocab = ["".join(rng.choices(syll, k=rng.randint(2, 4))) for _ in range(20_000)]
        for k, word in enumerate(WORDS[_N_COMMON:]):
            vocab[150 + 100 * k] = word
        self.vocab = vocab
        self.window: list[str] = vocab[:300]
        self.blob = base64.encodebytes(rng.randbytes(3 * 1024 * 1024))  # attachment source
        self.threads: list[tuple[str, list[str], str]] = []  # (last id, refs, subject)

    def words(self, k: int) -> list[str]:
        """A line: function words and topic words of this message's window, mixed."""
        out = self.rng.choices(self.common, cum_weights=self.cum, k=k - k // 3)
        out += self.rng.choices(self.window, k=k // 3)
        self.rng.shuffle(out)
        return out

    def paragraph_text(self, size: int) -> str:
        out: list[str] = []
        length = 0
        while length < size:
            line = " ".join(self.words(self.rng.randint(8, 13)))
            out.append(line)
            length += len(line) + 2
        return "\r\n".join(out)

    def message(self, i: int) -> Message:
        rng = self.rng
        off = rng.randrange(len(self.vocab) - 300)
        self.window = self.vocab[off:off + 300]
        date_ts = START + SPAN * i / max(self.n, 1) + rng.uniform(0, SPAN / max(self.n, 1))
        sender = rng.choice(self.people)
        rcpts = rng.sample(self.people, rng.choice((1, 1, 1, 2, 3)))
        ccs = rng.sample(self.people, 1) if rng.random() < 0.2 else []
        msgid = f"{i}.{rng.getrandbits(40):010x}@{sender[1].split('@')[1]}"
        in_reply_to: str | None = None
        refs: list[str] = []
        if self.threads and rng.random() < 0.4:
            k = rng.randrange(max(0, len(self.threads) - 200), len(self.threads))
            parent, prefs, base = self.threads[k]
            in_reply_to, refs = parent, [*prefs, parent][-10:]
            subject = "Re: " + base
            self.threads[k] = (msgid, refs, base)
        else:
            subject = " ".join(rng.choices(self.window, k=rng.randint(2, 5))).capitalize()
            if rng.random() < 0.15:
                subject = rng.choice(SUBJECT_EXTRA) + " " + subject
            subject += f" #{i}"
            self.threads.append((msgid, [], subject))
            if len(self.threads) > 5000:
                del self.threads[:1000]
        # Size: body text log-uniform over ~2-20 KB.
        text = self.paragraph_text(int(2000 * 10 ** rng.uniform(0, 1)) - 700)
        html = rng.random() < 0.3
        attach: list[tuple[str, str, bytes]] = []
        if rng.random() < 0.02:
            size = int(100_000 * 20 ** rng.uniform(0, 1))  # 100 KB - 2 MB
            off = rng.randrange(0, len(self.blob) - size)
            start = self.blob.find(b"\n", off) + 1
            data = self.blob[start:start + size]
            data = data[: data.rfind(b"\n") + 1]
            ext, ctype = rng.choice(EXTS)
            attach.append((f"{rng.choice(FILENAMES)} {i}.{ext}", ctype, data))
        elif rng.random() < 0.05:  # small attachment
            ext, ctype = rng.choice(EXTS)
            data = self.blob[:rng.randint(20, 120) * 77]
            attach.append((f"{rng.choice(FILENAMES)}-{i}.{ext}", ctype, data))
        date_hdr = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(date_ts))
        headers = [
            f"Return-Path: <{sender[1]}>",
            f"Received: from mx{i % 7}.{sender[1].split('@')[1]} by mail.example.test;"
            f" {date_hdr}",
            f"From: {_address(*sender)}",
            "To: " + ", ".join(_address(*p) for p in rcpts),
        ]
        if ccs:
            headers.append("Cc: " + ", ".join(_address(*p) for p in ccs))
        headers += [f"Subject: {_encoded_word(subject)}", f"Date: {date_hdr}",
                    f"Message-ID: <{msgid}>"]
        if in_reply_to:
            headers.append(f"In-Reply-To: <{in_reply_to}>")
            headers.append("References: " + " ".join(f"<{r}>" for r in refs))
        headers.append("MIME-Version: 1.0")
        body_text = text + "\r\n"
        if html:
            html_body = ("<html><body><p>" + text.replace("\r\n", "</p>\r\n<p>")
                         + "</p></body></html>\r\n")
            alt = (f"Content-Type: multipart/alternative; boundary=\"alt-{i}\"\r\n\r\n"
                   f"--alt-{i}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   f"Content-Transfer-Encoding: 8bit\r\n\r\n{body_text}"
                   f"--alt-{i}\r\nContent-Type: text/html; charset=utf-8\r\n"
                   f"Content-Transfer-Encoding: 8bit\r\n\r\n{html_body}--alt-{i}--\r\n")
        else:
            alt = ("Content-Type: text/plain; charset=utf-8\r\n"
                   f"Content-Transfer-Encoding: 8bit\r\n\r\n{body_text}")
        if attach:
            headers.append(f"Content-Type: multipart/mixed; boundary=\"mix-{i}\"")
            chunks = [("\r\n".join(headers) + "\r\n\r\nThis is a multipart message.\r\n"
                       f"--mix-{i}\r\n{alt}").encode()]
            for name, ctype, data in attach:
                chunks.append(
                    (f"--mix-{i}\r\nContent-Type: {ctype}\r\n"
                     "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment;"
                     f" filename*=utf-8''{quote(name, safe='')}\r\n\r\n").encode())
                chunks.append(data.replace(b"\n", b"\r\n"))
            chunks.append(f"--mix-{i}--\r\n".encode())
            raw = b"".join(chunks)
        else:
            raw = ("\r\n".join(headers) + "\r\n" + alt).encode()
        return Message(i, raw, msgid, subject, f"{sender[0]} <{sender[1]}>",
                       [f"{p[0]} <{p[1]}>" for p in rcpts], [f"{p[0]} <{p[1]}>" for p in ccs],
                       date_ts, text, [a[0] for a in attach], in_reply_to, refs, html)


def messages(n: int, seed: int = 1) -> Iterator[Message]:
    """The corpus's messages in order (deterministic for a given n and seed)."""
    gen = _Gen(n, seed)
    for i in range(n):
        yield gen.message(i)


def messages_shard(n: int, seed: int, start: int, stop: int) -> Iterator[Message]:
    """Messages start..stop-1 of a corpus of n generated independently of the others
    (same people and vocabulary, a random stream of their own; threads start fresh
    in each shard), so large corpora can be generated in parallel. Deterministic
    for given (n, seed, start, stop), but not the same bytes as `messages(n, seed)`.
    """
    gen = _Gen(n, seed)
    gen.rng = random.Random(seed * 1_000_003 + start)
    for i in range(start, stop):
        yield gen.message(i)


def write_maildir(root: Path, n: int, seed: int = 1) -> int:
    """Write the corpus as a maildir at `root` (cur/new/tmp); returns total bytes."""
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return sum(write_message(root, m) for m in messages(n, seed))


def write_message(root: Path, m: Message) -> int:
    """One message into the maildir at `root`; returns its size."""
    name = f"{int(m.date_ts)}.M{m.number:06d}P1Q{m.number}.bench"
    # 10% still in new/ (no info suffix), the rest in cur/ with flags.
    path = root / "new" / name if m.number % 10 == 9 else root / "cur" / f"{name}:2,S"
    path.write_bytes(m.raw)
    return len(m.raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.monotonic()
    total = write_maildir(args.dir, args.messages, args.seed)
    took = time.monotonic() - start
    print(f"{args.messages} messages, {total / 1e6:.1f} MB in {args.dir} in {took:.1f} s")


if __name__ == "__main__":
    main()
