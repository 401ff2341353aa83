"""The Store contract for stream webhooks (migration 0008), on both engines (tests/store/conftest.py)."""

from __future__ import annotations

from dataclasses import replace

from hubbub.core.models import RoomAccess
from hubbub.core.webhooks import HookEvent, HookType, Webhook
from hubbub.store.base import Store, WriteTx

START, END, COMMENT = HookEvent.STREAM_START, HookEvent.STREAM_END, HookEvent.COMMENT_IN


def _two_streams(tx: WriteTx) -> tuple[int, int]:
    owner = tx.insert_user(name="John", email="j@x", password_hash="h", reputation=1, is_moderator=False, now=1)
    ids = []
    for name in ("one", "two"):
        room = tx.insert_room(name=name, description="", tags=(), access=RoomAccess.PRIVATE, created_by=owner.id, now=1)
        ids.append(
            tx.insert_stream(room_id=room.id, owner_id=owner.id, name=name, slug=name, stream_key=name, now=1).id
        )
    return ids[0], ids[1]


async def test_webhooks_round_trip_per_stream_in_id_order(store: Store) -> None:
    first, second = await store.write(_two_streams)

    def make(tx: WriteTx) -> list[Webhook]:
        return [
            tx.insert_webhook(
                stream_id=first, url="https://a.example/h", notes="", type=HookType.RAW, events=frozenset(), now=5
            ),
            tx.insert_webhook(
                stream_id=second,
                url="https://b.example/h",
                notes="ünïcode note",
                type=HookType.DISCORD,
                events=frozenset({COMMENT, START}),
                now=6,
            ),
            tx.insert_webhook(
                stream_id=first,
                url="http://c.example:8080/h?x=1",
                notes="n",
                type=HookType.DISCORD,
                events=frozenset({START, END, COMMENT}),
                now=7,
            ),
        ]

    a, b, c = await store.write(make)
    assert a.id < b.id < c.id
    assert await store.read(lambda tx: tx.stream_webhooks(first)) == [a, c]
    assert await store.read(lambda tx: tx.stream_webhooks(second)) == [b]
    assert await store.read(lambda tx: tx.webhook(b.id)) == b
    assert b.events == frozenset({COMMENT, START}) and b.notes == "ünïcode note" and b.created_at == 6

    changed = replace(
        a, url="https://new.example/", notes="x", type=HookType.DISCORD, events=frozenset({END}), updated_at=9
    )
    await store.write(lambda tx: tx.update_webhook(changed))
    assert await store.read(lambda tx: tx.webhook(a.id)) == changed

    await store.write(lambda tx: tx.delete_webhook(c.id))
    assert await store.read(lambda tx: tx.webhook(c.id)) is None
    assert await store.read(lambda tx: tx.stream_webhooks(first)) == [changed]


async def test_deleting_a_stream_deletes_its_webhooks_only(store: Store) -> None:
    first, second = await store.write(_two_streams)

    def make(tx: WriteTx) -> tuple[Webhook, Webhook]:
        hooks = [
            tx.insert_webhook(
                stream_id=s, url="https://x.example/", notes="", type=HookType.RAW, events=frozenset(), now=2
            )
            for s in (first, second)
        ]
        return hooks[0], hooks[1]

    gone, kept = await store.write(make)
    await store.write(lambda tx: tx.delete_stream(first))
    assert await store.read(lambda tx: tx.webhook(gone.id)) is None
    assert await store.read(lambda tx: tx.stream_webhooks(first)) == []
    assert await store.read(lambda tx: tx.stream_webhooks(second)) == [kept]
