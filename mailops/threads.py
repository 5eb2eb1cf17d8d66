"""Conversation threading: subjects, JWZ-style reply trees and thread summaries.

Which messages form one thread is decided incrementally at ingest by the store
(mailops/store/threads.py): a message joins every thread that shares a
message-id with its own Message-ID, References or In-Reply-To, merging them.
This module is the pure part: subject normalization for the optional subject
fallback, and the reply tree of one thread built from its messages' headers
(Jamie Zawinski's algorithm, with missing parents kept as placeholders).
docs/threads.md describes the behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailops.store import Store

# Reply markers: English "Re", German "AW", Nordic "SV", Dutch "Antw", optionally
# counted ("Re[2]:", "Re(2):"). A list tag ("[dev]") may come before or after them.
_REPLY = re.compile(r"(?:re|aw|sv|antw)\s*(?:\[\d+\]|\(\d+\))?\s*:", re.IGNORECASE)
_LIST_TAG = re.compile(r"\[[^\[\]]{0,64}\]")
MAX_DEPTH = 100  # tree levels shown; deeper replies are listed at the last level


def _strip_prefixes(subject: str) -> tuple[str, bool]:
    """The subject without leading list tags and reply markers, and whether a reply
    marker was among them."""
    text = subject.strip()
    replied = False
    while True:
        m = _REPLY.match(text) or _LIST_TAG.match(text)
        if m is None:
            return text, replied
        replied = replied or m.re is _REPLY
        text = text[m.end():].lstrip()


def normalize_subject(subject: str) -> str:
    """The subject as threads compare it: no "Re:"/list-tag prefixes, case-folded,
    whitespace collapsed ("Re: [dev]  Plans" -> "plans")."""
    return " ".join(_strip_prefixes(subject)[0].casefold().split())


def is_reply_subject(subject: str) -> bool:
    """Whether a subject looks like a reply ("Re: X", "AW: X", "[list] Re: X")."""
    return _strip_prefixes(subject)[1]


def parent_chain(refs: Sequence[str], in_reply_to: str | None) -> list[str]:
    """A message's ancestors, oldest first: References, then In-Reply-To if missing."""
    chain = list(dict.fromkeys(refs))
    if in_reply_to and in_reply_to not in chain:
        chain.append(in_reply_to)
    return chain


@dataclass
class ThreadMessage:
    """What tree building needs to know about one message of a thread."""

    id: int
    message_id: str | None
    refs: list[str]
    in_reply_to: str | None
    when: float  # Date header, else arrival time (Unix seconds)
    date: str | None  # ISO 8601 UTC, None when the Date header is missing
    sender: str  # From header, else the envelope sender
    subject: str
    seen: bool = False


@dataclass(eq=False)
class Node:
    """One position in a reply tree: a message, or a placeholder for a missing one."""

    message_id: str | None
    message: ThreadMessage | None = None
    parent: Node | None = field(default=None, repr=False)
    children: list[Node] = field(default_factory=list)

    @property
    def missing(self) -> bool:
        """A placeholder: a message other messages reply to but that is not stored."""
        return self.message is None

    def sort_key(self) -> tuple[float, int]:
        """Earliest (time, id) in this subtree: siblings are shown oldest first."""
        if self.message is not None:
            return (self.message.when, self.message.id)
        keys = [c.sort_key() for c in self.children]
        return min(keys) if keys else (float("inf"), 0)


def _is_ancestor(node: Node, of: Node) -> bool:
    """Whether `node` is `of` or one of its ancestors (a link would make a loop)."""
    cur: Node | None = of
    while cur is not None:
        if cur is node:
            return True
        cur = cur.parent
    return False


def _link(parent: Node, child: Node) -> None:
    if child.parent is not None:
        child.parent.children.remove(child)
    child.parent = parent
    parent.children.append(child)


def build_tree(messages: Iterable[ThreadMessage]) -> list[Node]:
    """The reply tree(s) of one thread's messages, roots oldest first.

    JWZ: every References chain links its ids parent to child (first link wins,
    never a loop); a message's parent is the last id of its chain. Ids named but
    not stored stay as placeholders (`missing`); a run of placeholders with one
    child each collapses into one. Replies deeper than MAX_DEPTH levels are
    listed at that level. A root that has no references but a reply
    subject (it joined by the subject fallback) goes under the oldest other root.
    The result depends only on the set of messages, not on their order.
    """
    ordered = sorted(messages, key=lambda m: (m.when, m.id))
    nodes: dict[str, Node] = {}

    def node_for(key: str) -> Node:
        found = nodes.get(key)
        if found is None:
            found = nodes[key] = Node(key)
        return found

    for msg in ordered:
        key = msg.message_id or f"\0id{msg.id}"
        if key in nodes and nodes[key].message is not None:
            key = f"\0dup{msg.id}"  # a second copy of a Message-ID: its own node
        node = node_for(key)
        node.message = msg
        chain = [i for i in parent_chain(msg.refs, msg.in_reply_to) if i != msg.message_id]
        for a, b in pairwise(chain):
            pa, pb = node_for(a), node_for(b)
            if pb.parent is None and not _is_ancestor(pb, pa):
                _link(pa, pb)
        if chain:
            parent = node_for(chain[-1])
            if node.parent is not parent and not _is_ancestor(node, parent):
                _link(parent, node)

    roots = [n for n in nodes.values() if n.parent is None]
    _cap_depth(roots)
    roots = [r for r in (_prune(r) for r in roots) if r is not None]
    roots.sort(key=Node.sort_key)
    # Subject-fallback members have no references: hang them under the thread's start.
    if roots:
        anchor = next((r for r in roots if not _joined_by_subject(r)), roots[0])
        for r in [r for r in roots if r is not anchor and _joined_by_subject(r)]:
            roots.remove(r)
            _link(anchor, r)
    for r in roots:
        _sort(r)
    return roots


def _cap_depth(roots: list[Node]) -> None:
    """Flatten everything below MAX_DEPTH levels into that level, so a reply chain of
    thousands stays printable (and the recursive helpers stay shallow)."""
    stack = [(r, 1) for r in roots]
    while stack:
        node, depth = stack.pop()
        if depth < MAX_DEPTH - 1:
            stack.extend((c, depth + 1) for c in node.children)
            continue
        below: list[Node] = []
        todo = list(node.children)
        while todo:
            d = todo.pop()
            below.append(d)
            todo.extend(d.children)
            d.children = []
            d.parent = node
        node.children = below


def _joined_by_subject(node: Node) -> bool:
    m = node.message
    return m is not None and not m.refs and not m.in_reply_to and is_reply_subject(m.subject)


def _prune(node: Node) -> Node | None:
    """Drop placeholders without messages below them; collapse placeholder runs."""
    kept = []
    for child in list(node.children):
        pruned = _prune(child)
        if pruned is not None:
            pruned.parent = node
            kept.append(pruned)
    node.children = kept
    if node.message is None:
        if not kept:
            return None
        if len(kept) == 1 and kept[0].message is None:
            kept[0].parent = node.parent
            return kept[0]
    return node


def _sort(node: Node) -> None:
    node.children.sort(key=Node.sort_key)
    for c in node.children:
        _sort(c)


def walk(roots: Sequence[Node]) -> Iterator[tuple[str, Node]]:
    """Every node in display order with its box-drawing prefix ("├─ ", "│  └─ ")."""

    def visit(node: Node, lead: str, prefix: str) -> Iterator[tuple[str, Node]]:
        yield prefix, node
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            yield from visit(child, lead + ("   " if last else "│  "),
                             lead + ("└─ " if last else "├─ "))

    for root in roots:
        yield from visit(root, "", "")


def node_dict(node: Node) -> dict[str, Any]:
    """A node and its subtree as JSON-ready dicts (the `thread --json` shape)."""
    m = node.message
    return {
        "id": m.id if m else None,
        "message_id": node.message_id if m is None else m.message_id,
        "missing": m is None,
        "date": m.date if m else None,
        "from": m.sender if m else None,
        "subject": m.subject if m else None,
        "children": [node_dict(c) for c in node.children],
    }


def display_name(sender: str) -> str:
    """A sender as people read it: the display name, else the address."""
    from email.utils import parseaddr

    name, addr = parseaddr(sender)
    return name or addr or sender


def participants(messages: Iterable[ThreadMessage]) -> list[str]:
    """The senders of a thread, oldest first, each address once."""
    from email.utils import parseaddr

    seen: dict[str, str] = {}
    for m in sorted(messages, key=lambda m: (m.when, m.id)):
        if m.sender:
            seen.setdefault(parseaddr(m.sender)[1].lower() or m.sender, m.sender)
    return list(seen.values())


def root_subject(roots: Sequence[Node]) -> str:
    """The subject of the thread's first message in tree order."""
    for _, node in walk(roots):
        if node.message is not None:
            return node.message.subject
    return ""


@dataclass
class Conversation:
    """One thread: its id, messages and reply tree."""

    thread_id: int | None
    messages: list[ThreadMessage]
    roots: list[Node]

    def as_dict(self) -> dict[str, Any]:
        """The `mailops thread --json` shape."""
        return {"thread_id": self.thread_id, "count": len(self.messages),
                "roots": [node_dict(r) for r in self.roots]}


def conversation(store: Store, msg_id: int) -> Conversation:
    """The thread containing message `msg_id` (NotFoundError if there is none)."""
    from mailops.store import threads as sql

    thread_id, messages = sql.thread_messages(store.db, msg_id)
    return Conversation(thread_id, messages, build_tree(messages))


def conversations(store: Store, query: str | None = None, *,
                  limit: int = 50) -> list[dict[str, Any]]:
    """Threads newest first (by their newest message), optionally only those with a
    message matching a query: one summary dict per thread (`ls --threads --json`)."""
    from mailops.store import threads as sql

    out = []
    for summary, messages in sql.list_threads(store.db, query, limit=limit):
        roots = build_tree(messages)
        summary["subject"] = root_subject(roots)
        summary["participants"] = participants(messages)
        out.append(summary)
    return out


def sync_settings(store: Store, subject_days: int) -> None:
    """Record the subject-fallback window (config `threads.subject_days`) in the store,
    where every indexer (the daemon's included) reads it."""
    from mailops.store import threads as sql

    sql.set_subject_days(store.db, subject_days)
