"""Turn a plain search string into an FTS5 MATCH expression (bound as a parameter).

For now every whitespace-separated word becomes a quoted FTS5 string, so user
input can never be read as FTS5 syntax; a trailing `*` keeps prefix matching.
The full query language (fields, OR, NOT, dates) is built on top of this later.
"""

from __future__ import annotations

from mailops.errors import UsageError


def match_expression(query: str) -> str:
    """AND of the query's words, each quoted; `word*` stays a prefix match."""
    terms: list[str] = []
    for word in query.split():
        prefix = word.endswith("*") and len(word) > 1
        core = word.rstrip("*") if prefix else word
        if not core:
            continue
        quoted = '"' + core.replace('"', '""') + '"'
        terms.append(quoted + ("*" if prefix else ""))
    if not terms:
        raise UsageError(f"nothing to search for in {query!r}")
    return " AND ".join(terms)
