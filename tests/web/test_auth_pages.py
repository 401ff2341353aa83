"""Logging in over HTTP under load and under attack: the loop stays free, limits are per account."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from bs4 import BeautifulSoup

from tests.conftest import PASSWORD, Browser, Node, NodeFactory
from tests.fakes import HashThreads

LIMIT_TEXT = "You can perform this action again in"


async def _log_in(browser: Browser, email: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
    return await browser.post("/users/login", {"email": email, "password": password}, fkey=False)


async def _error_of(response: aiohttp.ClientResponse) -> str:
    """The error a refused login shows on the login form (sechat.md §3.8: status 200, the form again)."""
    assert response.status == 200, response.status
    page = BeautifulSoup(await response.text(), "html.parser")
    assert page.find(id="login-form") is not None
    error = page.select_one("#login-form .error")
    assert error is not None, page
    return error.text.strip()


async def test_the_server_answers_while_logins_check_their_passwords(
    make_node: NodeFactory, hashing: HashThreads
) -> None:
    """Item 6: with every password check held, /healthz and pages are still answered at once."""
    node = await make_node(password_hash_threads=2)
    users = [await node.user(f"User {i}") for i in range(8)]
    hashing.hold()
    browsers = [await node.browser() for _ in users]
    logins = [
        asyncio.create_task(_log_in(browser, str(user.email))) for browser, user in zip(browsers, users, strict=True)
    ]
    try:
        await hashing.wait_entered(2)  # two checks run, six wait for a thread
        probe = await node.browser()
        assert (await probe.get("/healthz")).status == 200
        assert (await probe.get("/users/login")).status == 200
        assert not any(login.done() for login in logins)
    finally:
        hashing.release()
    assert [(await login).status for login in logins] == [302] * 8


async def test_wrong_passwords_for_one_account_do_not_lock_out_the_address(make_node: NodeFactory) -> None:
    """Item 7: ten wrong passwords for Alice from 127.0.0.1; Bob, from the same address, still gets in."""
    node = await make_node(
        login_attempts_per_minute=10,
        login_attempts_per_account_per_minute=30,
        login_attempts_per_address_per_minute=300,
    )
    alice, bob = await node.user("Alice"), await node.user("Bob")
    attacker, neighbour = await node.browser(), await node.browser()
    for _ in range(10):
        assert await _error_of(await _log_in(attacker, str(alice.email), "guess")) == (
            "The email or password is incorrect"
        )
    assert (await _error_of(await _log_in(attacker, str(alice.email)))).startswith(LIMIT_TEXT)
    response = await _log_in(neighbour, str(bob.email))
    assert response.status == 302 and "acct" in response.cookies


async def test_right_passwords_are_limited_and_sessions_are_bounded(make_node: NodeFactory) -> None:
    """Item 6: a correct password spends its attempt too, and logins do not pile up sessions."""
    node = await make_node(login_attempts_per_minute=3, sessions_per_user=2)
    alice = await node.user("Alice")
    browsers = [await node.browser() for _ in range(3)]
    for browser in browsers:
        assert (await _log_in(browser, str(alice.email))).status == 302
        node.clock.advance(1)
    assert (await _error_of(await _log_in(await node.browser(), str(alice.email)))).startswith(LIMIT_TEXT)
    signed_in = []
    for browser in browsers:
        response = await browser.get("/users/login")
        signed_in.append(BeautifulSoup(await response.text(), "html.parser").select(".my-profile") != [])
    assert signed_in == [False, True, True]  # the oldest session was ended by the third login


async def test_a_saturated_hasher_refuses_in_the_login_forms_words(
    make_node: NodeFactory, hashing: HashThreads
) -> None:
    """Item 6: beyond password_hash_threads + password_hash_queue a login is refused at once."""
    node = await make_node(password_hash_threads=1, password_hash_queue=0)
    alice, bob = await node.user("Alice"), await node.user("Bob")
    hashing.hold()
    held = asyncio.create_task(_log_in(await node.browser(), str(alice.email)))
    try:
        await hashing.wait_entered()
        refused = await _log_in(await node.browser(), str(bob.email))
        assert await _error_of(refused) == "You can perform this action again in 1 second."
        track = await (await node.browser()).post(
            "/users/login-or-signup/validation/track", {"email": bob.email, "password": PASSWORD}, fkey=False
        )
        assert await track.text() == "Login-Failed"
    finally:
        hashing.release()
    assert (await held).status == 302
    assert (await _log_in(await node.browser(), str(bob.email))).status == 302


async def _cookie_flags(node: Node) -> dict[str, bool]:
    """Log in and open the home page; for each cookie hubbub set, whether it is Secure."""
    alice = await node.user("Alice")
    browser = await node.browser()
    login = await _log_in(browser, str(alice.email))
    assert login.status == 302
    # Over plain HTTP a client keeps Secure cookies to itself: send the session by hand.
    home = await browser.get("/", headers={"Cookie": f"acct={login.cookies['acct'].value}"})
    cookies = {**login.cookies, **home.cookies}
    assert set(cookies) == {"acct", "prov", "chatusr", "sechatusr"}
    for morsel in cookies.values():  # sechat.md §3.8: path /, no Domain, not readable by scripts
        assert (morsel["path"], morsel["domain"], morsel["httponly"], morsel["samesite"]) == ("/", "", True, "Lax")
    return {name: morsel["secure"] is True for name, morsel in cookies.items()}


@pytest.mark.parametrize(
    "settings",
    [
        {"public_url": "https://chat.example.org"},
        {"ws_public_url": "wss://chat.example.org"},
        {"secure_cookies": True},
    ],
)
async def test_cookies_are_secure_when_hubbub_is_served_over_tls(
    make_node: NodeFactory, settings: dict[str, object]
) -> None:
    """Item 10: behind a TLS proxy every cookie hubbub sets gets Secure."""
    node = await make_node(**settings)
    assert await _cookie_flags(node) == dict.fromkeys(("acct", "prov", "chatusr", "sechatusr"), True)


async def test_cookies_are_not_secure_on_plain_http(node: Node) -> None:
    """sechat.md §3.8: on plain-HTTP localhost a Secure cookie would never come back."""
    assert await _cookie_flags(node) == dict.fromkeys(("acct", "prov", "chatusr", "sechatusr"), False)
