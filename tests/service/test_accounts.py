"""service/accounts.py and service/passwords.py: hashing off the loop, login limits, sessions per user."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hubbub.core.events import EventType
from hubbub.core.ids import EventId
from hubbub.core.models import User
from hubbub.errors import Busy, InvalidCredentials, RateLimited
from hubbub.service.accounts import session_key
from hubbub.service.service import Service
from tests.conftest import PASSWORD
from tests.fakes import FakeClock, HashThreads, eventually

ServiceFactory = Callable[..., Service]


@pytest.fixture
async def make_service(service: Service) -> AsyncIterator[ServiceFactory]:
    """Services over the fixture's store with some settings changed (``make_service(sessions_per_user=2)``)."""
    made: list[Service] = []

    def make(**overrides: Any) -> Service:
        settings = dataclasses.replace(service.settings, **overrides)
        other = Service(
            store=service.context.store, bus=service.context.bus, clock=service.context.clock, settings=settings
        )
        made.append(other)
        return other

    yield make
    for other in made:
        other.close()


async def _user(service: Service, name: str) -> User:
    return await service.accounts.create_user(name, email=f"{name.lower()}@example.org", password=PASSWORD)


# item 6: hashing off the event loop, bounded


async def test_every_hash_and_check_runs_on_a_password_thread(
    service: Service, make_service: ServiceFactory, hashing: HashThreads
) -> None:
    alice = await _user(service, "Alice")  # sign-up and the CLI hash here
    assert await service.accounts.authenticate("alice@example.org", PASSWORD, client="a") == alice
    with pytest.raises(InvalidCredentials):
        await service.accounts.authenticate("alice@example.org", "wrong password", client="a")
    with pytest.raises(InvalidCredentials):
        await service.accounts.authenticate("nobody@example.org", PASSWORD, client="a")  # the decoy check
    stronger = make_service(password_time_cost=service.settings.password_time_cost + 1)
    before = len(hashing.threads)
    await stronger.accounts.authenticate("alice@example.org", PASSWORD, client="a")  # re-hashes
    assert len(hashing.threads) == before + 2  # one check, one new hash
    assert (
        stronger.accounts.passwords.needs_rehash(
            await service.context.store.read(lambda tx: tx.password_hash(alice.id)) or ""
        )
        is False
    )
    assert len(hashing.threads) >= 7
    assert all(name.startswith("hubbub-password") for name in hashing.threads), hashing.threads


async def test_saturated_hashing_refuses_at_once_and_counts_nothing(
    service: Service, make_service: ServiceFactory, hashing: HashThreads
) -> None:
    for name in ("Alice", "Bob", "Carol"):
        await _user(service, name)
    narrow = make_service(password_hash_threads=1, password_hash_queue=1, login_attempts_per_minute=1)
    hashing.hold()
    checking = asyncio.create_task(narrow.accounts.authenticate("alice@example.org", PASSWORD, client="a"))
    waiting = asyncio.create_task(narrow.accounts.authenticate("bob@example.org", PASSWORD, client="a"))
    try:
        await hashing.wait_entered()
        await eventually(lambda: narrow.accounts.passwords.in_progress == 2)
        with pytest.raises(Busy) as refused:
            await narrow.accounts.authenticate("carol@example.org", PASSWORD, client="a")
        assert str(refused.value) == "You can perform this action again in 1 second."
        assert not checking.done() and not waiting.done()
    finally:
        hashing.release()
    assert [user.name for user in await asyncio.gather(checking, waiting)] == ["Alice", "Bob"]
    # Carol's refused attempt gave its token back: her one attempt a minute is still there.
    assert (await narrow.accounts.authenticate("carol@example.org", PASSWORD, client="a")).name == "Carol"
    assert narrow.accounts.passwords.in_progress == 0


async def test_a_cancelled_login_holds_its_thread_until_the_hash_ends(
    service: Service, make_service: ServiceFactory, hashing: HashThreads
) -> None:
    await _user(service, "Alice")
    narrow = make_service(password_hash_threads=1, password_hash_queue=0)
    hashing.hold()
    login = asyncio.create_task(narrow.accounts.authenticate("alice@example.org", PASSWORD, client="a"))
    try:
        await hashing.wait_entered()
        login.cancel()
        with pytest.raises(asyncio.CancelledError):
            await login
        # The thread is still busy with it, so the bound still counts it.
        with pytest.raises(Busy):
            await narrow.accounts.authenticate("alice@example.org", PASSWORD, client="b")
    finally:
        hashing.release()
    await eventually(lambda: narrow.accounts.passwords.in_progress == 0)


# item 6 and 7: login limits


async def test_right_passwords_count_against_the_limit_too(service: Service, make_service: ServiceFactory) -> None:
    await _user(service, "Alice")
    limited = make_service(login_attempts_per_minute=3)
    for _ in range(3):
        await limited.accounts.authenticate("alice@example.org", PASSWORD, client="10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        await limited.accounts.authenticate("alice@example.org", PASSWORD, client="10.0.0.1")
    assert refused.value.retry_after == 20  # 3 a minute: the next token is back in 20 s


async def test_guessing_one_account_does_not_lock_out_others_on_that_address(
    service: Service, make_service: ServiceFactory
) -> None:
    await _user(service, "Alice")
    bob = await _user(service, "Bob")
    limited = make_service(
        login_attempts_per_minute=10,
        login_attempts_per_account_per_minute=30,
        login_attempts_per_address_per_minute=300,
    )
    proxy = "10.0.0.1"
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            await limited.accounts.authenticate("alice@example.org", "guess", client=proxy)
    with pytest.raises(RateLimited):
        await limited.accounts.authenticate("alice@example.org", PASSWORD, client=proxy)
    assert await limited.accounts.authenticate("bob@example.org", PASSWORD, client=proxy) == bob


async def test_guessing_from_many_addresses_is_limited_per_account(
    service: Service, make_service: ServiceFactory, clock: FakeClock
) -> None:
    alice = await _user(service, "Alice")
    limited = make_service(login_attempts_per_minute=10, login_attempts_per_account_per_minute=20)
    for address in ("10.0.0.1", "10.0.0.2"):
        for _ in range(10):
            with pytest.raises(InvalidCredentials):
                await limited.accounts.authenticate("Alice@Example.org ", "guess", client=address)
    with pytest.raises(RateLimited) as refused:
        await limited.accounts.authenticate("alice@example.org", PASSWORD, client="10.0.0.3")
    assert refused.value.retry_after == 3  # 20 a minute
    clock.advance(3)
    assert await limited.accounts.authenticate("alice@example.org", PASSWORD, client="10.0.0.3") == alice


async def test_one_address_has_a_ceiling_over_all_accounts(service: Service, make_service: ServiceFactory) -> None:
    names = ["Ann", "Ben", "Cat", "Dan"]
    for name in names:
        await _user(service, name)
    limited = make_service(login_attempts_per_minute=10, login_attempts_per_address_per_minute=3)
    for name in names[:3]:
        await limited.accounts.authenticate(f"{name.lower()}@example.org", PASSWORD, client="10.0.0.1")
    with pytest.raises(RateLimited):
        await limited.accounts.authenticate("dan@example.org", PASSWORD, client="10.0.0.1")
    assert (await limited.accounts.authenticate("dan@example.org", PASSWORD, client="10.0.0.2")).name == "Dan"


# item 6: sessions per user


async def test_a_new_login_ends_the_oldest_sessions_beyond_the_bound(
    service: Service, make_service: ServiceFactory, clock: FakeClock
) -> None:
    alice = await _user(service, "Alice")
    bob = await _user(service, "Bob")
    bounded = make_service(sessions_per_user=3)
    bobs, _ = await bounded.accounts.open_session(bob)
    tokens = []
    for _ in range(5):
        token, _ = await bounded.accounts.open_session(alice)
        tokens.append(token)
        clock.advance(1)
    live = [await bounded.accounts.signed_in(token) is not None for token in tokens]
    assert live == [False, False, True, True, True]
    assert await bounded.accounts.signed_in(bobs) is not None  # another user's sessions are not touched


async def test_sessions_ended_by_the_bound_are_announced_as_logouts_are(
    service: Service, make_service: ServiceFactory, clock: FakeClock
) -> None:
    """Each session the bound ends appends SESSION_ENDED, so its sockets close on every node."""
    alice = await _user(service, "Alice")
    bounded = make_service(sessions_per_user=2)
    sessions = []
    for _ in range(4):
        sessions.append((await bounded.accounts.open_session(alice))[1])
        clock.advance(1)
    events = await service.context.store.read(lambda tx: tx.events_after(EventId(0), limit=100))
    ended = [event for event in events if event.type is EventType.SESSION_ENDED]
    assert [event.target_user_id for event in ended] == [alice.id, alice.id]
    assert [event.data for event in ended] == [session_key(sessions[0]), session_key(sessions[1])]


async def test_expired_sessions_do_not_count_and_are_removed(
    service: Service, make_service: ServiceFactory, clock: FakeClock
) -> None:
    alice = await _user(service, "Alice")
    bounded = make_service(sessions_per_user=2, session_ttl_days=1)
    old, _ = await bounded.accounts.open_session(alice)
    clock.advance(86_400 - 10)
    recent, _ = await bounded.accounts.open_session(alice)
    clock.advance(20)  # the first one has expired
    newest, session = await bounded.accounts.open_session(alice)
    assert await bounded.accounts.signed_in(recent) is not None
    assert await bounded.accounts.signed_in(newest) is not None
    assert await service.context.store.read(lambda tx: tx.session(session.token_hash)) == session
    assert await bounded.accounts.signed_in(old) is None
