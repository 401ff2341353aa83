"""The Store contract for the IRC gateway: a user found by their nick (name without spaces), on both engines."""

from __future__ import annotations

from hubbub.store.base import Store, WriteTx


def _users(tx: WriteTx) -> tuple[int, int]:
    first = tx.insert_user(name="Ann Lee", email="a@x", password_hash="h", reputation=1, is_moderator=False, now=1)
    second = tx.insert_user(name="annlee", email="b@x", password_hash="h", reputation=1, is_moderator=False, now=2)
    tx.insert_user(name="Bob", email="c@x", password_hash="h", reputation=1, is_moderator=False, now=3)
    return first.id, second.id


async def test_user_by_nick_drops_spaces_ignores_case_and_takes_the_oldest(store: Store) -> None:
    first, _ = await store.write(_users)
    found = await store.read(lambda tx: tx.user_by_nick("ANNLEE"))
    assert found is not None and found.id == first
    bob = await store.read(lambda tx: tx.user_by_nick("bob"))
    assert bob is not None and bob.name == "Bob"
    assert await store.read(lambda tx: tx.user_by_nick("Ann Lee")) is None  # a nick has no spaces
    assert await store.read(lambda tx: tx.user_by_nick("nobody")) is None
