"""The Store contract for streams (migration 0007): tokens, streams, accounts, shares, viewer counts.

Runs on both engines through the ``store`` fixture of tests/store/conftest.py.
"""

from __future__ import annotations

from dataclasses import replace

from hubbub.core.ids import RoomId, UserId
from hubbub.core.models import RoomAccess
from hubbub.core.streams import ChatLevel, LiveState, StreamShare
from hubbub.store.base import Store, WriteTx


def _setup(tx: WriteTx) -> tuple[UserId, UserId, RoomId]:
    owner = tx.insert_user(name="John", email="j@x", password_hash="h", reputation=1, is_moderator=False, now=1)
    other = tx.insert_user(name="Bob", email="b@x", password_hash="h", reputation=1, is_moderator=False, now=1)
    room = tx.insert_room(name="s", description="", tags=(), access=RoomAccess.PRIVATE, created_by=owner.id, now=1)
    return owner.id, other.id, room.id


async def test_access_tokens_are_per_user_and_replaced(store: Store) -> None:
    owner, other, _ = await store.write(_setup)
    await store.write(lambda tx: tx.set_access_token(owner, "A" * 20, 5))
    await store.write(lambda tx: tx.set_access_token(other, "B" * 20, 5))
    await store.write(lambda tx: tx.set_access_token(owner, "C" * 20, 6))
    assert await store.read(lambda tx: tx.access_token_of(owner)) == "C" * 20
    assert await store.read(lambda tx: tx.user_by_access_token("A" * 20)) is None
    assert await store.read(lambda tx: tx.user_by_access_token("C" * 20)) == owner
    assert await store.read(lambda tx: tx.access_tokens()) == [(owner, "C" * 20), (other, "B" * 20)]


async def test_user_by_name_ignores_case_and_takes_the_oldest(store: Store) -> None:
    owner, _, _ = await store.write(_setup)
    await store.write(
        lambda tx: tx.insert_user(name="JOHN", email="j2@x", password_hash="h", reputation=1, is_moderator=False, now=2)
    )
    found = await store.read(lambda tx: tx.user_by_name("john"))
    assert found is not None and found.id == owner
    assert await store.read(lambda tx: tx.user_by_name("nobody")) is None


async def test_streams_round_trip_with_accounts_shares_and_counts(store: Store) -> None:
    owner, other, room = await store.write(_setup)

    def make(tx: WriteTx) -> tuple[int, int, int]:
        stream = tx.insert_stream(room_id=room, owner_id=owner, name="Show", slug="show", stream_key="k1", now=3)
        first = tx.insert_network_account(
            owner_id=owner, network="twitch", name="jd", http_url="https://twitch.tv/jd", settings="{}", now=3
        )
        second = tx.insert_network_account(
            owner_id=owner, network="hubbub", name="room", http_url=None, settings='{"a":"b"}', now=3
        )
        tx.set_stream_accounts(stream.id, [second.id, first.id, first.id])
        tx.set_stream_share(
            StreamShare(stream_id=stream.id, user_id=other, chat_level=ChatLevel.READ, metadata_level=0)
        )
        tx.set_viewcount(stream.id, first.id, 7, 4)
        tx.set_viewcount(stream.id, first.id, 9, 5)
        return stream.id, first.id, second.id

    stream_id, first, second = await store.write(make)
    stream = await store.read(lambda tx: tx.stream(stream_id))
    assert stream is not None and stream.state == LiveState() and stream.room_id == room
    assert await store.read(lambda tx: tx.stream_by_key("k1")) == stream
    assert await store.read(lambda tx: tx.stream_of_room(room)) == stream
    assert await store.read(lambda tx: tx.stream_account_ids(stream_id)) == [first, second]
    assert await store.read(lambda tx: tx.streams_of_account(first)) == [stream_id]
    assert await store.read(lambda tx: tx.viewcounts(stream_id)) == {first: 9}
    shares = await store.read(lambda tx: tx.shares_of_user(other))
    assert shares == [StreamShare(stream_id=stream_id, user_id=other, chat_level=ChatLevel.READ, metadata_level=0)]
    assert await store.read(lambda tx: tx.stream_share(stream_id, other)) == shares[0]
    assert await store.read(lambda tx: tx.stream_share(stream_id, owner)) is None

    live = replace(stream, state=LiveState(data_pushing=True, data_incoming=True), updated_at=9)
    await store.write(lambda tx: tx.update_stream(live))
    assert await store.read(lambda tx: tx.stream(stream_id)) == live
    assert await store.read(lambda tx: tx.list_streams(owner_id=owner)) == [live]
    assert await store.read(lambda tx: tx.list_streams(owner_id=other)) == []

    account = await store.read(lambda tx: tx.network_account(second))
    assert account is not None and account.settings == '{"a":"b"}'
    await store.write(lambda tx: tx.update_network_account(replace(account, name="renamed")))
    assert (await store.read(lambda tx: tx.network_accounts(owner)))[1].name == "renamed"

    await store.write(lambda tx: tx.delete_network_account(first))
    assert await store.read(lambda tx: tx.stream_account_ids(stream_id)) == [second]
    await store.write(lambda tx: tx.delete_stream_share(stream_id, other))
    assert await store.read(lambda tx: tx.stream_shares(stream_id)) == []
    await store.write(lambda tx: tx.delete_stream(stream_id))
    assert await store.read(lambda tx: tx.stream(stream_id)) is None
    assert await store.read(lambda tx: tx.viewcounts(stream_id)) == {}


async def test_a_lease_has_one_holder_until_it_lapses(store: Store) -> None:
    assert await store.write(lambda tx: tx.claim_lease("bridge:1:2", "node-a", 100, 30)) is True
    assert await store.write(lambda tx: tx.claim_lease("bridge:1:2", "node-b", 110, 30)) is False
    assert await store.write(lambda tx: tx.claim_lease("bridge:1:2", "node-a", 120, 30)) is True  # renewed
    assert await store.write(lambda tx: tx.claim_lease("bridge:1:2", "node-b", 149, 30)) is False
    assert await store.write(lambda tx: tx.claim_lease("bridge:1:2", "node-b", 150, 30)) is True  # lapsed
    await store.write(lambda tx: tx.release_lease("bridge:1:2", "node-a"))  # not a's any more: no effect
    assert await store.write(lambda tx: tx.claim_lease("bridge:1:2", "node-a", 151, 30)) is False
    await store.write(lambda tx: tx.release_lease("bridge:1:2", "node-b"))
    assert await store.write(lambda tx: tx.claim_lease("bridge:1:2", "node-a", 152, 30)) is True
