"""The SQL behind ``ReadTx``/``WriteTx``, shared by every engine.

Queries are written once with ``?`` placeholders in the SQL both engines share;
``SqlDialect`` (``dialect.py``) holds the few differences. Rows map to the frozen models of
``hubbub.core.models``; events keep their indexed columns plus the full record
as JSON in ``body``.
"""

from __future__ import annotations

from hubbub.store.base import WriteTx
from hubbub.store.sql.conversations import ConversationsSql
from hubbub.store.sql.dialect import POSTGRESQL, SQLITE, SqlDialect
from hubbub.store.sql.direct import DirectSql
from hubbub.store.sql.log import LogSql
from hubbub.store.sql.messages import MessagesSql
from hubbub.store.sql.people import PeopleSql
from hubbub.store.sql.posting import PostingSql
from hubbub.store.sql.rooms import RoomsSql
from hubbub.store.sql.rows import Cursor, event_from_json, event_to_json
from hubbub.store.sql.socket_tokens import SocketTokensSql
from hubbub.store.sql.streams import StreamsSql
from hubbub.store.sql.webhooks import WebhooksSql

__all__ = ["POSTGRESQL", "SQLITE", "Cursor", "SqlDialect", "SqlTx", "event_from_json", "event_to_json"]


class SqlTx(
    PeopleSql,
    RoomsSql,
    MessagesSql,
    LogSql,
    ConversationsSql,
    SocketTokensSql,
    PostingSql,
    DirectSql,
    StreamsSql,
    WebhooksSql,
):
    """One transaction's queries over a DB-API cursor. Engines open and commit it."""


_: type[WriteTx] = SqlTx
