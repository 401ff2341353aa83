"""Contact operations: request, accept, remove, block, and an operator's link; listing with presence.

Each action applies ``core.direct.CONTACT_ACTIONS`` to the pair's stances in one transaction
and, when the relation changed, appends one CONTACT_CHANGED event (to both users) whose
``data`` is the relation as the actor now sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubbub.core.direct import (
    ContactAction,
    Presence,
    PresenceTimeouts,
    Relation,
    apply_contact_action,
    may_see_presence,
    relation,
)
from hubbub.core.events import EventType, NewEvent
from hubbub.core.ids import UserId
from hubbub.core.models import User
from hubbub.errors import NotFound
from hubbub.service.context import Changes, Context, load_user
from hubbub.service.presence import shown_presence
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["Contact", "Contacts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    """Another user as the viewer sees them: relation (a block against the viewer reads as
    ``NONE``) and presence (offline unless they are contacts)."""

    user: User
    relation: Relation
    presence: Presence


def _visible_relation(rel: Relation) -> Relation:
    return Relation.NONE if rel is Relation.BLOCKED_BY else rel


def relation_between(tx: ReadTx, user_id: UserId, other_id: UserId) -> Relation:
    """``user_id``'s relation to ``other_id`` as stored now."""
    mine, theirs = tx.contact_stances(user_id, other_id)
    return relation(mine, theirs, same_user=user_id == other_id)


def contact_ids(tx: ReadTx, user_id: UserId) -> set[UserId]:
    """The user's contacts (both sides want each other; nobody blocks).

    Every direct poll asks this: it reads the user's own stances, never the requests others sent.
    """
    return tx.mutual_contacts(user_id)


class Contacts:
    def __init__(self, context: Context, timeouts: PresenceTimeouts) -> None:
        self._ctx = context
        self._timeouts = timeouts

    async def _act(self, action: ContactAction, actor_id: UserId, other_id: UserId) -> Relation:
        def work(tx: WriteTx, changes: Changes, now: int) -> Relation:
            actor = load_user(tx, actor_id)
            other = tx.user(other_id)
            if other is None:
                raise NotFound("There is no such user")
            mine, theirs = tx.contact_stances(actor.id, other.id)
            new_mine, new_theirs = apply_contact_action(action, mine, theirs, same_user=actor.id == other.id)
            before, after = relation(mine, theirs), relation(new_mine, new_theirs)
            if new_mine != mine:
                tx.set_contact_stance(actor.id, other.id, new_mine, now)
            if new_theirs != theirs:
                tx.set_contact_stance(other.id, actor.id, new_theirs, now)
            if after is not before:
                changes.append(
                    NewEvent(
                        type=EventType.CONTACT_CHANGED,
                        time_stamp=now,
                        user_id=actor.id,
                        user_name=actor.name,
                        target_user_id=other.id,
                        data=str(after),
                    )
                )
            return _visible_relation(after)

        return await self._ctx.apply(work)

    async def request(self, actor_id: UserId, other_id: UserId) -> Relation:
        """Ask ``other_id`` to be a contact (if they had asked already, both are contacts now).

        Raises:
            NotLoggedIn, NotFound (no such user), BadRequest (oneself), NotAllowed (a block).
        """
        return await self._act(ContactAction.REQUEST, actor_id, other_id)

    async def accept(self, actor_id: UserId, other_id: UserId) -> Relation:
        """Raises: NotLoggedIn, NotFound (no such user or no request from them), NotAllowed, BadRequest."""
        return await self._act(ContactAction.ACCEPT, actor_id, other_id)

    async def remove(self, actor_id: UserId, other_id: UserId) -> Relation:
        """Cancel a request, decline one, end a contact, or lift one's own block."""
        return await self._act(ContactAction.REMOVE, actor_id, other_id)

    async def block(self, actor_id: UserId, other_id: UserId) -> Relation:
        """Block ``other_id``: no messages, typing or presence either way, and no request from them."""
        return await self._act(ContactAction.BLOCK, actor_id, other_id)

    async def link(self, user_id: UserId, other_id: UserId) -> Relation:
        """An operator's ``hubbub contacts add``: make two users contacts (a block still wins).

        Raises:
            NotFound (either user), BadRequest (the same user twice), NotAllowed (a block).
        """

        def work(tx: WriteTx, changes: Changes, now: int) -> Relation:
            first, second = tx.user(user_id), tx.user(other_id)
            if first is None or second is None:
                raise NotFound("There is no such user")
            mine, theirs = tx.contact_stances(first.id, second.id)
            new_mine, new_theirs = apply_contact_action(
                ContactAction.LINK, mine, theirs, same_user=first.id == second.id
            )
            if (new_mine, new_theirs) == (mine, theirs):
                return Relation.CONTACTS
            tx.set_contact_stance(first.id, second.id, new_mine, now)
            tx.set_contact_stance(second.id, first.id, new_theirs, now)
            changes.append(
                NewEvent(
                    type=EventType.CONTACT_CHANGED,
                    time_stamp=now,
                    user_id=first.id,
                    user_name=first.name,
                    target_user_id=second.id,
                    data=str(Relation.CONTACTS),
                )
            )
            return Relation.CONTACTS

        return await self._ctx.apply(work)

    async def relation(self, actor_id: UserId, other_id: UserId) -> Relation:
        """How the actor stands with ``other_id`` (a block against the actor reads as ``NONE``)."""
        return _visible_relation(await self._ctx.store.read(lambda tx: relation_between(tx, actor_id, other_id)))

    async def list(self, actor_id: UserId, *, contacts_only: bool = False) -> list[Contact]:
        """Everyone the actor has a relation with except blocks against them: contacts (with
        presence), requests both ways and the actor's own blocks; by name.

        ``contacts_only``: the contacts alone (the comet buddy list, polled), read without the
        requests anyone may have sent the actor.
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> list[Contact]:
            if contacts_only:
                relations = dict.fromkeys(tx.mutual_contacts(actor_id), Relation.CONTACTS)
            else:
                stances = tx.contact_stances_of(actor_id)
                relations = {other: relation(m, t) for other, (m, t) in stances.items()}
            shown = {other: rel for other, rel in relations.items() if rel is not Relation.BLOCKED_BY}
            users = tx.users(shown)
            records = tx.presence_records([o for o, rel in shown.items() if may_see_presence(rel)])
            found = [
                Contact(
                    user=users[other],
                    relation=rel,
                    presence=shown_presence(records[other], now, self._timeouts)
                    if other in records
                    else Presence.OFFLINE,
                )
                for other, rel in shown.items()
                if other in users
            ]
            return sorted(found, key=lambda c: (c.user.name.casefold(), c.user.id))

        return await self._ctx.store.read(read)

    async def contact_ids(self, actor_id: UserId) -> set[UserId]:
        return await self._ctx.store.read(lambda tx: contact_ids(tx, actor_id))
