"""Contacts: each user's stance towards another, the relation two stances make, and what each
contact action does to them (one table), plus who may message or see whom. A block by either
side wins over everything. No I/O: the service applies these inside its transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, StrEnum
from typing import Final

from hubbub.errors import BadRequest, NotAllowed, NotFound

__all__ = [
    "CONTACT_ACTIONS",
    "ContactAction",
    "Relation",
    "Stance",
    "apply_contact_action",
    "ensure_may_message",
    "may_see_presence",
    "relation",
]


class Stance(StrEnum):
    """What one user holds towards another (no row: nothing)."""

    WANT = "want"  # asks for, or has accepted, the other as a contact
    BLOCK = "block"  # refuses the other everything


class Relation(StrEnum):
    """How two users stand, seen from one of them."""

    NONE = "none"
    REQUESTED = "requested"  # I asked; they have not accepted
    INCOMING = "incoming"  # they asked me
    CONTACTS = "contacts"
    BLOCKED = "blocked"  # I block them
    BLOCKED_BY = "blocked-by"  # they block me (shown to me as "none": a block is not announced)
    SELF = "self"


def relation(mine: Stance | None, theirs: Stance | None, *, same_user: bool = False) -> Relation:
    """The relation from my stance and theirs: a block by either side wins."""
    if same_user:
        return Relation.SELF
    if mine is Stance.BLOCK:
        return Relation.BLOCKED
    if theirs is Stance.BLOCK:
        return Relation.BLOCKED_BY
    if mine is Stance.WANT and theirs is Stance.WANT:
        return Relation.CONTACTS
    if mine is Stance.WANT:
        return Relation.REQUESTED
    if theirs is Stance.WANT:
        return Relation.INCOMING
    return Relation.NONE


class ContactAction(Enum):
    REQUEST = "request"  # ask the other (accepts at once if they had asked)
    ACCEPT = "accept"  # accept their request
    REMOVE = "remove"  # cancel my request, decline theirs, end the contact, or lift my block
    BLOCK = "block"
    LINK = "link"  # an operator makes two users contacts (``hubbub contacts add``)


_KEEP: Final = "keep"  # the stance stays as it is
_Change = Stance | None | str
_REFUSE_BLOCKED: Final = "You block this user; unblock them first"
_REFUSE_BLOCKED_BY: Final = "This user cannot be added as a contact"
_NO_REQUEST: Final = "There is no contact request from this user"

# (action, relation) -> (my new stance, their new stance), or the refusal's message.
CONTACT_ACTIONS: Final[Mapping[tuple[ContactAction, Relation], tuple[_Change, _Change] | str]] = {
    (ContactAction.REQUEST, Relation.NONE): (Stance.WANT, _KEEP),
    (ContactAction.REQUEST, Relation.REQUESTED): (_KEEP, _KEEP),
    (ContactAction.REQUEST, Relation.INCOMING): (Stance.WANT, _KEEP),
    (ContactAction.REQUEST, Relation.CONTACTS): (_KEEP, _KEEP),
    (ContactAction.REQUEST, Relation.BLOCKED): _REFUSE_BLOCKED,
    (ContactAction.REQUEST, Relation.BLOCKED_BY): _REFUSE_BLOCKED_BY,
    (ContactAction.ACCEPT, Relation.INCOMING): (Stance.WANT, _KEEP),
    (ContactAction.ACCEPT, Relation.CONTACTS): (_KEEP, _KEEP),
    (ContactAction.ACCEPT, Relation.NONE): _NO_REQUEST,
    (ContactAction.ACCEPT, Relation.REQUESTED): _NO_REQUEST,
    (ContactAction.ACCEPT, Relation.BLOCKED): _REFUSE_BLOCKED,
    (ContactAction.ACCEPT, Relation.BLOCKED_BY): _NO_REQUEST,
    (ContactAction.REMOVE, Relation.NONE): (_KEEP, _KEEP),
    (ContactAction.REMOVE, Relation.REQUESTED): (None, _KEEP),
    (ContactAction.REMOVE, Relation.INCOMING): (_KEEP, None),
    (ContactAction.REMOVE, Relation.CONTACTS): (None, None),
    (ContactAction.REMOVE, Relation.BLOCKED): (None, _KEEP),
    (ContactAction.REMOVE, Relation.BLOCKED_BY): (None, _KEEP),
    (ContactAction.BLOCK, Relation.NONE): (Stance.BLOCK, _KEEP),
    (ContactAction.BLOCK, Relation.REQUESTED): (Stance.BLOCK, _KEEP),
    (ContactAction.BLOCK, Relation.INCOMING): (Stance.BLOCK, None),
    (ContactAction.BLOCK, Relation.CONTACTS): (Stance.BLOCK, None),
    (ContactAction.BLOCK, Relation.BLOCKED): (_KEEP, _KEEP),
    (ContactAction.BLOCK, Relation.BLOCKED_BY): (Stance.BLOCK, _KEEP),
    (ContactAction.LINK, Relation.NONE): (Stance.WANT, Stance.WANT),
    (ContactAction.LINK, Relation.REQUESTED): (Stance.WANT, Stance.WANT),
    (ContactAction.LINK, Relation.INCOMING): (Stance.WANT, Stance.WANT),
    (ContactAction.LINK, Relation.CONTACTS): (_KEEP, _KEEP),
    (ContactAction.LINK, Relation.BLOCKED): "The first user blocks the second",
    (ContactAction.LINK, Relation.BLOCKED_BY): "The second user blocks the first",
}


def apply_contact_action(
    action: ContactAction, mine: Stance | None, theirs: Stance | None, *, same_user: bool = False
) -> tuple[Stance | None, Stance | None]:
    """My and their stances after ``action``.

    Raises:
        BadRequest: A contact action on oneself.
        NotAllowed: A block stands in the way.
        NotFound: Accepting a request nobody made.
    """
    if same_user:
        raise BadRequest("You cannot add yourself as a contact")
    current = relation(mine, theirs)
    outcome = CONTACT_ACTIONS[(action, current)]
    if isinstance(outcome, str):
        if outcome == _NO_REQUEST:
            raise NotFound(outcome)
        raise NotAllowed(outcome)
    new_mine, new_theirs = outcome
    return (
        mine if new_mine == _KEEP else Stance(new_mine) if new_mine is not None else None,
        theirs if new_theirs == _KEEP else Stance(new_theirs) if new_theirs is not None else None,
    )


def ensure_may_message(rel: Relation) -> None:
    """Direct messages and typing notices go to contacts (and oneself) only; a block wins.

    Raises:
        NotAllowed: Not contacts, or a block by either side.
    """
    if rel not in (Relation.CONTACTS, Relation.SELF):
        raise NotAllowed("You can only send direct messages to your contacts")


def may_see_presence(rel: Relation) -> bool:
    """Presence is shown to contacts only (and to oneself)."""
    return rel in (Relation.CONTACTS, Relation.SELF)
