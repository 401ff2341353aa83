"""Contacts, direct-message and presence rules of core/direct.py, without I/O."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hubbub.core.direct import (
    CONTACT_ACTIONS,
    MAX_DIRECT_MESSAGE_CHARS,
    Activity,
    ContactAction,
    Presence,
    PresenceRecord,
    PresenceTimeouts,
    Relation,
    Stance,
    apply_contact_action,
    check_client_message_id,
    check_direct_text,
    ensure_may_message,
    may_see_presence,
    next_presence,
    presence_due,
    relation,
    retained,
)
from hubbub.core.ids import UserId
from hubbub.errors import BadRequest, EmptyMessage, NotAllowed, NotFound, TooLong

TIMEOUTS = PresenceTimeouts(seen_seconds=100, idle_seconds=600)
WANT, BLOCK = Stance.WANT, Stance.BLOCK


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        (None, None, Relation.NONE),
        (WANT, None, Relation.REQUESTED),
        (None, WANT, Relation.INCOMING),
        (WANT, WANT, Relation.CONTACTS),
        (BLOCK, WANT, Relation.BLOCKED),
        (WANT, BLOCK, Relation.BLOCKED_BY),
        (BLOCK, BLOCK, Relation.BLOCKED),
    ],
)
def test_relation_block_wins(mine: Stance | None, theirs: Stance | None, expected: Relation) -> None:
    assert relation(mine, theirs) is expected


def test_every_action_has_an_outcome_for_every_relation() -> None:
    others = [r for r in Relation if r is not Relation.SELF]
    assert {(a, r) for a in ContactAction for r in others} == set(CONTACT_ACTIONS)


def test_request_then_accept_makes_contacts() -> None:
    mine, theirs = apply_contact_action(ContactAction.REQUEST, None, None)
    assert relation(mine, theirs) is Relation.REQUESTED
    # The other side accepts: their stance is "mine" from where they stand.
    theirs2, mine2 = apply_contact_action(ContactAction.ACCEPT, theirs, mine)
    assert relation(mine2, theirs2) is Relation.CONTACTS


def test_request_on_an_incoming_request_accepts_it() -> None:
    assert apply_contact_action(ContactAction.REQUEST, None, WANT) == (WANT, WANT)


def test_accept_without_a_request_is_not_found() -> None:
    with pytest.raises(NotFound):
        apply_contact_action(ContactAction.ACCEPT, None, None)
    with pytest.raises(NotFound):
        apply_contact_action(ContactAction.ACCEPT, WANT, None)


def test_a_block_wins_over_requests_and_links() -> None:
    with pytest.raises(NotAllowed):
        apply_contact_action(ContactAction.REQUEST, None, BLOCK)
    with pytest.raises(NotAllowed):
        apply_contact_action(ContactAction.REQUEST, BLOCK, None)
    with pytest.raises(NotAllowed):
        apply_contact_action(ContactAction.LINK, WANT, BLOCK)
    # Blocking a contact ends their side of it too; removing the block leaves nothing.
    assert apply_contact_action(ContactAction.BLOCK, WANT, WANT) == (BLOCK, None)
    assert apply_contact_action(ContactAction.REMOVE, BLOCK, None) == (None, None)


def test_remove_ends_both_sides_but_keeps_their_block() -> None:
    assert apply_contact_action(ContactAction.REMOVE, WANT, WANT) == (None, None)
    assert apply_contact_action(ContactAction.REMOVE, None, WANT) == (None, None)
    assert apply_contact_action(ContactAction.REMOVE, WANT, BLOCK) == (None, BLOCK)


def test_contact_actions_on_oneself_are_bad_requests() -> None:
    with pytest.raises(BadRequest):
        apply_contact_action(ContactAction.REQUEST, None, None, same_user=True)


def test_only_contacts_and_oneself_may_be_messaged() -> None:
    ensure_may_message(Relation.CONTACTS)
    ensure_may_message(Relation.SELF)
    for rel in (Relation.NONE, Relation.REQUESTED, Relation.INCOMING, Relation.BLOCKED, Relation.BLOCKED_BY):
        with pytest.raises(NotAllowed):
            ensure_may_message(rel)
        assert not may_see_presence(rel)
    assert may_see_presence(Relation.CONTACTS)


def test_direct_text_limits() -> None:
    check_direct_text("x" * MAX_DIRECT_MESSAGE_CHARS)
    with pytest.raises(TooLong):
        check_direct_text("x" * (MAX_DIRECT_MESSAGE_CHARS + 1))
    with pytest.raises(EmptyMessage):
        check_direct_text(" \n\t")


@pytest.mark.parametrize("good", ["1", "-1992480367", "12345678901234567890", "web:3f2a-9", "a" * 64])
def test_client_message_ids_accepted(good: str) -> None:
    assert check_client_message_id(good) == good


@pytest.mark.parametrize("bad", ["", "a" * 65, "has space", "semi;colon", "é"])
def test_client_message_ids_refused(bad: str) -> None:
    with pytest.raises(BadRequest):
        check_client_message_id(bad)


def test_presence_from_activity_and_time() -> None:
    user = UserId(1)
    record = PresenceRecord(user_id=user)
    seen = next_presence(record, 1000, TIMEOUTS, Activity.SEEN)
    assert seen.state is Presence.IDLE  # seen, but never active
    active = next_presence(seen, 1000, TIMEOUTS, Activity.ACTIVE)
    assert active.state is Presence.ONLINE and active.changed_at == 1000
    assert next_presence(active, 1099, TIMEOUTS).state is Presence.ONLINE
    assert next_presence(active, 1100, TIMEOUTS).state is Presence.OFFLINE
    kept_seen = next_presence(active, 1590, TIMEOUTS, Activity.SEEN)
    assert kept_seen.state is Presence.ONLINE
    assert next_presence(kept_seen, 1601, TIMEOUTS).state is Presence.IDLE
    hidden = next_presence(replace(active, visible=False), 1001, TIMEOUTS)
    assert hidden.state is Presence.OFFLINE


def test_presence_writes_are_due_only_when_something_moves() -> None:
    record = next_presence(PresenceRecord(user_id=UserId(1)), 1000, TIMEOUTS, Activity.ACTIVE)
    assert not presence_due(record, 1010, TIMEOUTS, Activity.SEEN)
    assert not presence_due(record, 1010, TIMEOUTS, Activity.ACTIVE)
    assert presence_due(record, 1051, TIMEOUTS, Activity.SEEN)  # past half the sighting
    assert presence_due(PresenceRecord(user_id=UserId(1)), 1000, TIMEOUTS, Activity.SEEN)  # offline -> idle


def test_retention_keeps_the_newest_entries_or_the_young_ones() -> None:
    keep = {"next_seq": 2000, "now": 100_000, "keep_entries": 1000, "keep_seconds": 86_400}
    assert retained(seq=1000, created_at=0, **keep)
    assert not retained(seq=999, created_at=0, **keep)
    assert retained(seq=5, created_at=50_000, **keep)
