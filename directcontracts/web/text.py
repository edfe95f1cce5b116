"""Text people wrote, shown as HTML: escaped, with its web links made clickable (``linkify``)."""
from __future__ import annotations

import re

from markupsafe import Markup, escape

#: A web link: http or https only (``javascript:``, ``data:`` … stay plain text).
LINK = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
#: Punctuation that ends a sentence rather than the link it follows.
TRAILING = ".,;:!?)]}'\""


def linkify(value: str | None) -> Markup:
    """``{{ text|linkify }}``: the text escaped, each http(s) link an ``<a>`` (escaped too)."""
    text = str(value or "")
    parts: list[Markup] = []
    last = 0
    for match in LINK.finditer(text):
        url = match.group(0)
        while url and url[-1] in TRAILING and not (url[-1] == ")" and url.count("(") >= url.count(")")):
            url = url[:-1]
        if len(url) <= len("https://"):
            continue
        parts.append(escape(text[last:match.start()]))
        parts.append(Markup('<a href="{0}" rel="nofollow noopener noreferrer" target="_blank">{0}</a>').format(url))
        last = match.start() + len(url)
    parts.append(escape(text[last:]))
    return Markup("").join(parts)
