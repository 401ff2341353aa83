"""Room fan-out: encode once per room and audience, pings under every room, entering and leaving."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, MessageId, RoomId, UserId
from hubbub.core.models import User
from hubbub.dialects.sechat.socket import SechatRenderer
from hubbub.fanout.connection import Handshake
from hubbub.fanout.handover import Handover
from hubbub.fanout.rooms import RoomFanout, RoomSubscriber


@dataclass(eq=False)
class RecordingConnection:
    sent: list[bytes] = field(default_factory=list)
    closed: bool = False
    close_reason: tuple[int, str] | None = None
    handshake: Handshake = field(default_factory=lambda: Handshake("/", {}, {}, {}))
    remote: str = "127.0.0.1"

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def close(self, code: int, reason: str) -> None:
        self.closed, self.close_reason = True, (code, reason)

    def frames(self) -> list[dict[str, object]]:
        return [json.loads(data) for data in self.sent]


class CountingRenderer(SechatRenderer):
    def __init__(self) -> None:
        self.calls = 0

    def render(self, rooms: Mapping[RoomId, Sequence[Event]], cursor: EventId) -> bytes:
        self.calls += 1
        return super().render(rooms, cursor)


def _user(user_id: int, *, reputation: int = 100, moderator: bool = False) -> User:
    return User(id=UserId(user_id), name=f"u{user_id}", email=None, reputation=reputation, is_moderator=moderator)


def _event(event_id: int, kind: EventType, room: int, *, user: int = 1, target: int | None = None) -> Event:
    return Event(
        id=EventId(event_id),
        type=kind,
        time_stamp=100,
        room_id=RoomId(room),
        room_name=f"room{room}",
        user_id=UserId(user),
        user_name=f"u{user}",
        target_user_id=None if target is None else UserId(target),
        message_id=MessageId(event_id),
        content="hi",
    )


def _subscribe(fanout: RoomFanout, user: User, *rooms: int) -> RecordingConnection:
    connection = RecordingConnection()
    fanout.add(RoomSubscriber(connection, user, frozenset(RoomId(r) for r in rooms)))
    return connection


def test_one_render_for_every_socket_in_the_room() -> None:
    renderer = CountingRenderer()
    fanout = RoomFanout(renderer)
    connections = [_subscribe(fanout, _user(i), 1) for i in range(2, 50)]
    outsider = _subscribe(fanout, _user(99), 2)
    writes = fanout.deliver((_event(7, EventType.MESSAGE_POSTED, 1),))
    assert writes == len(connections) and renderer.calls == 1
    assert all(c.sent == connections[0].sent for c in connections)
    assert connections[0].frames() == [
        {
            "r1": {
                "e": [
                    {
                        "event_type": 1,
                        "time_stamp": 100,
                        "content": "hi",
                        "id": 7,
                        "user_id": 1,
                        "user_name": "u1",
                        "room_id": 1,
                        "room_name": "room1",
                        "message_id": 7,
                    }
                ],
                "t": 7,
                "d": 1,
            }
        }
    ]
    assert outsider.sent == []


def test_a_reply_travels_with_its_message_and_under_every_room_of_the_target() -> None:
    fanout = RoomFanout(SechatRenderer())
    target = _subscribe(fanout, _user(5), 1, 139)
    bystander = _subscribe(fanout, _user(6), 1)
    batch = (
        _event(10, EventType.MESSAGE_REPLY, 1, user=2, target=5),
        _event(11, EventType.MESSAGE_POSTED, 1, user=2),
    )
    fanout.deliver(batch)
    [frame] = target.frames()
    assert [e["event_type"] for e in frame["r1"]["e"]] == [18, 1]  # type: ignore[index]
    assert [e["event_type"] for e in frame["r139"]["e"]] == [18]  # type: ignore[index]
    assert frame["r139"]["e"][0]["room_id"] == 1  # type: ignore[index]
    [seen] = bystander.frames()
    assert [e["event_type"] for e in seen["r1"]["e"]] == [1]  # type: ignore[index]


def test_flags_reach_only_their_audience() -> None:
    renderer = CountingRenderer()
    fanout = RoomFanout(renderer)
    plain = _subscribe(fanout, _user(2), 1)
    high = _subscribe(fanout, _user(3, reputation=10_000), 1)
    moderator = _subscribe(fanout, _user(4, moderator=True), 1)
    fanout.deliver((_event(1, EventType.MESSAGE_FLAGGED, 1), _event(2, EventType.MODERATOR_FLAG, 1)))

    def types(connection: RecordingConnection) -> list[int]:
        frame = connection.frames()[0]["r1"]
        return [e["event_type"] for e in frame.get("e", [])]  # type: ignore[attr-defined]

    assert types(plain) == [] and types(high) == [9] and types(moderator) == [9, 12]
    assert renderer.calls == 3


def test_entering_and_leaving_change_the_rooms_a_socket_carries() -> None:
    fanout = RoomFanout(SechatRenderer())
    socket = _subscribe(fanout, _user(5), 1)
    fanout.deliver((_event(1, EventType.USER_ENTERED, 2, user=5),))
    fanout.deliver((_event(2, EventType.MESSAGE_POSTED, 2),))
    fanout.deliver((_event(3, EventType.USER_LEFT, 2, user=5),))
    fanout.deliver((_event(4, EventType.MESSAGE_POSTED, 2),))
    rooms_seen = [list(frame) for frame in socket.frames()]
    assert rooms_seen == [["r2"], ["r2"], ["r2"]]  # its own entering, the message, its own leaving
    assert fanout.room_subscribers(RoomId(2)) == 0


def test_a_view_of_a_sockets_rooms_stays_as_it_was_taken() -> None:
    # The sechat socket replays history over the rooms it had when it joined, while the
    # fan-out already follows its user's entering and leaving (dialects/sechat/socket.py).
    fanout = RoomFanout(SechatRenderer())
    subscriber = RoomSubscriber(RecordingConnection(), _user(5), frozenset({RoomId(1)}))
    fanout.add(subscriber)
    view = subscriber.rooms
    fanout.follow(subscriber, RoomId(2))
    fanout.deliver((_event(1, EventType.USER_ENTERED, 3, user=5),))
    fanout.unfollow(subscriber, RoomId(1))
    assert view == {RoomId(1)}
    assert subscriber.rooms == {RoomId(2), RoomId(3)}
    assert fanout.room_subscribers(RoomId(1)) == 0 and fanout.room_subscribers(RoomId(3)) == 1


def test_hubbub_internal_events_never_reach_the_wire() -> None:
    fanout = RoomFanout(SechatRenderer())
    socket = _subscribe(fanout, _user(5), 1)
    inbox = Event(id=EventId(1), type=EventType.INBOX_CHANGED, time_stamp=1, target_user_id=UserId(5), data="1")
    assert fanout.deliver((inbox,)) == 0 and socket.sent == []


def test_live_frames_wait_for_the_replay_then_go_out_in_order() -> None:
    fanout = RoomFanout(SechatRenderer())
    connection = RecordingConnection()
    handover = Handover(max_bytes=64 * 1024)
    subscriber = RoomSubscriber(connection, _user(5), frozenset({RoomId(1)}), handover=handover)
    handover.live_from = EventId(4)
    fanout.add(subscriber)
    fanout.deliver((_event(5, EventType.MESSAGE_POSTED, 1),))
    fanout.deliver((_event(6, EventType.MESSAGE_POSTED, 1),))
    assert connection.sent == []
    subscriber.go_live()
    fanout.deliver((_event(7, EventType.MESSAGE_POSTED, 1),))
    assert [frame["r1"]["t"] for frame in connection.frames()] == [5, 6, 7]  # type: ignore[index]


def test_a_socket_whose_held_frames_outgrow_the_bound_is_closed() -> None:
    fanout = RoomFanout(SechatRenderer())
    connection = RecordingConnection()
    one_frame = len(SechatRenderer().render({RoomId(1): [_event(1, EventType.MESSAGE_POSTED, 1)]}, EventId(1)))
    subscriber = RoomSubscriber(
        connection, _user(5), frozenset({RoomId(1)}), handover=Handover(max_bytes=2 * one_frame)
    )
    fanout.add(subscriber)
    for event_id in (1, 2):
        fanout.deliver((_event(event_id, EventType.MESSAGE_POSTED, 1),))
    assert not connection.closed
    fanout.deliver((_event(3, EventType.MESSAGE_POSTED, 1),))
    assert connection.close_reason == (1013, "too much activity while catching up")
    assert connection.sent == []


def test_a_ping_in_a_room_the_target_left_is_filed_under_its_room_too() -> None:
    fanout = RoomFanout(SechatRenderer())
    target = _subscribe(fanout, _user(5), 1)
    fanout.deliver((_event(9, EventType.USER_MENTIONED, 2, user=2, target=5), _event(10, EventType.MESSAGE_POSTED, 2)))
    [frame] = target.frames()
    assert {room: [e["event_type"] for e in part["e"]] for room, part in frame.items()} == {  # type: ignore[attr-defined]
        "r1": [8],
        "r2": [8],
    }


def test_removed_sockets_get_nothing() -> None:
    fanout = RoomFanout(SechatRenderer())
    connection = RecordingConnection()
    subscriber = RoomSubscriber(connection, _user(5), frozenset({RoomId(1)}))
    fanout.add(subscriber)
    fanout.remove(subscriber)
    fanout.deliver((_event(1, EventType.MESSAGE_POSTED, 1),))
    assert connection.sent == [] and fanout.subscribers == 0


def test_following_and_unfollowing_one_socket_leaves_the_users_others_alone() -> None:
    """What a socket being set up applies for the access changes it missed (fanout.access)."""
    fanout = RoomFanout(SechatRenderer())
    user = _user(5)
    setting_up, other = RoomSubscriber(RecordingConnection(), user, frozenset({RoomId(1)})), _subscribe(fanout, user, 1)
    fanout.add(setting_up)
    assert len(fanout.subscribers_of(user.id)) == 2 and fanout.subscribers_of(UserId(6)) == []
    fanout.unfollow(setting_up, RoomId(1))
    fanout.follow(setting_up, RoomId(2))
    fanout.deliver((_event(7, EventType.MESSAGE_POSTED, 1), _event(8, EventType.MESSAGE_POSTED, 2)))
    assert isinstance(setting_up.connection, RecordingConnection)
    assert [list(frame) for frame in setting_up.connection.frames()] == [["r2"]]
    assert [list(frame) for frame in other.frames()] == [["r1"]]
    assert fanout.room_subscribers(RoomId(1)) == 1 and fanout.room_subscribers(RoomId(2)) == 1


def _ids(connection: RecordingConnection) -> list[int]:
    return [frame["r1"]["t"] for frame in connection.frames()]  # type: ignore[index]


def test_sockets_that_join_or_go_between_deliveries_get_exactly_the_frames_of_their_time_in_the_room() -> None:
    """The plain path sends from a layout of the room made at its first delivery: every change to
    the room's sockets in between must show at the next one."""
    fanout = RoomFanout(SechatRenderer())
    early = _subscribe(fanout, _user(2), 1)
    fanout.deliver((_event(1, EventType.MESSAGE_POSTED, 1),))
    added = _subscribe(fanout, _user(3), 1)
    follower = RoomSubscriber(RecordingConnection(), _user(4), frozenset({RoomId(2)}))
    fanout.add(follower)
    fanout.follow(follower, RoomId(1))
    _subscribe(fanout, _user(5), 2)
    fanout.deliver((_event(2, EventType.USER_ENTERED, 1, user=5),))  # user 5's socket now carries room 1
    replaying = RoomSubscriber(
        RecordingConnection(), _user(6), frozenset({RoomId(1)}), handover=Handover(max_bytes=64 * 1024)
    )
    assert replaying.handover is not None
    replaying.handover.live_from = EventId(2)
    fanout.add(replaying)
    fanout.deliver((_event(3, EventType.MESSAGE_POSTED, 1),))
    replaying.go_live()
    fanout.remove(fanout.subscribers_of(UserId(2))[0])
    fanout.unfollow(follower, RoomId(1))
    fanout.deliver((_event(4, EventType.MESSAGE_POSTED, 1),))
    fanout.deliver((_event(5, EventType.USER_LEFT, 1, user=3),))
    fanout.deliver((_event(6, EventType.MESSAGE_POSTED, 1),))
    entered = fanout.subscribers_of(UserId(5))[0].connection
    assert isinstance(follower.connection, RecordingConnection) and isinstance(entered, RecordingConnection)
    assert isinstance(replaying.connection, RecordingConnection)
    assert _ids(early) == [1, 2, 3]
    assert _ids(added) == [2, 3, 4, 5]  # up to its own leaving
    assert _ids(follower.connection) == [2, 3]
    assert _ids(entered) == [2, 3, 4, 5, 6]
    assert _ids(replaying.connection) == [3, 4, 5, 6]  # held, then live: each frame once


def test_a_socket_that_got_its_rooms_frame_counts_as_written_to_then() -> None:
    """What keep-alives go by (``SechatSockets.send_keepalives``): the plain path notes the time per room."""
    fanout = RoomFanout(SechatRenderer())
    both = RoomSubscriber(RecordingConnection(), _user(2), frozenset({RoomId(1), RoomId(2)}), last_sent=10.0)
    quiet = RoomSubscriber(RecordingConnection(), _user(3), frozenset({RoomId(2)}), last_sent=10.0)
    fanout.add(both)
    fanout.add(quiet)
    fanout.deliver((_event(1, EventType.MESSAGE_POSTED, 1),))
    assert fanout.last_sent(both) > 10.0
    assert fanout.last_sent(quiet) == 10.0
    quiet.send(b"{}", EventId(1), now=20.0)  # any other write counts too
    assert fanout.last_sent(quiet) == 20.0
    fanout.unfollow(quiet, RoomId(2))  # a socket whose user left every room it had
    assert fanout.last_sent(quiet) == 20.0
