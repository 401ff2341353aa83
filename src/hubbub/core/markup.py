"""Chat markdown -> safe HTML, the subset Stack Exchange chat renders.

- A single-line message is markdown: ``**bold**``, ``*italic*``/``_italic_``,
  `` `code` ``, ``[text](http://url "title")``, ``---strike---``, ``[tag:x]`` and
  ``[meta-tag:x]``, and bare ``http(s)://`` URLs become links. Raw HTML is shown
  as text.
- A message with a newline is not rendered: it is escaped and wrapped in
  ``<div class='full'>`` with ``<br>`` between lines.
- A message whose every line is indented four spaces is fixed-width:
  ``<pre class='full'>`` with the indentation removed.

The single quotes in ``class='full'`` are what clients match on (sechat.md §6.2).
Markdown is parsed by markdown-it-py and the result always passes through nh3
(ammonia), so no script, event handler or ``javascript:`` URL survives whatever
the parser emits.
"""

from __future__ import annotations

import functools
import html
import re
from typing import Final
from urllib.parse import quote

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline

__all__ = ["render_message", "to_plain_text"]

_ALLOWED_TAGS: Final = frozenset({"a", "b", "strong", "i", "em", "code", "strike", "br", "span"})
_ALLOWED_ATTRIBUTES: Final = {"a": {"href", "title"}, "span": {"class"}}
_ALLOWED_SCHEMES: Final = frozenset({"http", "https", "mailto"})
_TAG_NAME = re.compile(r"[a-z0-9#+.\-]{1,35}", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^>]*>")


def _strike_rule(state: StateInline, silent: bool) -> bool:
    """``---text---`` -> ``<strike>text</strike>`` (chat's strike-through)."""
    src, start = state.src, state.pos
    if not src.startswith("---", start):
        return False
    end = src.find("---", start + 3)
    if end <= start + 3 or src[start + 3].isspace() or src[end - 1].isspace():
        return False
    if not silent:
        state.push("strike_open", "strike", 1)
        old_max, state.pos, state.posMax = state.posMax, start + 3, end
        state.md.inline.tokenize(state)
        state.pos, state.posMax = end + 3, old_max
        state.push("strike_close", "strike", -1)
    else:
        state.pos = end + 3
    return True


def _tag_rule(state: StateInline, silent: bool) -> bool:
    """``[tag:python]`` / ``[meta-tag:faq]`` -> a tag badge linking to rooms with that tag.

    The tag is percent-encoded in the link, so ``[tag:c#]`` and ``[tag:c++]`` find their rooms.
    """
    src, start = state.src, state.pos
    for prefix, css in (("[tag:", "ob-post-tag"), ("[meta-tag:", "ob-post-tag meta-tag")):
        if src.startswith(prefix, start):
            close = src.find("]", start)
            name = src[start + len(prefix) : close] if close > 0 else ""
            if not _TAG_NAME.fullmatch(name):
                return False
            if not silent:
                link = state.push("link_open", "a", 1)
                link.attrs = {"href": f"/rooms?tag={quote(name.lower(), safe='')}"}
                span = state.push("span_open", "span", 1)
                span.attrs = {"class": css}
                text = state.push("text", "", 0)
                text.content = name.lower()
                state.push("span_close", "span", -1)
                state.push("link_close", "a", -1)
            state.pos = close + 1
            return True
    return False


@functools.cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("zero", {"linkify": True, "html": False})
    md.enable(["emphasis", "backticks", "link", "linkify", "escape", "entity"])
    assert md.linkify is not None  # linkify-it-py is a dependency
    md.linkify.set({"fuzzy_link": False, "fuzzy_email": False})
    md.inline.ruler.before("emphasis", "chat_strike", _strike_rule)
    md.inline.ruler.before("link", "chat_tag", _tag_rule)
    return md


def _sanitise(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=set(_ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in _ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(_ALLOWED_SCHEMES),
        link_rel="nofollow noopener noreferrer",
    )


def _render_inline(text: str) -> str:
    return _sanitise(_parser().renderInline(text))


def _is_fixed_width(lines: list[str]) -> bool:
    return any(line.strip() for line in lines) and all(line.startswith("    ") or not line.strip() for line in lines)


def render_message(text: str, *, reply_handle: str | None = None) -> str:
    """Render a message's source to the HTML its events carry as ``content``.

    Args:
        text: What the author typed, with any ``:<id>`` reply prefix already removed.
        reply_handle: For replies, the parent author's ping handle; the content then
            starts with ``@handle`` as Stack Exchange shows replies.
    """
    lead = f"@{reply_handle}" if reply_handle else ""
    lines = text.split("\n")
    if _is_fixed_width(lines):
        body = "\n".join(line[4:] for line in lines)
        if lead:
            body = f"{lead}\n{body}"
        return f"<pre class='full'>{html.escape(body, quote=False)}</pre>"
    if len(lines) > 1:
        if lead:
            lines = [f"{lead} {lines[0]}".rstrip(), *lines[1:]]
        escaped = " <br> ".join(html.escape(line, quote=False) for line in lines)
        return f"<div class='full'>{escaped}</div>"
    rendered = _render_inline(text)
    if lead:
        rendered = f"{html.escape(lead, quote=False)} {rendered}".rstrip()
    return rendered


def to_plain_text(content: str) -> str:
    """The text of rendered content, for notifications, titles and search snippets."""
    with_breaks = content.replace("<br>", "\n")
    return html.unescape(_HTML_TAG.sub("", with_breaks))
