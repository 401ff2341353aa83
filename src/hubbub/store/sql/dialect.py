"""What differs between the SQL engines, in one place: ``SqlDialect``.

The queries in ``store/sql`` are written once, in the SQL that SQLite (3.35+) and
PostgreSQL share: ``INSERT ... ON CONFLICT (...) DO UPDATE SET c = excluded.c``
for upserts, ``RETURNING``, ``TRUE``/``FALSE`` and bare boolean columns in
``WHERE``, ``LIKE ... ESCAPE '!'``, ``BIGINT`` columns (64-bit on both; ids never
come from an engine's auto-increment but from the ``counters`` table). Booleans
read back as ``0``/``1`` from SQLite and as ``bool`` from PostgreSQL, so the row
mappers pass them through ``bool()``. What cannot be written the same way is
adapted here:

- **placeholders**: queries use ``?``; psycopg wants ``%s`` (so a literal ``%``
  must be doubled), asyncpg ``$1, $2, ...``;
- **membership in a set of ids**: ``IN (?, ?, ...)`` on SQLite; on PostgreSQL
  ``= ANY(?::bigint[])`` with one array parameter, so the statement text does
  not change with the number of ids and the server prepares it once;
- **lower-casing for case-insensitive search**: SQLite's ``lower()`` folds ASCII
  only, so the SQLite engine registers Python's ``str.lower`` on each connection
  as ``hubbub_lower``; PostgreSQL's ``lower()`` folds by the database's locale.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["POSTGRESQL", "SQLITE", "ParamStyle", "SqlDialect"]

ParamStyle = Literal["qmark", "format", "numeric"]

# A quoted literal (kept verbatim) or one placeholder or percent sign (translated).
_TOKENS: Final = re.compile(r"'(?:[^']|'')*'|[?%]")


@functools.lru_cache(maxsize=4096)
def _translate(sql: str, style: ParamStyle) -> str:
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        token = match.group(0)
        if token == "?":
            count += 1
            return "%s" if style == "format" else f"${count}"
        if token == "%":
            return "%%" if style == "format" else "%"
        # psycopg reads % even inside quoted literals; asyncpg and SQLite leave literals alone.
        return token.replace("%", "%%") if style == "format" else token

    return _TOKENS.sub(replace, sql)


@dataclass(frozen=True, slots=True)
class SqlDialect:
    """How one engine's driver spells the few things portable SQL cannot."""

    name: str
    paramstyle: ParamStyle = "qmark"
    array_membership: bool = False  # ``= ANY(?::bigint[])`` instead of ``IN (?, ...)``
    lower: str = "lower"  # the SQL function that lower-cases text as ``str.lower`` does
    pipelined: bool = False  # a statement can be sent before the previous one's answer is read

    def adapt(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in this driver's parameter style."""
        return sql if self.paramstyle == "qmark" else _translate(sql, self.paramstyle)

    def member_of(self, column: str, values: Iterable[int]) -> tuple[str, list[object]]:
        """A condition "``column`` is one of ``values``" and its parameters (``values`` must not be empty)."""
        ids = [int(value) for value in values]
        if self.array_membership:
            return f"{column} = ANY(?::bigint[])", [ids]
        return f"{column} IN ({','.join('?' * len(ids))})", list(ids)

    def member_of_texts(self, column: str, values: Iterable[str]) -> tuple[str, list[object]]:
        """``member_of`` for a text column."""
        texts = [str(value) for value in values]
        if self.array_membership:
            return f"{column} = ANY(?::text[])", [texts]
        return f"{column} IN ({','.join('?' * len(texts))})", list(texts)


SQLITE: Final = SqlDialect("sqlite", lower="hubbub_lower")
POSTGRESQL: Final = SqlDialect("postgresql", paramstyle="format", array_membership=True, pipelined=True)
