"""The first-run setup token: issued while no account exists, stored hashed, used once."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from hubbub.errors import BadRequest, Conflict, NotFound
from hubbub.service.first_run import SETUP_LINK_INVALID, SETUP_TOKEN_META_KEY
from hubbub.service.service import Service
from hubbub.store.base import WriteTx

PASSWORD = "correct horse battery"


async def _stored(service: Service) -> str | None:
    return await service.context.store.read(lambda tx: tx.meta(SETUP_TOKEN_META_KEY))


async def test_a_token_is_issued_while_no_account_exists_and_only_its_hash_is_kept(service: Service) -> None:
    assert await service.first_run.needs_account()
    token = await service.first_run.issue_token()
    assert token is not None and len(token) >= 40
    assert await _stored(service) == hashlib.sha256(token.encode()).hexdigest()
    await service.first_run.check_token(token)


async def test_the_link_creates_a_signed_up_moderator_and_is_then_dead(service: Service) -> None:
    token = await service.first_run.issue_token()
    assert token is not None
    admin = await service.first_run.create_administrator(
        token, "The Admin", email="admin@example.org", password=PASSWORD
    )
    assert (admin.name, admin.email, admin.is_moderator) == ("The Admin", "admin@example.org", True)
    assert await service.accounts.authenticate("admin@example.org", PASSWORD, client="test") == admin
    assert not await service.first_run.needs_account()
    assert await _stored(service) == ""
    with pytest.raises(NotFound, match="not valid"):
        await service.first_run.check_token(token)
    with pytest.raises(NotFound):
        await service.first_run.create_administrator(token, "Second", email="second@example.org", password=PASSWORD)
    assert [u.id for u in await service.accounts.list_users()] == [admin.id]
    assert await service.first_run.issue_token() is None  # never again once an account exists


async def test_two_submissions_of_one_link_make_one_account(service: Service) -> None:
    token = await service.first_run.issue_token()
    assert token is not None
    results = await asyncio.gather(
        *(
            service.first_run.create_administrator(token, f"Admin {n}", email=f"a{n}@example.org", password=PASSWORD)
            for n in range(2)
        ),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["NotFound", "User"]
    assert len(await service.accounts.list_users()) == 1


@pytest.mark.parametrize("wrong", ["", "x", "not-the-token-" + "a" * 30])
async def test_a_wrong_token_is_refused_and_changes_nothing(service: Service, wrong: str) -> None:
    token = await service.first_run.issue_token()
    assert token is not None
    with pytest.raises(NotFound) as refused:
        await service.first_run.check_token(wrong)
    assert str(refused.value) == SETUP_LINK_INVALID
    with pytest.raises(NotFound):
        await service.first_run.create_administrator(wrong, "Admin", email="admin@example.org", password=PASSWORD)
    assert await service.accounts.list_users() == []
    await service.first_run.check_token(token)  # the real one still works


async def test_a_new_start_replaces_the_link(service: Service) -> None:
    first = await service.first_run.issue_token()
    second = await service.first_run.issue_token()
    assert first is not None and second is not None and first != second
    with pytest.raises(NotFound):
        await service.first_run.check_token(first)
    await service.first_run.check_token(second)


async def test_any_account_made_elsewhere_kills_the_link(service: Service) -> None:
    token = await service.first_run.issue_token()
    assert token is not None
    await service.accounts.create_user("Made By Cli", email="cli@example.org", password=PASSWORD, is_moderator=True)
    with pytest.raises(NotFound):
        await service.first_run.check_token(token)
    assert await service.first_run.issue_token() is None
    assert await _stored(service) == ""  # withdrawn at the next start


@pytest.mark.parametrize(
    ("name", "email", "password", "error"),
    [
        ("", "admin@example.org", PASSWORD, BadRequest),
        ("Admin", "nope", PASSWORD, BadRequest),
        ("A", "a@b", "short", BadRequest),
    ],
)
async def test_bad_fields_are_refused_and_the_link_stays_valid(
    service: Service, name: str, email: str, password: str, error: type[Exception]
) -> None:
    token = await service.first_run.issue_token()
    assert token is not None
    with pytest.raises(error):
        await service.first_run.create_administrator(token, name, email=email, password=password)
    await service.first_run.check_token(token)
    assert await service.accounts.list_users() == []


async def test_what_the_hook_writes_is_undone_when_the_account_is_not_written(service: Service) -> None:
    """``create_user(first=...)`` runs in the account's unit: a refused insert rolls the hook back too."""
    await service.accounts.create_user("Taken", email="taken@example.org", password=PASSWORD)

    def consume(tx: WriteTx) -> None:
        tx.set_meta("probe", "written")

    with pytest.raises(Conflict):
        await service.accounts.create_user("Again", email="taken@example.org", password=PASSWORD, first=consume)
    assert await service.context.store.read(lambda tx: tx.meta("probe")) is None
