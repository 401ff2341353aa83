"""Which text from the wire can be a credential hubbub issued: session cookies, bearer and socket tokens.

Every token hubbub hands out is printable ASCII (``secrets.token_urlsafe``, hex and ``-``) of at
most ``MAX_TOKEN_CHARS`` characters. A header may carry anything instead: aiohttp keeps bytes that
are not UTF-8 as lone surrogates, which cannot even be encoded for hashing, and ``hmac.compare_digest``
refuses non-ASCII text. Such text is simply no credential: the caller treats it like an unknown
token (not signed in, 401), never as a server error.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_TOKEN_CHARS", "plausible_token"]

MAX_TOKEN_CHARS: Final = 200  # the longest hubbub issues: a socket URL's, about 100 characters


def plausible_token(text: str) -> bool:
    """True when ``text`` could be a token hubbub issued; only then is it hashed or compared."""
    return 0 < len(text) <= MAX_TOKEN_CHARS and text.isascii() and text.isprintable()
