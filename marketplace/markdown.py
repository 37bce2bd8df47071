"""Listing descriptions: Markdown in, safe HTML out.

markdown-it-py parses CommonMark with raw HTML DISABLED (any ``<script>`` or ``<img onerror=…>`` in the
source comes out as escaped text) and refuses ``javascript:``/``vbscript:``/``data:`` link targets; the
result then goes through nh3 (the Ammonia sanitiser) with an allow-list of tags, attributes and URL
schemes, as a second, independent line of defence. Links get ``rel="nofollow noopener noreferrer"``.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "code", "pre",
    "blockquote", "s", "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

_parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)


def render_markdown(source: str) -> str:
    """Render publisher Markdown to HTML that is safe to embed in the marketplace pages."""
    if not source:
        return ""
    html = _parser.render(source)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )
