"""service/credentials.py: text from a header that cannot be a token hubbub issued is no credential.

Issue 8, item 15: ``Cookie: acct=\\xff\\xfe`` reached the SHA-256 of the session lookup as lone
surrogates (aiohttp's surrogateescape) and raised UnicodeEncodeError on every page.
"""

from __future__ import annotations

import pytest

from hubbub.errors import NotLoggedIn
from hubbub.service.credentials import MAX_TOKEN_CHARS, plausible_token
from hubbub.service.service import Service

UNDECODABLE = b"\xff\xfe".decode("utf-8", "surrogateescape")  # what aiohttp makes of those header bytes
HOSTILE = [UNDECODABLE, "", "caf\u00e9", "tab\there", "x" * (MAX_TOKEN_CHARS + 1), "a-b-\u00e9", "\x00"]


@pytest.mark.parametrize("text", ["hbb_" + "A" * 43, "Zm9v-YmFy_", "1f-65f2a3b0-" + "0" * 32])
def test_tokens_hubbub_issues_are_plausible(text: str) -> None:
    assert plausible_token(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_other_text_is_not(text: str) -> None:
    assert not plausible_token(text)


@pytest.mark.parametrize("text", HOSTILE)
async def test_a_hostile_cookie_or_token_is_no_credential(service: Service, text: str) -> None:
    assert await service.accounts.signed_in(text) is None
    await service.accounts.close_session(text)  # nothing to close, and no error
    assert service.socket_tokens.read(text, None) is None
    with pytest.raises(NotLoggedIn):
        await service.tokens.verify(text, "publish")


async def test_a_real_session_still_signs_in(service: Service) -> None:
    user = await service.accounts.create_user("Real", email="real@example.org", password="a long password")
    token, _ = await service.accounts.open_session(user)
    assert plausible_token(token)
    signed = await service.accounts.signed_in(token)
    assert signed is not None and signed.user.id == user.id
    realtime = await service.socket_tokens.issue(signed, None)
    assert plausible_token(realtime)
    claims = service.socket_tokens.read(realtime, None)
    assert claims is not None and claims.user_id == user.id
