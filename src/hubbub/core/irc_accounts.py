"""An IRC or Twitch network account's settings, checked: where to connect, who to be, which channel.

Account settings are a JSON object of strings (``service.streams`` stores them; the
API never shows ``password``). An ``irc`` account::

    {"server": "irc.libera.chat", "port": "6697", "tls": "true", "nick": "hubbub-relay",
     "channel": "#mychannel", "auth": "sasl", "password": "...", "sasl_username": "",
     "flood_burst": "5", "flood_rate": "1"}

A ``twitch`` account needs only its channel; with no password it reads anonymously
(Twitch's ``justinfan`` logins) and cannot write::

    {"channel": "jprjrdev", "nick": "jprjrdev", "password": "oauth:..."}

``check`` is what the service calls before an account is stored, so a bad setting is
refused when it is typed, not when the stream goes live.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from hubbub.errors import BadRequest

__all__ = ["IRC_NETWORKS", "IrcSettings", "check", "irc_settings", "twitch_settings"]

IRC_NETWORKS: Final = frozenset({"irc", "twitch"})
TWITCH_SERVER: Final = "irc.chat.twitch.tv"
TWITCH_TLS_PORT: Final = 6697
AUTH_MODES: Final = ("none", "pass", "sasl")
# Flood defaults. IRC: what ergo's and most servers' fake-lag lets through without
# penalty. Twitch: at most 20 lines in any 30 s for an ordinary user, so 5 + 0.5/s.
IRC_FLOOD: Final = (5, 1.0)
TWITCH_FLOOD: Final = (5, 0.5)
_NICK: Final = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]{0,29}")
_CHANNEL: Final = re.compile(r"[#&][^\x00\x07\r\n ,:]{1,49}")
_HOST: Final = re.compile(r"[A-Za-z0-9.:-]{1,253}")
_TWITCH_CHANNEL: Final = re.compile(r"#?[A-Za-z0-9_]{1,25}")
_KNOWN: Final = frozenset(
    {
        "server", "port", "tls", "tls_verify", "nick", "username", "realname", "channel", "channel_key",
        "auth", "sasl_username", "password", "flood_burst", "flood_rate",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class IrcSettings:
    """What one IRC connection needs."""

    host: str
    port: int
    tls: bool
    tls_verify: bool
    nick: str
    username: str
    realname: str
    channel: str
    channel_key: str | None
    auth: str  # "none", "pass" (PASS before NICK) or "sasl" (SASL PLAIN)
    sasl_username: str
    password: str | None
    flood_burst: int
    flood_rate: float
    twitch: bool = False

    @property
    def can_write(self) -> bool:
        """An anonymous Twitch login reads only."""
        return not (self.twitch and self.password is None)


def _flag(settings: Mapping[str, str], key: str, default: bool) -> bool:
    value = settings.get(key, "").strip().lower()
    if not value:
        return default
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise BadRequest(f"{key} must be true or false")


def _number(settings: Mapping[str, str], key: str, default: float, low: float, high: float) -> float:
    value = settings.get(key, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"{key} must be a number") from None
    if not low <= number <= high:
        raise BadRequest(f"{key} must be between {low:g} and {high:g}")
    return number


def _common(settings: Mapping[str, str]) -> None:
    # Keys the bridge does not know (the API's own "name", a client's notes) are kept and ignored;
    # a value the bridge would put on the wire may not break the line it goes in.
    for key in _KNOWN & set(settings):
        if any(c in settings[key] for c in "\x00\r\n"):
            raise BadRequest(f"{key} may not contain line breaks")


def irc_settings(settings: Mapping[str, str], *, fallback_nick: str = "") -> IrcSettings:
    """An ``irc`` account's connection.

    Raises:
        BadRequest: A missing server or channel, a nick IRC refuses, a bad port or flag.
    """
    _common(settings)
    host = settings.get("server", "").strip()
    if not _HOST.fullmatch(host):
        raise BadRequest("server must be a host name")
    tls = _flag(settings, "tls", True)
    port = int(_number(settings, "port", 6697 if tls else 6667, 1, 65535))
    nick = settings.get("nick", "").strip() or fallback_nick
    if not _NICK.fullmatch(nick):
        raise BadRequest("nick must be a valid IRC nickname (a letter or []\\`_^{|} first, at most 30 characters)")
    channel = settings.get("channel", "").strip()
    if not _CHANNEL.fullmatch(channel):
        raise BadRequest("channel must be an IRC channel name such as #hubbub")
    password = settings.get("password") or None
    auth = settings.get("auth", "").strip().lower() or ("sasl" if password else "none")
    if auth not in AUTH_MODES:
        raise BadRequest("auth must be none, pass or sasl")
    if auth != "none" and password is None:
        raise BadRequest(f"auth {auth} needs a password")
    burst = int(_number(settings, "flood_burst", IRC_FLOOD[0], 1, 100))
    rate = _number(settings, "flood_rate", IRC_FLOOD[1], 0.05, 100)
    return IrcSettings(
        host=host,
        port=port,
        tls=tls,
        tls_verify=_flag(settings, "tls_verify", True),
        nick=nick,
        username=settings.get("username", "").strip() or nick[:10],
        realname=settings.get("realname", "").strip() or "hubbub bridge",
        channel=channel,
        channel_key=settings.get("channel_key") or None,
        auth=auth,
        sasl_username=settings.get("sasl_username", "").strip() or nick,
        password=password,
        flood_burst=burst,
        flood_rate=rate,
    )


def twitch_settings(settings: Mapping[str, str], *, fallback_nick: str = "", fallback_channel: str = "") -> IrcSettings:
    """A ``twitch`` account's connection: Twitch's server over TLS unless ``server``/``port``/``tls`` say
    otherwise (tests), ``oauth:`` before the token, channel and nick lower-cased as Twitch has them.

    Raises:
        BadRequest: No channel, or a channel name Twitch cannot have.
    """
    _common(settings)
    channel = settings.get("channel", "").strip() or fallback_channel  # a Twitch account's name is its channel
    if not _TWITCH_CHANNEL.fullmatch(channel):
        raise BadRequest("channel must be a Twitch channel name (letters, digits and _)")
    channel = "#" + channel.removeprefix("#").lower()
    token = settings.get("password") or None
    if token is not None and not token.startswith("oauth:"):
        token = "oauth:" + token
    if token is None:
        nick = f"justinfan{random.randint(10_000, 99_999)}"  # Twitch's anonymous, read-only login
    else:
        nick = (settings.get("nick", "").strip() or fallback_nick or channel[1:]).lower()
        if not _TWITCH_CHANNEL.fullmatch(nick):
            raise BadRequest("nick must be the Twitch login the token belongs to")
    host = settings.get("server", "").strip() or TWITCH_SERVER
    if not _HOST.fullmatch(host):
        raise BadRequest("server must be a host name")
    tls = _flag(settings, "tls", True)
    port = int(_number(settings, "port", TWITCH_TLS_PORT if tls else 6667, 1, 65535))
    return IrcSettings(
        host=host,
        port=port,
        tls=tls,
        tls_verify=_flag(settings, "tls_verify", True),
        nick=nick,
        username=nick,
        realname=nick,
        channel=channel,
        channel_key=None,
        auth="none" if token is None else "pass",
        sasl_username=nick,
        password=token,
        flood_burst=int(_number(settings, "flood_burst", TWITCH_FLOOD[0], 1, 100)),
        flood_rate=_number(settings, "flood_rate", TWITCH_FLOOD[1], 0.05, 100),
        twitch=True,
    )


def check(network: str, settings: Mapping[str, str], *, name: str = "") -> IrcSettings | None:
    """The checked settings of an ``irc`` or ``twitch`` account; None for other networks, and for an
    account with no settings at all (listed on its streams as multistreamer listed it, not bridged).

    Raises:
        BadRequest: Settings that could never connect.
    """
    if network not in IRC_NETWORKS or not settings:
        return None
    nick = re.sub(r"[^A-Za-z0-9_]", "", name)[:30]
    if network == "irc":
        return irc_settings(settings, fallback_nick=nick if nick[:1].isalpha() else "")
    return twitch_settings(settings, fallback_nick=nick.lower(), fallback_channel=name.strip().lower())
