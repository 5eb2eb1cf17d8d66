"""Reduce HTML mail bodies to readable plain text for display and indexing.

Uses the standard library's tolerant HTML tokenizer: script and style contents are
dropped, block elements become line breaks, link targets are collected.
"""

from __future__ import annotations

import contextlib
import re
from html.parser import HTMLParser

_BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
          "blockquote", "pre", "hr", "section", "article", "header", "footer", "ul", "ol"}
_SKIP = {"script", "style", "head", "title"}


class _Reducer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag in _BLOCK:
            self.chunks.append("\n")
        if tag == "a":
            href = dict(attrs).get("href")
            if href and not href.startswith("#"):
                self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self._skip:
            self._skip -= 1
        elif tag in _BLOCK:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def html_to_text(html: str) -> tuple[str, list[str]]:
    """Return the readable text of an HTML document and the links it holds."""
    parser = _Reducer()
    # The tokenizer gives up on some junk; keep what it read until then.
    with contextlib.suppress(AssertionError, ValueError):
        parser.feed(html)
        parser.close()
    text = "".join(parser.chunks)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" *\n[ \n]*", "\n", text)
    return text.strip(), parser.links
