"""What the SDK raises: hubbub's own error tree, plus the kinds only a client meets.

A refusal the server words in a known way becomes the matching ``hubbub.errors``
class, so a bot catches ``TooLate`` whether it runs inside hubbub or against it:
``TooLate`` / ``AlreadyDeleted`` / ``NotYours`` for edit and delete refusals,
``RateLimited`` when retries ran out, ``NotLoggedIn``, ``InvalidFkey``,
``NotFound``, ``NeverAssigned``, ``NotAllowed`` (``Kicked``, ``LowReputation``,
``OwnMessage``), ``TooLong`` and ``EmptyMessage`` (checked before sending).
"""

from __future__ import annotations

from hubbub.errors import (
    AlreadyDeleted,
    BadRequest,
    EmptyMessage,
    HubbubError,
    InvalidFkey,
    Kicked,
    LimitReached,
    LocalError,
    LowReputation,
    NeverAssigned,
    NotAllowed,
    NotFound,
    NotLoggedIn,
    NotYours,
    OwnMessage,
    RateLimited,
    RemoteError,
    TooLate,
    TooLong,
)

__all__ = [
    "AlreadyDeleted",
    "BadRequest",
    "ClientClosed",
    "DuplicateMessage",
    "EmptyMessage",
    "HubbubError",
    "InvalidFkey",
    "Kicked",
    "LimitReached",
    "LoginFailed",
    "LowReputation",
    "NeverAssigned",
    "NotAllowed",
    "NotFound",
    "NotLoggedIn",
    "NotYours",
    "OwnMessage",
    "RateLimited",
    "RemoteError",
    "TooLate",
    "TooLong",
    "UnexpectedAnswer",
]


class LoginFailed(RemoteError):
    """Logging in did not give a chat session: wrong credentials, a CAPTCHA, or no fkey afterwards."""

    code = "login_failed"


class DuplicateMessage(RemoteError):
    """The server dropped the message as a repeat of the previous one (``{"id": null}``)."""

    code = "duplicate"

    def __init__(self) -> None:
        super().__init__("The same message was just posted; the server dropped the repeat")


class UnexpectedAnswer(RemoteError):
    """An answer that is neither success nor a refusal this protocol defines."""

    code = "unexpected_answer"

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"unexpected answer: HTTP {status}: {body[:200]}")
        self.status, self.body = status, body


class ClientClosed(LocalError):
    """The ``Client`` was closed: its session, cookies and fkey are gone; make a new one."""

    code = "client_closed"

    def __init__(self) -> None:
        super().__init__("This Client is closed (its session and login went with it); create a new Client")
