"""Chat markdown -> safe HTML, in the shapes Stack Exchange chat gives its ``content``.

What Stack Exchange renders, and so what clients match on (shared/protocol/sechat.md
§6.2; the ``markdownMini`` rules of SE chat's ``master-chat.js``; bots that turn
content back into markdown by mapping exactly ``<b>``, ``<i>`` and ``<strike>``):

- A single-line message is markdown: ``**bold**``/``__bold__`` -> ``<b>``,
  ``*italic*``/``_italic_`` -> ``<i>``, ``---strike---`` -> ``<strike>``,
  `` `code` `` -> ``<code>``, ``[text](http://url "title")`` and bare
  ``http(s)://`` URLs -> ``<a href="…" rel="nofollow noopener noreferrer">`` (no
  onebox: a URL alone stays a link), ``[tag:x]`` and ``[meta-tag:x]`` -> the tag
  badge ``<a href="…"><span class="ob-post-tag" style="…">x</span></a>``. A message
  starting with ``> `` is a quote: ``<div class="quote">…</div>``. Raw HTML is text.
- A message with a newline is not rendered: it is escaped and wrapped in
  ``<div class='full'>`` with `` <br> `` between lines.
- A message whose every line is indented four spaces is fixed-width:
  ``<pre class='full'>`` with the indentation removed.
- Text is escaped as SE escapes it: ``&``, ``<``, ``>``, ``"`` -> ``&quot;`` and
  ``'`` -> ``&#39;``.

The single quotes in ``class='full'`` are what clients match on (sechat.md §6.2).
hubbub has no Q&A site, so tag badges link to the rooms with that tag, and a meta
tag looks like any other. Markdown is parsed by markdown-it-py and the result always
passes through nh3 (ammonia), so no script, event handler or ``javascript:`` URL
survives whatever the parser emits; ``rel``, the badge's ``class`` and its ``style``
are allowed only with their fixed values.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline

__all__ = [
    "LINK_REL",
    "TAG_BADGE_CLASS",
    "TAG_BADGE_STYLE",
    "RenderedBody",
    "render_body",
    "render_message",
    "to_plain_text",
]

LINK_REL: Final = "nofollow noopener noreferrer"
TAG_BADGE_CLASS: Final = "ob-post-tag"
# Stack Exchange chat's inline style on a tag badge, byte for byte (clients' regexes expect one).
TAG_BADGE_STYLE: Final = "background-color: #E0EAF1; color: #3E6D8E; border-color: #3E6D8E; border-style: solid;"
QUOTE_PREFIX: Final = "> "

_ALLOWED_TAGS: Final = frozenset({"a", "b", "i", "code", "strike", "br", "span"})
_ALLOWED_ATTRIBUTES: Final = {"a": {"href", "title"}}
_FIXED_ATTRIBUTE_VALUES: Final = {
    "a": {"rel": {LINK_REL}},
    "span": {"class": {TAG_BADGE_CLASS}, "style": {TAG_BADGE_STYLE}},
}
_ALLOWED_SCHEMES: Final = frozenset({"http", "https", "mailto"})
# markdown-it's names for the inline tags -> Stack Exchange's.
_SE_TAGS: Final = {"strong": "b", "em": "i"}
_TAG_NAME = re.compile(r"[a-z0-9#+.\-]{1,35}", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^>]*>")
# A tag in nh3's output: its attribute values are always double-quoted with '"' escaped, so a
# '>' inside a value (a link title) does not end the match.
_SANITISED_TAG = re.compile(r'<(?:[^>"]|"[^"]*")*>')


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
    for prefix in ("[tag:", "[meta-tag:"):
        if src.startswith(prefix, start):
            close = src.find("]", start)
            name = src[start + len(prefix) : close] if close > 0 else ""
            if not _TAG_NAME.fullmatch(name):
                return False
            if not silent:
                link = state.push("link_open", "a", 1)
                link.attrs = {"href": f"/rooms?tag={quote(name.lower(), safe='')}"}
                link.meta = {"tag_badge": True}  # SE's badge links carry no rel
                span = state.push("span_open", "span", 1)
                span.attrs = {"class": TAG_BADGE_CLASS, "style": TAG_BADGE_STYLE}
                text = state.push("text", "", 0)
                text.content = name.lower()
                state.push("span_close", "span", -1)
                state.push("link_close", "a", -1)
            state.pos = close + 1
            return True
    return False


def _se_shapes(state: StateCore) -> None:
    """Rename strong/em to b/i and give every link but a tag badge SE's ``rel``."""
    for block in state.tokens:
        for token in block.children or ():
            token.tag = _SE_TAGS.get(token.tag, token.tag)
            if token.type == "link_open" and not token.meta.get("tag_badge"):
                token.attrs["rel"] = LINK_REL


@functools.cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("zero", {"linkify": True, "html": False})
    md.enable(["emphasis", "backticks", "link", "linkify", "escape", "entity"])
    assert md.linkify is not None  # linkify-it-py is a dependency
    md.linkify.set({"fuzzy_link": False, "fuzzy_email": False})
    md.inline.ruler.before("emphasis", "chat_strike", _strike_rule)
    md.inline.ruler.before("link", "chat_tag", _tag_rule)
    md.core.ruler.push("chat_se_shapes", _se_shapes)
    return md


@functools.cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(_ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in _ALLOWED_ATTRIBUTES.items()},
        tag_attribute_values={
            tag: {name: set(values) for name, values in fixed.items()} for tag, fixed in _FIXED_ATTRIBUTE_VALUES.items()
        },
        url_schemes=set(_ALLOWED_SCHEMES),
        link_rel=None,  # rel is allowed, with SE's one value, where the renderer put it
    )


def _escape_text(text: str) -> str:
    """Escape text the way Stack Exchange does: ``&``, ``<``, ``>``, ``"``, and ``'`` as ``&#39;``."""
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def _quote_marks_as_entities(sanitised: str) -> str:
    """nh3 writes ``"`` and ``'`` in text as they are; SE writes them as entities. Tags are left alone."""
    pieces: list[str] = []
    last = 0
    for tag in _SANITISED_TAG.finditer(sanitised):
        pieces.append(sanitised[last : tag.start()].replace('"', "&quot;").replace("'", "&#39;"))
        pieces.append(tag.group())
        last = tag.end()
    pieces.append(sanitised[last:].replace('"', "&quot;").replace("'", "&#39;"))
    return "".join(pieces)


# Where one of the enabled inline rules can begin: emphasis, code, links and tag badges,
# escapes, entities, strike-through, and the protocol-relative "//" of a link.
_MARKUP_START = re.compile(r"[*_`\[\]\\&]|---|//")


def _is_plain(text: str) -> bool:
    """Whether no rule of the parser can act on ``text``, so that it renders as itself, escaped.

    Most chat lines are plain, and the parser and the sanitiser cost far more than escaping.
    Non-printable characters are left to them (nh3 writes a no-break space as ``&nbsp;``).
    A ``:`` can begin a ``mailto:`` link; linkify's case-blind match of it also takes some
    non-ASCII letters (``ı`` for ``i``), so a line with a colon must be ASCII to be plain.
    """
    if not text.isprintable() or _MARKUP_START.search(text):
        return False
    return ":" not in text or (text.isascii() and "mailto:" not in text.lower())


def _parse_inline(text: str) -> str:
    return _quote_marks_as_entities(_cleaner().clean(_parser().renderInline(text)))


def _render_inline(text: str) -> str:
    return _escape_text(text) if _is_plain(text) else _parse_inline(text)


def _is_fixed_width(lines: list[str]) -> bool:
    return any(line.strip() for line in lines) and all(line.startswith("    ") or not line.strip() for line in lines)


@dataclass(frozen=True, slots=True)
class RenderedBody:
    """A message body rendered to HTML without its reply lead: the costly markdown pass, done once.

    The service renders a post's body before its write transaction (the text alone decides
    the body's HTML) and adds the ``@handle`` of a reply's parent author inside it, where the
    parent is known: ``content`` is string work only.
    """

    shape: Literal["fixed", "lines", "inline"]
    parts: tuple[str, ...]  # fixed: the escaped body; lines: each line escaped; inline: the HTML

    def content(self, reply_handle: str | None = None) -> str:
        """The ``content`` of the message: the body, led by ``@reply_handle`` for a reply."""
        lead = _escape_text(f"@{reply_handle}") if reply_handle else ""
        if self.shape == "fixed":
            body = f"{lead}\n{self.parts[0]}" if lead else self.parts[0]
            return f"<pre class='full'>{body}</pre>"
        if self.shape == "lines":
            first, *rest = self.parts
            if lead:
                first = f"{lead} {first}".rstrip()  # escaping never adds or removes whitespace
            return "<div class='full'>" + " <br> ".join((first, *rest)) + "</div>"
        return f"{lead} {self.parts[0]}".rstrip() if lead else self.parts[0]


def render_body(text: str) -> RenderedBody:
    """Render what the author typed (any ``:<id>`` reply prefix already removed), lead left out."""
    lines = text.split("\n")
    if _is_fixed_width(lines):
        return RenderedBody("fixed", (_escape_text("\n".join(line[4:] for line in lines)),))
    if len(lines) > 1:
        return RenderedBody("lines", tuple(_escape_text(line) for line in lines))
    if text.startswith(QUOTE_PREFIX) and text[len(QUOTE_PREFIX) :].strip():
        return RenderedBody("inline", (f'<div class="quote">{_render_inline(text[len(QUOTE_PREFIX) :])}</div>',))
    return RenderedBody("inline", (_render_inline(text),))


def render_message(text: str, *, reply_handle: str | None = None) -> str:
    """Render a message's source to the HTML its events carry as ``content``.

    Args:
        text: What the author typed, with any ``:<id>`` reply prefix already removed.
        reply_handle: For replies, the parent author's ping handle; the content then
            starts with ``@handle`` as Stack Exchange shows replies.
    """
    return render_body(text).content(reply_handle)


def to_plain_text(content: str) -> str:
    """The text of rendered content, for notifications, titles and search snippets."""
    with_breaks = content.replace("<br>", "\n")
    return html.unescape(_HTML_TAG.sub("", with_breaks))


_WHOLLY_ITALIC: Final = re.compile(r"<i>((?:(?!</?i>).)*)</i>", re.DOTALL)


def emote_text(content: str) -> str | None:
    """The plain text of rendered content that is all italics (``*waves*``), the way a ``/me`` is
    posted in a room (IRC's CTCP ACTION, a stream's ``emote``); None for any other content."""
    found = _WHOLLY_ITALIC.fullmatch(content.strip())
    return None if found is None else to_plain_text(found.group(1))
