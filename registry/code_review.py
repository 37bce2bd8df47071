"""What a reviewer reads before trusting code: every file of the bundle as highlighted source, and a diff
to the plugin's previous published version. Both are size-capped; Pygments escapes everything it renders."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

from . import bundles, services
from .models import PluginVersion

#: CSS class of every highlighted block (registry/static/registry/review.css styles it).
CSS_CLASS = "argus-source"


@dataclass(frozen=True)
class SourceFile:
    path: str
    size: int
    #: The file's text (up to the cap), or None for a binary file or one past the page's total cap.
    text: str | None
    truncated: bool
    omitted_reason: str = ""


@dataclass(frozen=True)
class FileDiff:
    path: str
    change: str  # "added", "removed" or "modified"
    unified: str  # unified diff text; empty when a side is binary or omitted


def source_files(version: PluginVersion) -> list[SourceFile]:
    """The stored bundle's files, text decoded as UTF-8, each cut at ARGUS_REVIEW_MAX_FILE_BYTES and the
    page at ARGUS_REVIEW_MAX_TOTAL_BYTES (later files are listed, not shown)."""
    heads = bundles.read_file_heads(
        services.read_stored_bundle(version),
        max_file_bytes=settings.ARGUS_REVIEW_MAX_FILE_BYTES,
        max_bundle_bytes=settings.ARGUS_MAX_BUNDLE_BYTES,
        max_uncompressed_bytes=settings.ARGUS_MAX_BUNDLE_UNCOMPRESSED_BYTES,
        max_members=settings.ARGUS_MAX_BUNDLE_MEMBERS,
    )
    budget = settings.ARGUS_REVIEW_MAX_TOTAL_BYTES
    files = []
    for head in heads:
        text = _decode(head.head)
        if text is None:
            files.append(SourceFile(head.path, head.size, None, head.truncated, "binary file"))
        elif len(head.head) > budget:
            files.append(SourceFile(head.path, head.size, None, head.truncated, "page size limit reached"))
        else:
            budget -= len(head.head)
            files.append(SourceFile(head.path, head.size, text, head.truncated))
    return files


def _decode(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start >= len(data) - 3:  # the cap cut a multi-byte character
            return data[: error.start].decode("utf-8", errors="replace")
        return None


def previous_published_version(version: PluginVersion) -> PluginVersion | None:
    """The highest version of the same plugin below this one that was ever published."""
    return (
        PluginVersion.objects.filter(
            plugin_id=version.plugin_id,
            published_at__isnull=False,
            precedence_key__lt=version.precedence_key,
        )
        .exclude(pk=version.pk)
        .select_related("plugin")
        .order_by("-precedence_key")
        .first()
    )


def file_diffs(
    previous: PluginVersion, before: list[SourceFile], current: PluginVersion, after: list[SourceFile]
) -> list[FileDiff]:
    """Per-file unified diffs, files in the new version's order then removed ones; unchanged files skipped."""
    old = {file.path: file for file in before}
    new = {file.path: file for file in after}
    diffs = []
    for path in [*new, *(path for path in old if path not in new)]:
        a, b = old.get(path), new.get(path)
        if a is not None and b is not None and a.text == b.text and a.size == b.size:
            continue
        change = "added" if a is None else "removed" if b is None else "modified"
        a_lines = a.text.splitlines() if a is not None and a.text is not None else []
        b_lines = b.text.splitlines() if b is not None and b.text is not None else []
        unified = "\n".join(
            difflib.unified_diff(
                a_lines,
                b_lines,
                fromfile=f"{previous.version}/{path}" if a is not None else "/dev/null",
                tofile=f"{current.version}/{path}" if b is not None else "/dev/null",
                lineterm="",
            )
        )
        diffs.append(FileDiff(path, change, unified))
    return diffs


def highlight_source(path: str, text: str) -> SafeString:
    try:
        lexer = get_lexer_for_filename(path, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    return mark_safe(highlight(text, lexer, HtmlFormatter(cssclass=CSS_CLASS, linenos="table")))  # noqa: S308 - Pygments escapes the text


def highlight_diff(unified: str) -> SafeString:
    return mark_safe(highlight(unified, DiffLexer(stripnl=False), HtmlFormatter(cssclass=CSS_CLASS)))  # noqa: S308 - Pygments escapes the text


def stylesheet() -> str:
    """The CSS for CSS_CLASS (written to registry/static/registry/review.css)."""
    return HtmlFormatter(cssclass=CSS_CLASS).get_style_defs(f".{CSS_CLASS}")
