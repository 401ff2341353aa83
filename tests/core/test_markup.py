"""core/markup.py: chat markdown -> safe HTML, in Stack Exchange chat's shapes.

The golden tables give, for every construct SE chat renders, the exact HTML its
events carry (sources in the module docstring): bots match these strings and turn
them back into markdown by mapping ``<b>``, ``<i>`` and ``<strike>``. The XSS corpus
checks that whatever the author types, no script, event handler or dangerous URL
reaches a browser.
"""

from __future__ import annotations

import html
import random
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from hubbub.core.markup import (
    LINK_REL,
    TAG_BADGE_CLASS,
    TAG_BADGE_STYLE,
    render_body,
    render_message,
    to_plain_text,
)

REL = f'rel="{LINK_REL}"'
STYLE = "background-color: #E0EAF1; color: #3E6D8E; border-color: #3E6D8E; border-style: solid;"


def badge(tag: str) -> str:
    """SE chat's tag badge, linking to hubbub's rooms with that tag."""
    return f'<a href="/rooms?tag={tag}"><span class="ob-post-tag" style="{STYLE}">{tag}</span></a>'


def test_the_badge_is_se_chats_byte_for_byte() -> None:
    assert (TAG_BADGE_CLASS, TAG_BADGE_STYLE) == ("ob-post-tag", STYLE)


# --- golden: single-line markdown -------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("hello world", "hello world"),
        ("hello **world**", "hello <b>world</b>"),  # seed 001: "content" : "<b>hello</b> world"
        ("**bold**", "<b>bold</b>"),
        ("__bold__", "<b>bold</b>"),
        ("*italic*", "<i>italic</i>"),
        ("_italic_", "<i>italic</i>"),
        ("***both***", "<i><b>both</b></i>"),
        ("`code`", "<code>code</code>"),
        ("``a`b``", "<code>a`b</code>"),
        ("`**not bold**`", "<code>**not bold**</code>"),
        ("`<b>`", "<code>&lt;b&gt;</code>"),
        ("---strike---", "<strike>strike</strike>"),
        ("a---b---c", "a<strike>b</strike>c"),
        ("---**bold** strike---", "<strike><b>bold</b> strike</strike>"),
        ("--- not strike ---", "--- not strike ---"),
        ("----", "----"),
        ("snake_case_word", "snake_case_word"),
        ("\\*not italic\\*", "*not italic*"),
        ("", ""),
    ],
)
def test_inline_markdown(source: str, expected: str) -> None:
    assert render_message(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
        ("&amp; &lt;", "&amp; &lt;"),
        ('say "hi"', "say &quot;hi&quot;"),
        ("it's", "it&#39;s"),  # as SE chat writes "I can&#39;t go either"
        ("<b>hi</b>", "&lt;b&gt;hi&lt;/b&gt;"),  # raw HTML is text
        ('**"quoted"**', "<b>&quot;quoted&quot;</b>"),
    ],
)
def test_text_is_escaped_as_se_chat_escapes_it(source: str, expected: str) -> None:
    assert render_message(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("[text](http://example.com)", f'<a href="http://example.com" {REL}>text</a>'),
        ("[text](https://example.com/a?b=1&c=2)", f'<a href="https://example.com/a?b=1&amp;c=2" {REL}>text</a>'),
        (
            '[text](http://example.com "the title")',
            f'<a href="http://example.com" title="the title" {REL}>text</a>',
        ),
        ("[it's](http://a.example \"a 't'\")", f'<a href="http://a.example" title="a \'t\'" {REL}>it&#39;s</a>'),
        ("[mail](mailto:bob@example.com)", f'<a href="mailto:bob@example.com" {REL}>mail</a>'),
        ("[room](/rooms/1)", f'<a href="/rooms/1" {REL}>room</a>'),
        ("[**bold** link](http://a.example)", f'<a href="http://a.example" {REL}><b>bold</b> link</a>'),
    ],
)
def test_links(source: str, expected: str) -> None:
    assert render_message(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("see http://example.com now", f'see <a href="http://example.com" {REL}>http://example.com</a> now'),
        ("https://example.com/x?a=1", f'<a href="https://example.com/x?a=1" {REL}>https://example.com/x?a=1</a>'),
        ("(http://example.com)", f'(<a href="http://example.com" {REL}>http://example.com</a>)'),
        ("http://example.com.", f'<a href="http://example.com" {REL}>http://example.com</a>.'),
    ],
)
def test_bare_http_urls_become_links(source: str, expected: str) -> None:
    assert render_message(source) == expected


@pytest.mark.parametrize(
    "url", ["https://i.sstatic.net/abc.png", "https://stackoverflow.com/q/1", "https://www.youtube.com/watch?v=x"]
)
def test_a_url_alone_is_a_plain_link_not_a_onebox(url: str) -> None:
    assert render_message(url) == f'<a href="{url}" {REL}>{url}</a>'


@pytest.mark.parametrize("source", ["www.example.com", "example.com", "bob@example.com"])
def test_only_urls_with_a_scheme_are_autolinked(source: str) -> None:
    assert render_message(source) == source


@pytest.mark.parametrize("source", ["ftp://example.com", "[x](ftp://example.com)"])
def test_links_with_other_schemes_lose_their_href(source: str) -> None:
    assert "href" not in render_message(source)


def test_tags_and_meta_tags() -> None:
    assert render_message("[tag:python]") == badge("python")
    assert render_message("[meta-tag:faq]") == badge("faq")  # no meta site: a meta tag is a tag
    assert render_message("see [tag:c] and [tag:go]") == f"see {badge('c')} and {badge('go')}"


def test_tags_are_lower_cased() -> None:
    assert render_message("[tag:Python]") == render_message("[tag:python]")


@pytest.mark.parametrize("tag", ["c++", "c#", ".net", "node.js", "objective-c", "x" * 35])
def test_tag_links_carry_the_whole_tag(tag: str) -> None:
    anchor = BeautifulSoup(render_message(f"[tag:{tag}]"), "html.parser").find("a")
    assert anchor is not None
    href = str(anchor["href"])
    assert urlsplit(href).path == "/rooms"
    assert parse_qs(urlsplit(href).query) == {"tag": [tag]}
    assert anchor.get_text() == tag


@pytest.mark.parametrize("source", ["[tag:]", "[tag:two words]", "[tag:" + "x" * 36 + "]", "[tag:a<b]", "[tag:x"])
def test_malformed_tags_stay_text(source: str) -> None:
    assert "ob-post-tag" not in render_message(source)


def test_markdown_inside_a_line_mixes() -> None:
    assert render_message("**bold** and *it* and `code` ---gone--- [tag:x]") == (
        f"<b>bold</b> and <i>it</i> and <code>code</code> <strike>gone</strike> {badge('x')}"
    )


def test_strike_inside_link_text() -> None:
    assert render_message("[a ---b--- c](http://a.example)") == (
        f'<a href="http://a.example" {REL}>a <strike>b</strike> c</a>'
    )


def test_a_tag_inside_link_text_never_nests_links() -> None:
    output = render_message("[[tag:y] x](http://a.example)")
    soup = BeautifulSoup(output, "html.parser")
    assert all(anchor.find("a") is None for anchor in soup.find_all("a"))
    assert_safe(output)


# --- golden: quotes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("> quoted", '<div class="quote">quoted</div>'),
        ("> with **bold** and [tag:x]", f'<div class="quote">with <b>bold</b> and {badge("x")}</div>'),
        ("> it's <b>", '<div class="quote">it&#39;s &lt;b&gt;</div>'),
        (">no space", "&gt;no space"),
        (">   ", "&gt;   "),
        ("a > b", "a &gt; b"),
    ],
)
def test_a_line_starting_with_a_quote_mark_is_a_quote(source: str, expected: str) -> None:
    assert render_message(source) == expected


def test_a_multi_line_message_starting_with_a_quote_mark_is_not_a_quote() -> None:
    assert render_message("> a\n> b") == "<div class='full'>&gt; a <br> &gt; b</div>"


def test_se_chat_content_turns_back_into_markdown_the_way_bots_do_it() -> None:
    """SmokeDetector-style bots map exactly these tags back to chat markdown."""
    rendered = render_message("**bold** *it* ---gone--- `x`")
    back = rendered
    for tag, mark in (("b", "**"), ("i", "*"), ("strike", "---"), ("code", "`")):
        back = back.replace(f"<{tag}>", mark).replace(f"</{tag}>", mark)
    assert back == "**bold** *it* ---gone--- `x`"


# --- multi-line and fixed-width ---------------------------------------------------------------


def test_multi_line_message_is_wrapped_in_div_full_with_br() -> None:
    assert render_message("one\ntwo\nthree") == "<div class='full'>one <br> two <br> three</div>"


def test_multi_line_message_is_not_markdown() -> None:
    assert render_message("**bold**\n`code`") == "<div class='full'>**bold** <br> `code`</div>"


def test_multi_line_message_is_escaped() -> None:
    assert (
        render_message("a < b\n\"q\" & 'p'") == "<div class='full'>a &lt; b <br> &quot;q&quot; &amp; &#39;p&#39;</div>"
    )


def test_multi_line_message_keeps_empty_lines() -> None:
    assert render_message("a\n\nb") == "<div class='full'>a <br>  <br> b</div>"


def test_fixed_width_message_is_pre_full_without_the_indent() -> None:
    assert render_message("    def f():\n        return 1") == "<pre class='full'>def f():\n    return 1</pre>"


def test_single_indented_line_is_fixed_width() -> None:
    assert render_message("    **not bold**") == "<pre class='full'>**not bold**</pre>"


def test_fixed_width_allows_blank_lines() -> None:
    assert render_message("    a\n\n    b") == "<pre class='full'>a\n\nb</pre>"


def test_fixed_width_is_escaped() -> None:
    assert render_message('    <b> & </pre> "it\'s"') == (
        "<pre class='full'>&lt;b&gt; &amp; &lt;/pre&gt; &quot;it&#39;s&quot;</pre>"
    )


@pytest.mark.parametrize("source", ["    a\n b", "   three spaces\n    four", "    a\nb"])
def test_not_every_line_indented_is_not_fixed_width(source: str) -> None:
    assert render_message(source).startswith("<div class='full'>")


def test_only_blank_lines_is_not_fixed_width() -> None:
    assert not render_message("    \n    ").startswith("<pre")


def test_class_attributes_use_single_quotes_exactly() -> None:
    # S4J's Content regexes and SmokeDetector match these literal strings (sechat.md §6.2).
    assert render_message("a\nb").startswith("<div class='full'>")
    assert render_message("    a").startswith("<pre class='full'>")


# --- replies ----------------------------------------------------------------------------------


def test_reply_single_line_starts_with_the_handle() -> None:
    assert render_message("thanks **a lot**", reply_handle="JonSkeet") == "@JonSkeet thanks <b>a lot</b>"


def test_reply_with_empty_text_is_just_the_handle() -> None:
    assert render_message("", reply_handle="JonSkeet") == "@JonSkeet"


def test_reply_multi_line_puts_the_handle_on_the_first_line() -> None:
    assert render_message("a\nb", reply_handle="Bob") == "<div class='full'>@Bob a <br> b</div>"


def test_reply_with_leading_newline_keeps_the_handle_alone_on_the_first_line() -> None:
    # parse_reply(":12\ntext") leaves "\ntext".
    assert render_message("\ntext", reply_handle="Bob") == "<div class='full'>@Bob <br> text</div>"


def test_reply_fixed_width_puts_the_handle_on_its_own_line() -> None:
    assert render_message("    code", reply_handle="Bob") == "<pre class='full'>@Bob\ncode</pre>"


def test_no_handle_means_no_prefix() -> None:
    assert render_message("hi", reply_handle=None) == "hi"
    assert render_message("hi", reply_handle="") == "hi"


# --- plain text -------------------------------------------------------------------------------


def test_to_plain_text() -> None:
    assert to_plain_text(render_message("**bold** & `code`")) == "bold & code"
    assert to_plain_text(render_message("[link](http://example.com)")) == "link"
    assert to_plain_text(render_message("    a < b")) == "a < b"
    assert "\n" in to_plain_text(render_message("one\ntwo"))


# --- XSS --------------------------------------------------------------------------------------

SAFE_TAGS = {"a", "b", "i", "code", "strike", "br", "span", "div", "pre"}
# Attributes allowed only with one value: what SE chat puts there.
FIXED_VALUES = {("a", "rel"): LINK_REL, ("span", "class"): TAG_BADGE_CLASS, ("span", "style"): TAG_BADGE_STYLE}
SAFE_SCHEMES = {"http", "https", "mailto"}
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_URL_STRIP = "".join(chr(c) for c in range(0x21))  # C0 controls and space


def url_scheme(url: str) -> str | None:
    """The scheme a browser would see (WHATWG URL: trim C0+space, drop tabs and newlines)."""
    cleaned = url.strip(_URL_STRIP).replace("\t", "").replace("\n", "").replace("\r", "")
    match = _SCHEME.match(cleaned)
    return match.group(1).lower() if match else None


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in SAFE_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            fixed = FIXED_VALUES.get((tag, name))
            if fixed is not None and value != fixed:
                self.problems.append(f"attribute {name}={value!r} on <{tag}> other than SE's {fixed!r}")
            if name.startswith("on") or name in {"src", "srcdoc", "formaction", "action", "xlink:href"}:
                self.problems.append(f"attribute {name}={value!r} on <{tag}>")
            if name == "style" and fixed is None:
                self.problems.append(f"attribute style={value!r} on <{tag}>")
            if name == "href":
                scheme = url_scheme(value or "")
                if scheme is not None and scheme not in SAFE_SCHEMES:
                    self.problems.append(f"href scheme {scheme!r} in {value!r}")
            if name not in {"href", "title", "class", "rel", "style"}:
                self.problems.append(f"unexpected attribute {name} on <{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def assert_safe(output: str) -> None:
    audit = _Audit()
    audit.feed(output)
    audit.close()
    assert audit.problems == [], output
    # A second, independent parser must agree.
    soup = BeautifulSoup(output, "html.parser")
    for element in soup.find_all(True):
        assert element.name in SAFE_TAGS, output
        assert not any(attr.lower().startswith("on") for attr in element.attrs), output
        href = element.get("href")
        if href is not None:
            scheme = url_scheme(str(href))
            assert scheme is None or scheme in SAFE_SCHEMES, output
    assert soup.find(["script", "iframe", "img", "svg", "object", "embed", "style", "math", "form"]) is None


def test_the_audit_itself_catches_unsafe_html() -> None:
    for bad in [
        "<script>x</script>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href=" JaVa\tScRiPt:alert(1)">x</a>',
        '<a href="&#106;avascript:x">x</a>',
        '<b onmouseover="x">x</b>',
        "<img src=x>",
        '<a href="data:text/html,x">x</a>',
        '<span style="background:url(javascript:x)">x</span>',
        '<span class="ob-post-tag" style="color: red">x</span>',
        '<b style="color: red">x</b>',
        '<a href="http://x" rel="opener">x</a>',
    ]:
        with pytest.raises(AssertionError):
            assert_safe(bad)
    assert_safe(f'<a href="http://x" title="javascript:no" {REL}>x</a> <a href="/rel">r</a> {badge("t")}')


XSS = [
    # raw tags
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>script>alert(1)<</script>/script>",
    "<img src=x onerror=alert(1)>",
    "<img src=x onerror=alert(1)//",
    '<img """><script>alert(1)</script>">',
    "<iframe src=javascript:alert(1)></iframe>",
    "<iframe srcdoc='<script>alert(1)</script>'>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<body onload=alert(1)>",
    "<b onmouseover=alert(1)>hover</b>",
    "<a href=javascript:alert(1)>x</a>",
    "<a href='javascript:alert(1)'>x",
    '<div style="background:url(javascript:alert(1))">',
    "<object data=javascript:alert(1)>",
    "<form action=javascript:alert(1)><button>x</button></form>",
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "**unclosed <b onclick=alert(1)",
    "<a href='x",
    # dangerous link schemes, with case, entities and whitespace tricks
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](javascript&colon;alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x](jav&#97;script:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](java&#10;script:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](\x01javascript:alert(1))",
    "[x](%6Aavascript:alert(1))",
    "[x](javascript :alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](VBScript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](DATA:text/html,<script>alert(1)</script>)",
    "[x](file:///etc/passwd)",
    "[x](ftp://example.com)",
    "[a](http://ok.example)[b](javascript:alert(1))",
    "<javascript:alert(1)>",
    "javascript:alert(1)",
    # attribute injection through URLs and titles
    '[x](http://a.example" onmouseover="alert(1))',
    '[x](http://a.example/"><script>alert(1)</script>)',
    "[x](http://a.example/' onmouseover='alert(1))",
    "[x](http://a.example 'a\" onmouseover=\"alert(1)')",
    '[x](http://a.example "a&quot; onmouseover=&quot;alert(1)")',
    '[x](http://a.example "t" onmouseover="alert(1)")',
    '[x](https://a.example "<script>alert(1)</script>")',
    '[x](https://a.example "\'><img src=x onerror=alert(1)>")',
    'http://a.example/"onmouseover="alert(1)',
    "http://a.example/'onmouseover='alert(1)",
    "http://a.example/<script>alert(1)</script>",
    "[<img src=x onerror=alert(1)>](http://a.example)",
    '[tag:a" onmouseover="alert(1)]',
    "[tag:<script>]",
    "---<img src=x onerror=alert(1)>---",
    "**<script>alert(1)</script>**",
    "`</code><script>alert(1)</script>`",
]


@pytest.mark.parametrize("payload", XSS)
def test_xss_single_line(payload: str) -> None:
    assert_safe(render_message(payload))


@pytest.mark.parametrize("payload", XSS)
def test_xss_multi_line(payload: str) -> None:
    output = render_message(f"first line\n{payload}\nlast line")
    assert output.startswith("<div class='full'>")
    assert_safe(output)
    # Shown as text, not dropped: unescaping the body gives the payload back.
    assert payload in html.unescape(output.replace(" <br> ", "\n"))


@pytest.mark.parametrize("payload", XSS)
def test_xss_fixed_width(payload: str) -> None:
    output = render_message(f"    {payload}\n    second line")
    assert output.startswith("<pre class='full'>")
    assert output.endswith("</pre>")
    assert_safe(output)
    assert html.unescape(output) == f"<pre class='full'>{payload}\nsecond line</pre>"


@pytest.mark.parametrize(
    "handle",
    [
        "<script>alert(1)</script>",
        "<imgsrc=xonerror=alert(1)>",
        '"onmouseover="alert(1)',
        "[x](javascript:alert(1))",
        "**bold**",
    ],
)
@pytest.mark.parametrize("text", ["single line", "two\nlines", "    fixed\n    width"])
def test_xss_through_the_reply_handle(handle: str, text: str) -> None:
    output = render_message(text, reply_handle=handle)
    assert_safe(output)
    assert f"@{handle}" in html.unescape(output)
    assert "<a" not in output


def test_links_get_rel_nofollow_noopener_and_tag_badges_none() -> None:
    soup = BeautifulSoup(render_message("[x](http://example.com) http://example.org [tag:t]"), "html.parser")
    anchors = soup.find_all("a")
    assert [anchor.get("rel") for anchor in anchors] == [["nofollow", "noopener", "noreferrer"]] * 2 + [None]


@pytest.mark.parametrize(
    ("source", "plain", "led"),
    [
        ("**hi** <you>", "<b>hi</b> &lt;you&gt;", "@B&amp;o <b>hi</b> &lt;you&gt;"),
        ("a\n<b>", "<div class='full'>a <br> &lt;b&gt;</div>", "<div class='full'>@B&amp;o a <br> &lt;b&gt;</div>"),
        ("    x < y", "<pre class='full'>x &lt; y</pre>", "<pre class='full'>@B&amp;o\nx &lt; y</pre>"),
        ("", "", "@B&amp;o"),
    ],
)
def test_a_body_rendered_once_takes_any_reply_lead(source: str, plain: str, led: str) -> None:
    body = render_body(source)  # the service renders before its write transaction, leads inside it
    assert (body.content(), body.content(None), body.content("B&o")) == (plain, plain, led)


def test_emote_text_is_the_text_of_wholly_italic_content() -> None:
    from hubbub.core.markup import emote_text, render_message

    assert emote_text(render_message("*waves & <smiles>*")) == "waves & <smiles>"
    assert emote_text(render_message("*waves* and more")) is None
    assert emote_text(render_message("*a* *b*")) is None
    assert emote_text(render_message("plain")) is None


# Pieces that plain chat lines are made of, and pieces that come close to markup.
_PLAIN_PIECES = [
    "word",
    "Fox",
    "42",
    " ",
    "  ",
    ",",
    ".",
    ";",
    "!",
    "?",
    "(",
    ")",
    "'",
    '"',
    "-",
    "--",
    "/",
    "@",
    "#",
    "+",
    "=",
    "%",
    "$",
    "~",
    "^",
    "{",
    "}",
    "|",
    "<",
    ">",
    "é",
    "日本",
    "🙂",
    ":",
    "a.b",
    "x.org",
]
_NEAR_MARKUP = [
    "*",
    "_",
    "`",
    "[",
    "]",
    "\\",
    "&",
    "&amp;",
    "---",
    "//",
    "http://a.io",
    "https://b.io/p",
    "ftp://c.io",
    "mailto:",
    "MAILTO:d@e.io",
    "ma\u0131lto:f@g.io",
    "MA\u0130LTO:h@i.io",
    "\u017fx",
    "\xa0",
    "\u200b",
    "\t",
    "\x00",
    "\x7f",
    "\u2028",
    "[tag:x]",
    "**b**",
    "_i_",
    ":123",
    "www.j.io",
    "k@l.io",
    "e\u0301",
]


def test_a_plain_line_renders_exactly_as_the_parser_would() -> None:
    """The shortcut for lines no rule can act on gives the parser's bytes, for lines near markup too."""
    from hubbub.core.markup import _is_plain, _parse_inline, _render_inline

    rng = random.Random(20261201)
    plain_seen = 0
    for _ in range(4000):
        pieces = _PLAIN_PIECES + (_NEAR_MARKUP if rng.random() < 0.5 else [])
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        assert _render_inline(text) == _parse_inline(text), text
        plain_seen += _is_plain(text)
    assert plain_seen > 1500  # the shortcut is really taken
    assert _is_plain("POST message 7 from client 3, run 1: the quick brown fox jumps over the lazy dog")
    for text in ("a *b*", "see http://a.io", "mailto:x@y.io", "MA\u0130LTO:x@y.io", "a\xa0b", "//a.io", "x---y---"):
        assert not _is_plain(text), text
