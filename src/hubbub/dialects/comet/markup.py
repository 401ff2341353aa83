"""The comet dialect's HTML, sans-I/O: ``/login.php`` and the pages clients scrape (§C.8).

The markers are the clients' own search strings (shared/protocol/comet.md §C.8); routes in
``pages.py`` serve these strings.
"""

from __future__ import annotations

import html
from typing import Final

from hubbub.core.ids import UserId
from hubbub.dialects.comet.codec import CHANNEL

__all__ = ["home_page", "login_page"]

_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title} | hubbub</title></head>
<body>
{content}
</body>
</html>
"""


def login_page(*, error: str | None = None, email: str = "") -> str:
    """``/login.php``: its first form posts ``email`` and ``pass`` (§C.8)."""
    notice = "" if error is None else f'<p class="error">{html.escape(error)}</p>\n'
    return _PAGE.format(
        title="Log in",
        content=(
            f"<h1>Log in to chat</h1>\n{notice}"
            '<form method="post" action="/login.php" id="login_form">\n'
            f'<label>Email <input type="text" name="email" value="{html.escape(email)}"></label>\n'
            '<label>Password <input type="password" name="pass"></label>\n'
            '<input type="submit" value="Log in">\n'
            "</form>"
        ),
    )


def home_page(*, base_url: str, uid: UserId, name: str, post_form_id: str, title: str = "Home") -> str:
    """``/home.php`` and ``/presence/popout.php``: every scraping marker of §C.8 verbatim.

    The profile link (coderrr), ``new Presence("<uid>"`` (the 2009 Python client), the channel
    token after ``js", "`` and ``js","`` (libfacebook, Kopete, coderrr's ``"channel(\\d+)"``) and
    the ``post_form_id`` input with its attributes in the order the string searches expect. The
    script is never run (the page policy runs no inline script): clients read it as text.
    """
    user = int(uid)
    return _PAGE.format(
        title=title,
        content=(
            '<div id="nav">'
            f'<a href="{html.escape(base_url)}/profile.php?id={user}" class="profile_nav_link">Profile</a>'
            f" {html.escape(name)} | "
            f'<a href="{html.escape(base_url)}/presence/popout.php">Chat</a></div>\n'
            f'<input type="hidden" id="post_form_id" name="post_form_id" value="{html.escape(post_form_id)}" />\n'
            '<script type="text/javascript">\n'
            f'window.presence = new Presence("{user}", "/static/presence.js", "{CHANNEL}");\n'
            f'window.presenceChannel = ["presence.js","{CHANNEL}"];\n'
            "</script>\n"
            '<form method="post" action="/logout.php"><input type="hidden" name="confirm" value="1">'
            f'<input type="hidden" name="post_form_id" value="{html.escape(post_form_id)}">'
            '<input type="submit" value="Log out"></form>'
        ),
    )
