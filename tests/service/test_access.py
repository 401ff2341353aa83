"""Access operations through the service: socket URLs, suspensions, passwords, sessions and pings.

Each operation either changes what it says and appends the events that record it, or
refuses with a clear error and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.bus.memory import MemoryBus
from hubbub.core.events import Event, EventType
from hubbub.core.ids import EventId, RoomId
from hubbub.core.models import AccessLevel, Room, RoomAccess, User
from hubbub.errors import BadRequest, InvalidCredentials, NotAllowed, NotFound, RateLimited, Suspended, WrongPassword
from hubbub.service.accounts import SignedIn, session_key
from hubbub.service.service import Service
from hubbub.store.sqlite import SqliteStore
from tests.fakes import FakeClock
from tests.fakes import test_settings as settings_for_tests

PASSWORD = "correct horse battery"


async def _user(service: Service, name: str, **kwargs: object) -> User:
    email = f"{name.lower()}@example.org"
    return await service.accounts.create_user(name, email=email, password=PASSWORD, **kwargs)  # type: ignore[arg-type]


async def _signed_in(service: Service, user: User) -> tuple[str, SignedIn]:
    cookie, session = await service.accounts.open_session(user)
    return cookie, SignedIn(session, user)


async def _events_after(service: Service, since: int) -> list[Event]:
    return await service.context.store.read(lambda tx: tx.events_after(EventId(since), limit=1000))


async def _private_room(service: Service, owner: User, *members: User) -> Room:
    room = await service.rooms.create_room("Secret", owner_id=owner.id, access=RoomAccess.PRIVATE)
    for member in members:
        await service.rooms.set_access(owner.id, room.id, member.id, AccessLevel.READ_WRITE)
        await service.rooms.join(member.id, room.id)
    return room


# --- socket URLs ------------------------------------------------------------------------------


async def test_a_socket_url_is_claimed_once_with_the_rooms_it_carries(service: Service) -> None:
    member = await _user(service, "Member")
    _, signed = await _signed_in(service, member)
    lobby, den = await service.rooms.create_room("Lobby"), await service.rooms.create_room("Den")
    for room in (lobby, den):
        await service.rooms.join(member.id, room.id)
    tokens = service.socket_tokens
    token = await tokens.issue(signed, den.id)
    claims = tokens.read(token, den.id)
    assert claims is not None and claims.session == session_key(signed.session)
    grant = await tokens.claim(claims)
    assert (grant.user.id, grant.rooms, grant.session) == (member.id, {lobby.id, den.id}, claims.session)
    assert grant.position == await service.queries.last_event_id()
    with pytest.raises(NotAllowed, match="already used"):
        await tokens.claim(claims)


async def test_socket_urls_expire_and_are_bound_to_their_room_and_signature(service: Service, clock: FakeClock) -> None:
    member = await _user(service, "Member")
    _, signed = await _signed_in(service, member)
    room = await service.rooms.create_room("Den")
    await service.rooms.join(member.id, room.id)
    tokens = service.socket_tokens
    token = await tokens.issue(signed, room.id)
    realtime = await tokens.issue(signed, None)
    assert tokens.read(token, RoomId(room.id + 1)) is None and tokens.read(token, None) is None
    assert tokens.read(realtime, room.id) is None and tokens.read(realtime, None) is not None
    forged = token.replace(f"{member.id:x}-", f"{member.id + 1:x}-", 1)
    assert tokens.read(forged, room.id) is None
    for junk in ("", "x", "1-2-3", "-".join(["zz"] * 7), "-".join(["\u0661"] * 7), token + "\udcff", "1" * 201):
        assert tokens.read(junk, room.id) is None
    claims = tokens.read(token, room.id)
    assert claims is not None
    clock.advance(service.settings.ws_token_ttl_seconds)
    assert tokens.read(token, room.id) is None
    with pytest.raises(NotAllowed):
        await tokens.claim(claims)  # read just before it expired, opened just after


async def test_a_user_holds_a_bounded_number_of_unopened_urls(service: Service) -> None:
    member = await _user(service, "Member")
    _, signed = await _signed_in(service, member)
    room = await service.rooms.create_room("Den")
    await service.rooms.join(member.id, room.id)
    limit = service.settings.ws_tokens_per_user
    issued = [await service.socket_tokens.issue(signed, room.id) for _ in range(limit + 2)]
    held = await service.context.store.read(lambda tx: tx.socket_tokens_of(member.id))
    assert len(held) == limit
    for token, kept in ((issued[0], False), (issued[1], False), (issued[2], True), (issued[-1], True)):
        claims = service.socket_tokens.read(token, room.id)
        assert claims is not None
        if kept:
            await service.socket_tokens.claim(claims)
        else:
            with pytest.raises(NotAllowed):
                await service.socket_tokens.claim(claims)


async def test_a_node_remembers_the_urls_it_opened_and_refuses_them_again_without_the_store(service: Service) -> None:
    member = await _user(service, "Member")
    _, signed = await _signed_in(service, member)
    room = await service.rooms.create_room("Den")
    await service.rooms.join(member.id, room.id)
    tokens = service.socket_tokens
    first = tokens.read(await tokens.issue(signed, room.id), room.id)
    second = tokens.read(await tokens.issue(signed, room.id), room.id)
    assert first is not None and second is not None
    assert tokens.first_opening(first) is True
    assert tokens.first_opening(first) is False
    assert tokens.first_opening(second) is True


async def test_every_access_change_revokes_the_urls_it_narrows(service: Service) -> None:
    owner, member, bystander = await _user(service, "Owner"), await _user(service, "Member"), await _user(service, "By")
    moderator = await _user(service, "Moderator", is_moderator=True)
    room = await _private_room(service, owner, member)
    public = await service.rooms.create_room("Public", owner_id=owner.id)
    for user in (member, bystander):
        await service.rooms.join(user.id, public.id)
    _, member_session = await _signed_in(service, member)
    _, bystander_session = await _signed_in(service, bystander)
    tokens = service.socket_tokens

    async def opens(signed: SignedIn, token: str, room_id: RoomId | None) -> bool:
        claims = tokens.read(token, room_id)
        assert claims is not None
        try:
            await tokens.claim(claims)
        except NotAllowed:
            return False
        return True

    # Leaving a room revokes its URLs, not the others'.
    kept, left = await tokens.issue(member_session, public.id), await tokens.issue(member_session, room.id)
    await service.rooms.leave(member.id, room.id)
    assert not await opens(member_session, left, room.id) and await opens(member_session, kept, public.id)
    # Losing access (or a kick) revokes URLs of that room; a room turned private, everyone's.
    await service.rooms.join(member.id, room.id)
    removed = await tokens.issue(member_session, room.id)
    await service.rooms.set_access(owner.id, room.id, member.id, None)
    assert not await opens(member_session, removed, room.id)
    kicked = await tokens.issue(bystander_session, public.id)
    await service.rooms.kick(owner.id, public.id, bystander.id)
    assert not await opens(bystander_session, kicked, public.id)
    await service.rooms.join(member.id, public.id)
    turned = await tokens.issue(member_session, public.id)
    await service.rooms.update_room(
        owner.id, public.id, name="Public", description="", tags="", access=RoomAccess.GALLERY
    )
    assert not await opens(member_session, turned, public.id)
    # A suspension revokes all of the user's, the realtime token included.
    await service.rooms.join(member.id, public.id)
    socket, realtime = await tokens.issue(member_session, public.id), await tokens.issue(member_session, None)
    await service.moderation.suspend(moderator.id, member.id, 60)
    assert not await opens(member_session, socket, public.id) and not await opens(member_session, realtime, None)


async def test_logging_out_revokes_that_sessions_urls_and_a_password_change_the_others(service: Service) -> None:
    member = await _user(service, "Member")
    room = await service.rooms.create_room("Den")
    await service.rooms.join(member.id, room.id)
    sessions = [await _signed_in(service, member) for _ in range(3)]
    tokens = service.socket_tokens
    urls = [await tokens.issue(signed, room.id) for _, signed in sessions]
    await service.accounts.close_session(sessions[0][0])
    await service.accounts.change_password(sessions[1][1], PASSWORD, "a brand new secret")
    held = await service.context.store.read(lambda tx: tx.socket_tokens_of(member.id))
    assert [t.session_key for t in held] == [session_key(sessions[1][1].session)]
    claims = tokens.read(urls[1], room.id)
    assert claims is not None and (await tokens.claim(claims)).user.id == member.id


# --- sessions and passwords -----------------------------------------------------------------------


async def test_logging_out_records_which_session_ended(service: Service) -> None:
    member = await _user(service, "Member")
    cookie, signed = await _signed_in(service, member)
    before = await service.queries.last_event_id()
    await service.accounts.close_session(cookie)
    await service.accounts.close_session(cookie)  # again: nothing left to end, nothing recorded
    [ended] = await _events_after(service, before)
    assert (ended.type, ended.target_user_id, ended.data) == (
        EventType.SESSION_ENDED,
        member.id,
        session_key(signed.session),
    )
    assert await service.accounts.signed_in(cookie) is None


async def test_changing_ones_password_ends_the_other_sessions(service: Service) -> None:
    member = await _user(service, "Member")
    (mine, signed), (other, _) = await _signed_in(service, member), await _signed_in(service, member)
    before = await service.queries.last_event_id()
    await service.accounts.change_password(signed, PASSWORD, "a brand new secret")
    [revoked] = await _events_after(service, before)
    assert (revoked.type, revoked.target_user_id, revoked.data) == (
        EventType.SESSIONS_REVOKED,
        member.id,
        session_key(signed.session),
    )
    assert await service.accounts.signed_in(mine) is not None and await service.accounts.signed_in(other) is None
    with pytest.raises(InvalidCredentials):
        await service.accounts.authenticate("member@example.org", PASSWORD, client="test")
    assert (
        await service.accounts.authenticate("member@example.org", "a brand new secret", client="test")
    ).id == member.id


async def test_a_refused_password_change_changes_nothing(service: Service) -> None:
    member = await _user(service, "Member")
    (_, signed), (other, _) = await _signed_in(service, member), await _signed_in(service, member)
    before = await service.queries.last_event_id()
    with pytest.raises(WrongPassword, match="The current password is incorrect"):
        await service.accounts.change_password(signed, "not the password", "a brand new secret")
    with pytest.raises(BadRequest, match="at least 8 characters"):
        await service.accounts.change_password(signed, PASSWORD, "short")
    assert await _events_after(service, before) == []
    assert await service.accounts.signed_in(other) is not None
    assert (await service.accounts.authenticate("member@example.org", PASSWORD, client="test")).id == member.id


async def test_guessing_the_current_password_is_rate_limited(tmp_path: Path, clock: FakeClock) -> None:
    """Each attempt counts against the account's login limit, as a login does."""
    store = SqliteStore.open(tmp_path / "limited.sqlite3")
    settings = settings_for_tests(tmp_path, login_attempts_per_account_per_minute=3)
    service = Service(store=store, bus=MemoryBus(), clock=clock, settings=settings)
    try:
        await service.start()
        member = await _user(service, "Member")
        _, signed = await _signed_in(service, member)
        for _ in range(3):
            with pytest.raises(WrongPassword):
                await service.accounts.change_password(signed, "a wrong guess", "a brand new secret")
        with pytest.raises(RateLimited):
            await service.accounts.change_password(signed, PASSWORD, "a brand new secret")
        assert (await service.accounts.authenticate("member@example.org", PASSWORD, client="test")).id == member.id
    finally:
        service.close()
        await store.close()


async def test_the_operator_sets_a_password_and_every_session_ends(service: Service) -> None:
    member = await _user(service, "Member")
    cookies = [(await _signed_in(service, member))[0] for _ in range(2)]
    before = await service.queries.last_event_id()
    await service.accounts.set_password(member.id, "set by the operator")
    [revoked] = await _events_after(service, before)
    assert (revoked.type, revoked.target_user_id, revoked.data) == (EventType.SESSIONS_REVOKED, member.id, None)
    for cookie in cookies:
        assert await service.accounts.signed_in(cookie) is None
    with pytest.raises(NotFound):
        await service.accounts.set_password(member.id + 100, "set by the operator")


# --- suspensions ----------------------------------------------------------------------------------


async def test_a_suspension_blocks_talking_and_private_rooms_until_it_is_lifted(service: Service) -> None:
    owner, member = await _user(service, "Owner"), await _user(service, "Member")
    moderator = await _user(service, "Moderator", is_moderator=True)
    private = await _private_room(service, owner, member)
    public = await service.rooms.create_room("Public")
    await service.rooms.join(member.id, public.id)
    before = await service.queries.last_event_id()
    suspended = await service.moderation.suspend(moderator.id, member.id, 3600)
    now = service.context.now()
    assert suspended.suspended_until == now + 3600
    events = await _events_after(service, before)
    assert [(e.type, e.room_id) for e in events] == [
        (EventType.USER_SUSPENDED, None),
        (EventType.USER_LEFT, private.id),
    ]
    assert (events[0].user_id, events[0].target_user_id) == (moderator.id, member.id)
    assert events[0].content == f'3600 {{"old":null,"new":{now + 3600}}}'
    assert await service.queries.rooms_of(member.id) == [public.id]
    with pytest.raises(NotFound):
        await service.rooms.join(member.id, private.id)
    with pytest.raises(Suspended):
        await service.messages.post(member.id, public.id, "hello?")
    await service.rooms.join(member.id, public.id)  # public rooms stay readable
    lifted = await service.moderation.unsuspend(moderator.id, member.id)
    assert lifted.suspended_until is None
    last = (await _events_after(service, before))[-1]
    assert (last.type, last.content) == (EventType.USER_SUSPENDED, f'0 {{"old":{now + 3600},"new":null}}')
    await service.rooms.join(member.id, private.id)


async def test_a_suspended_account_stars_pins_bookmarks_and_creates_nothing(service: Service) -> None:
    owner, author = await _user(service, "Owner"), await _user(service, "Author")
    moderator = await _user(service, "Moderator", is_moderator=True)
    room = await service.rooms.create_room("Lobby", owner_id=owner.id)
    for user in (owner, author):
        await service.rooms.join(user.id, room.id)
    posted = (await service.messages.post(author.id, room.id, "star me")).message
    mine = (await service.messages.post(owner.id, room.id, "my own words")).message
    assert posted is not None and mine is not None
    await service.moderation.suspend(moderator.id, owner.id, 3600)
    before = await service.queries.last_event_id()
    attempts = [
        service.messages.toggle_star(owner.id, posted.id),
        service.messages.toggle_pin(owner.id, posted.id),
        service.messages.edit(owner.id, mine.id, "changed"),
        service.messages.delete(owner.id, mine.id),
        service.conversations.create(owner.id, room.id, posted.id, posted.id, "Stars"),
        service.rooms.create_room("Another", owner_id=owner.id),
    ]
    for attempt in attempts:
        with pytest.raises(Suspended):
            await attempt
    assert await service.queries.last_event_id() == before
    stored = await service.context.store.read(lambda tx: tx.message(posted.id))
    assert stored is not None and stored.stars == 0


async def test_the_operator_suspends_as_the_system_account(service: Service) -> None:
    member = await _user(service, "Member")
    before = await service.queries.last_event_id()
    await service.moderation.suspend(None, member.id, 60)
    [event] = await _events_after(service, before)
    assert (event.user_id, event.user_name) == (-2, "Feeds")


async def test_a_refused_suspension_changes_nothing(service: Service) -> None:
    member, other = await _user(service, "Member"), await _user(service, "Other")
    moderator = await _user(service, "Moderator", is_moderator=True)
    before = await service.queries.last_event_id()
    refusals: list[tuple[object, type[Exception], str]] = [
        (service.moderation.suspend(other.id, member.id, 60), NotAllowed, "Only moderators can do that"),
        (service.moderation.suspend(moderator.id, moderator.id, 60), NotAllowed, "Moderators cannot be suspended"),
        (service.moderation.suspend(moderator.id, member.id, 0), BadRequest, "from 1 second to 365 days"),
        (service.moderation.suspend(moderator.id, member.id + 100, 60), NotFound, "no user with id"),
        (service.moderation.unsuspend(moderator.id, member.id), BadRequest, "Member is not suspended"),
        (service.moderation.unsuspend(other.id, member.id), NotAllowed, "Only moderators can do that"),
    ]
    for call, error, text in refusals:
        with pytest.raises(error, match=text):
            await call  # type: ignore[misc]
    assert await _events_after(service, before) == []
    assert (await service.queries.user(member.id)) == member


async def test_a_suspension_ends_by_itself(service: Service, clock: FakeClock) -> None:
    owner, member = await _user(service, "Owner"), await _user(service, "Member")
    private = await _private_room(service, owner, member)
    await service.moderation.suspend(None, member.id, 60)
    clock.advance(60)
    await service.rooms.join(member.id, private.id)
    assert (await service.messages.post(member.id, private.id, "back")).message is not None


# --- pings ----------------------------------------------------------------------------------------


async def test_only_readers_of_the_room_are_pinged_or_notified_of_replies(service: Service) -> None:
    owner, member = await _user(service, "Owner"), await _user(service, "Member")
    room = await _private_room(service, owner, member)
    posted = (await service.messages.post(member.id, room.id, "a thought")).message
    assert posted is not None
    await service.rooms.set_access(owner.id, room.id, member.id, None)
    before = await service.queries.last_event_id()
    await service.messages.post(owner.id, room.id, "@Member are you there?")
    reply = (await service.messages.post(owner.id, room.id, f":{posted.id} about that")).message
    assert reply is not None and reply.show_parent and reply.content.startswith("@Member")  # still a reply
    events = await _events_after(service, before)
    assert [e.type for e in events if e.target_user_id == member.id] == []
    assert [u.id for _, u in await service.queries.pingable(owner, room.id)] == [owner.id]
    assert [u.id for _, u in await service.queries.recent_members(owner, room.id)] == [owner.id, member.id]


async def test_replays_and_polls_leave_out_pings_from_rooms_the_user_no_longer_reads(service: Service) -> None:
    owner, member = await _user(service, "Owner"), await _user(service, "Member")
    room = await _private_room(service, owner, member)
    public = await service.rooms.create_room("Public")
    await service.rooms.join(member.id, public.id)
    before = EventId(await service.queries.last_event_id())
    await service.messages.post(owner.id, room.id, "@Member in private")
    await service.messages.post(owner.id, public.id, "@Member in public")
    wanted = (EventType.USER_MENTIONED, EventType.USER_SUSPENDED)

    async def replayed() -> list[tuple[EventType, RoomId | None]]:
        last = EventId(await service.queries.last_event_id())
        page = await service.queries.view_after(member, {public.id}, before, through=last, limit=20)
        return [(e.type, e.room_id) for e in page.events if e.type in wanted]

    async def polled() -> list[tuple[EventType, RoomId | None]]:
        answer, _ = await service.queries.events_since(member, {public.id: before}, limit=20)
        return [(e.type, e.room_id) for e in answer[public.id].events if e.type in wanted]

    expected = [(EventType.USER_MENTIONED, room.id), (EventType.USER_MENTIONED, public.id)]
    assert await replayed() == await polled() == expected
    await service.moderation.suspend(None, member.id, 60)  # the caller's ``member`` is stale now
    expected = [(EventType.USER_MENTIONED, public.id), (EventType.USER_SUSPENDED, None)]
    assert await replayed() == expected
    suspended = await service.queries.user(member.id)
    answer, _ = await service.queries.events_since(suspended, {public.id: before}, limit=20)
    assert [(e.type, e.room_id) for e in answer[public.id].events if e.type in wanted] == expected
