"""Each user's ping key (``core.mentions.ping_key``: the name without spaces, case-folded), kept beside
the name so that the users a message pings are found by the database among a room's members.

Finding them used to load every member seen in the room recently and match their names in Python,
inside the serial writer: about 66 ms per message with an ``@`` in a room of 5,000 such members.
Indexed, the key also finds a user by name or IRC nick in any case, which scanned every user.
The key is Python's case folding, which neither engine's SQL has, so this migration fills it in
Python, a thousand users at a time.
"""

from typing import Any

from yoyo import step

__depends__ = {"0009.inbox-counts"}


def _fill_ping_keys(connection: Any) -> None:
    from hubbub.core.mentions import ping_key
    from hubbub.store.migrate import fill_from_names

    fill_from_names(connection, "users", "ping_key", lambda _id, name: ping_key(name))


steps = [
    step("ALTER TABLE users ADD COLUMN ping_key TEXT NOT NULL DEFAULT ''"),
    step(_fill_ping_keys),
    # finds a user by name or IRC nick in any case (store/sql/people.py, streams.py)
    step("CREATE INDEX users_ping_key ON users (ping_key)"),
]
