"""The one exception tree of hubbub.

Every error says whose fault it is and carries a stable machine ``code``:

- ``HubbubError``: root.
  - ``LocalError``: hubbub misused by its own code (a bug); never shown to peers.
  - ``ConfigError``: the operator's configuration is wrong; reported at start-up.
  - ``RemoteError``: the peer or user asked for something that cannot be done.
    Dialects map each subclass to their own wire (status code and text), so the
    same refusal reads the way each protocol's clients expect.
    - ``BadRequest``, ``NotLoggedIn``, ``InvalidFkey``, ``InvalidCredentials``,
      ``NotFound``, ``NeverAssigned``, ``NotAllowed`` (with subclasses
      ``Kicked``, ``Suspended``, ``LowReputation``, ``NotYours``, ``OwnMessage``),
      ``TooLong``, ``EmptyMessage``, ``TooLate``, ``AlreadyDeleted``,
      ``RateLimited`` (with subclass ``Busy``), ``LimitReached``, ``Conflict``, ``BodyTooLarge``,
      ``SlowRequest`` (also a ``TimeoutError``), ``WrongPassword``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

__all__ = [
    "AlreadyDeleted",
    "BadRequest",
    "BodyTooLarge",
    "Busy",
    "ConfigError",
    "Conflict",
    "EmptyMessage",
    "HubbubError",
    "InvalidCredentials",
    "InvalidFkey",
    "Kicked",
    "LimitReached",
    "LocalError",
    "LowReputation",
    "MessageAction",
    "NeverAssigned",
    "NotAllowed",
    "NotFound",
    "NotLoggedIn",
    "NotYours",
    "OwnMessage",
    "RateLimited",
    "RecipientOffline",
    "RemoteError",
    "SlowRequest",
    "Suspended",
    "TooLate",
    "TooLong",
    "WrongPassword",
]

MessageAction = Literal["edit", "delete"]


class HubbubError(Exception):
    """Root of every error hubbub raises on purpose."""

    code: ClassVar[str] = "internal"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class LocalError(HubbubError):
    """hubbub's own code broke a contract: a bug, logged and never shown to peers."""

    code = "local"


class ConfigError(HubbubError):
    """A setting, flag or configuration file value is unusable."""

    code = "config"


class RemoteError(HubbubError):
    """The peer or user asked for something that cannot be done."""

    code = "remote"


class BadRequest(RemoteError):
    """The request is malformed: a missing field, a non-number where a number belongs."""

    code = "bad_request"


class NotLoggedIn(RemoteError):
    code = "not_logged_in"

    def __init__(self, message: str = "You must be logged in to do that") -> None:
        super().__init__(message)


class InvalidFkey(RemoteError):
    """The CSRF token (``fkey``) sent with a form does not belong to this session."""

    code = "invalid_fkey"

    def __init__(self) -> None:
        super().__init__("The fkey parameter is missing or invalid")


class InvalidCredentials(RemoteError):
    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("The email or password is incorrect")


class WrongPassword(RemoteError):
    """Changing a password: the current password given is not the account's."""

    code = "wrong_password"

    def __init__(self) -> None:
        super().__init__("The current password is incorrect")


class NotFound(RemoteError):
    """The thing does not exist, or the asker may not know that it exists."""

    code = "not_found"


class NeverAssigned(NotFound):
    """A message id larger than any id ever handed out."""

    code = "never_assigned"

    def __init__(self, message_id: int) -> None:
        super().__init__(f"Message ID {message_id} was never assigned to a message.")
        self.message_id = message_id


class NotAllowed(RemoteError):
    """The user may not do this here."""

    code = "not_allowed"


class Kicked(NotAllowed):
    """The user was kicked from the room and the kick-mute has not expired yet."""

    code = "kicked"

    def __init__(self, seconds_left: int) -> None:
        super().__init__(f"You have been kicked from this room; you can return in {seconds_left} seconds")
        self.seconds_left = seconds_left


class Suspended(NotAllowed):
    code = "suspended"

    def __init__(self, until: int, seconds_left: int) -> None:
        hours = max(1, round(seconds_left / 3600))
        unit = "hour" if hours == 1 else "hours"
        super().__init__(f"Your account is blocked, ending in {hours} {unit}")
        self.until = until
        self.seconds_left = seconds_left


class LowReputation(NotAllowed):
    code = "low_reputation"

    def __init__(self, required: int) -> None:
        super().__init__(f"You need {required} reputation points to talk in this room")
        self.required = required


class NotYours(NotAllowed):
    """Editing or deleting somebody else's message without the right to."""

    code = "not_yours"

    def __init__(self, action: MessageAction) -> None:
        super().__init__(f"You can only {action} your own messages")
        self.action = action


class OwnMessage(NotAllowed):
    code = "own_message"

    def __init__(self) -> None:
        super().__init__("You can't star your own messages")


class TooLong(RemoteError):
    code = "too_long"

    def __init__(self, limit: int, got: int, *, single_line: bool) -> None:
        kind = "single-line messages" if single_line else "messages"
        super().__init__(f"This message is too long: {got} characters; the limit for {kind} is {limit}")
        self.limit, self.got, self.single_line = limit, got, single_line


class EmptyMessage(RemoteError):
    code = "empty_message"

    def __init__(self) -> None:
        super().__init__("A message cannot be empty")


class TooLate(RemoteError):
    """The edit/delete window of a message has passed."""

    code = "too_late"

    def __init__(self, action: MessageAction) -> None:
        super().__init__(f"It is too late to {action} this message")
        self.action = action


class AlreadyDeleted(RemoteError):
    code = "already_deleted"

    def __init__(self, action: MessageAction | Literal["star", "pin"]) -> None:
        super().__init__(f"The message has been deleted (cannot {action})")
        self.action = action


class RateLimited(RemoteError):
    """Too many actions in a short time; try again after ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        unit = "second" if retry_after == 1 else "seconds"
        super().__init__(f"You can perform this action again in {retry_after} {unit}.")
        self.retry_after = retry_after


class Busy(RateLimited):
    """Too much of this work is queued server-wide (password hashing); nothing was done, try again soon.

    It reads like ``RateLimited`` on every wire, so clients that wait and retry on
    "You can perform this action again in N seconds." handle it unchanged.
    """

    code = "busy"


class RecipientOffline(RemoteError):
    """A direct message under a policy that delivers to online users only; nothing was stored."""

    code = "recipient_offline"

    def __init__(self) -> None:
        super().__init__("This person is no longer online.")


class LimitReached(RemoteError):
    """A quota (stars per day, rooms per user ...) is used up."""

    code = "limit_reached"


class Conflict(RemoteError):
    """The request clashes with existing state, e.g. an e-mail address already in use."""

    code = "conflict"


class BodyTooLarge(RemoteError):
    """A request body over the configured size (``max_form_bytes``, ``publish_max_bytes``)."""

    code = "too_large"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class SlowRequest(RemoteError, TimeoutError):
    """The client sent its request body too slowly (``http_body_timeout``, ``http_body_min_rate``).

    It is a ``TimeoutError`` too: once the refusal is answered, aiohttp drains the rest of the
    body, gets this error again from that read, and closes the connection as after a timeout.
    """

    code = "slow_request"
