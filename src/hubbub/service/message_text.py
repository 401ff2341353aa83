"""What a message's text becomes: its reply parent, the users it pings, and its HTML.

A post drafts its text (``draft``: the ``:<id>`` reply prefix, the markdown pass, the ping
tokens) before its write transaction, because the writer is serial; ``render`` finishes it
inside the transaction, with what needs the database: is the parent there and readable by
the author, and who in the room may be pinged. Editing renders the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubbub.core.ids import MessageId, UserId
from hubbub.core.markup import RenderedBody, render_body
from hubbub.core.mentions import mentioned, ping_handle, ping_tokens
from hubbub.core.models import Message, Room, User
from hubbub.core.rules import can_be_pinged, can_read, parse_reply
from hubbub.service.context import pingable_members, standing_in
from hubbub.store.base import ReadTx

__all__ = ["Body", "Draft", "Rendered", "body_of", "draft", "render"]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A text as the room shows it: its HTML, the parent it replies to and that parent's author
    (None where they may not be told), and the users it pings."""

    content: str
    parent: Message | None
    parent_author: User | None
    pinged: list[UserId]


@dataclass(frozen=True, slots=True)
class Body:
    """A message body with what its text alone decides: its HTML without a reply lead, and its ping tokens."""

    text: str
    html: RenderedBody
    pings: frozenset[str]


def body_of(text: str) -> Body:
    return Body(text, render_body(text), ping_tokens(text))


@dataclass(frozen=True, slots=True)
class Draft:
    """A text worked out as far as it can be without the database: its reply parent's id and its body.

    A post drafts its text before its write transaction, so the markdown pass and the ping
    scan run outside the serial writer; only what needs the database (is the parent there and
    readable, who can be pinged) is decided inside.
    """

    text: str
    parent_id: MessageId | None
    reply: Body  # what a reply shows: the text without its ``:<id>`` prefix (the text itself without one)

    def plain(self) -> Body:
        """The body when no parent is shown: the whole text (rendered here only if a prefix made it differ)."""
        return self.reply if self.reply.text == self.text else body_of(self.text)


def draft(text: str, parent_id: MessageId | None) -> Draft:
    body = text
    if parent_id is None:
        parent_id, body = parse_reply(text)
    return Draft(text, parent_id, body_of(body))


def render(tx: ReadTx, room: Room, author: User, drafted: Draft, pingable_since: int, now: int) -> Rendered:
    """Work out a message's reply parent, pings and HTML (shared by post and edit).

    A reply notifies the parent's author, and a ping its user, only where
    ``rules.can_be_pinged`` lets them read ``room``: the notice carries the full text.
    """
    parent = tx.message(drafted.parent_id) if drafted.parent_id is not None else None
    if parent is not None:
        parent_room = tx.room(parent.room_id)
        if parent_room is None or not can_read(standing_in(tx, parent_room, author, now), parent_room):
            parent = None
    body = drafted.reply if parent is not None else drafted.plain()
    parent_author = tx.user(parent.user_id) if parent is not None else None
    handle = ping_handle(parent_author.name) if parent_author is not None else None
    if parent_author is not None and not can_be_pinged(standing_in(tx, room, parent_author, now), room):
        parent_author = None  # still a reply (its @handle stays), but no 18 for someone who may not read it
    pinged: list[UserId] = []
    if body.pings:  # most messages ping nobody: skip the query for them
        named = pingable_members(tx, room, pingable_since, now, named=body.pings)
        candidates = [(user.id, user.name) for _, user in named if user.id != author.id]
        pinged = mentioned(body.pings, candidates)
    return Rendered(body.html.content(handle), parent, parent_author, pinged)
