"""A message's history: the text as posted, then each edit and the deletion.

The first revision ("posted") says what the message's own row says until its first change,
so posting does not write it: one statement fewer per post, and a message's text is stored
once. The first later revision writes it first, from the row as it was then. A message with
no stored revisions reads back the one made from its row. Rows stored before this rule keep
their revision 0 and read back alike.
"""

from __future__ import annotations

from hubbub.core.ids import UserId
from hubbub.core.models import Message, Revision
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["add_revision", "revisions_of"]


def _as_posted(message: Message) -> Revision:
    return Revision(
        message_id=message.id,
        revision=0,
        kind="posted",
        source=message.source,
        content=message.content,
        user_id=message.user_id,
        at=message.posted_at,
    )


def revisions_of(tx: ReadTx, message: Message) -> list[Revision]:
    """Every revision of ``message``, oldest first; at least the one as posted."""
    return tx.revisions(message.id) or [_as_posted(message)]


def add_revision(
    tx: WriteTx, before: Message, *, kind: str, source: str, content: str, user_id: UserId, at: int
) -> None:
    """Record a change to ``before`` (the message as it was until this change)."""
    number = len(tx.revisions(before.id))
    if number == 0:
        tx.insert_revision(_as_posted(before))
        number = 1
    revision = Revision(
        message_id=before.id, revision=number, kind=kind, source=source, content=content, user_id=user_id, at=at
    )
    tx.insert_revision(revision)
