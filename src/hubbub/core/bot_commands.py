"""Bot addressing and ``!`` commands in a stream's chat (streams.md §B.6), for every transport that carries them.

A stream's network accounts appear as bots named ``<network>-<account slug>`` (a second
account of that network with the same slug gets ``-<account id>``). A line addressed to a
bot — ``twitch-jprjr: hello``, ``twitch-jprjr, hello`` or ``@twitch-jprjr hello`` — is
written to that network; a line starting with ``!`` is a bot command (``!help``,
``!chat <network|bot>``, ``!summon <user>``, ``!viewcount [bot]``).

multistreamer's quirk is fixed here: it lower-cased the first word and stripped one
trailing non-letter before looking the bot up, so a bot whose name ends in a digit
(``twitch-jprjr2``) could only be addressed as ``twitch-jprjr2:``. Here the first word is
compared whole with every bot name (ignoring case), after removing only the addressing
punctuation (``:`` or ``,`` after it, ``@`` before it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from hubbub.core.models import slugify

__all__ = ["BANG_COMMANDS", "Addressed", "BangCommand", "addressed_bot", "bang_command", "bot_names"]

BANG_COMMANDS: Final = ("chat", "help", "summon", "viewcount")


@dataclass(frozen=True, slots=True)
class Addressed:
    account_id: int
    text: str


@dataclass(frozen=True, slots=True)
class BangCommand:
    name: str  # one of BANG_COMMANDS, or what was typed when it is none of them
    args: tuple[str, ...]
    known: bool


def bot_names(accounts: Iterable[tuple[int, str, str]]) -> dict[str, int]:
    """Each bot's name (lower case) -> its account id, for accounts given as (id, network, name)."""
    names: dict[str, int] = {}
    for account_id, network, name in sorted(accounts):
        nick = f"{network}-{slugify(name) or account_id}".lower()
        if nick in names:
            nick = f"{nick}-{account_id}"
        names[nick] = account_id
    return names


def addressed_bot(text: str, bots: Mapping[str, int]) -> Addressed | None:
    """The bot a line is addressed to and the rest of the line, or None."""
    first, _, rest = text.strip().partition(" ")
    if first.startswith("@"):
        name = first[1:]
    elif first.endswith((":", ",")):
        name = first[:-1]
    else:
        return None
    account_id = bots.get(name.lower())
    rest = rest.strip()
    if account_id is None or not rest:
        return None
    return Addressed(account_id, rest)


def bang_command(text: str) -> BangCommand | None:
    """``"!viewcount twitch-jo"`` -> viewcount (twitch-jo); None for a line that is no command."""
    if not text.startswith("!") or len(text) < 2 or text[1].isspace():
        return None
    name, *args = text[1:].split()
    name = name.lower()
    return BangCommand(name, tuple(args), name in BANG_COMMANDS)
