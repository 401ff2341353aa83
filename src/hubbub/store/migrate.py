"""Schema migrations, applied with yoyo-migrations from the SQL files in ``store/migrations``.

Every engine runs the same files. ``migrate`` is idempotent and takes yoyo's lock,
so several processes (a server and a CLI command, or several nodes) may call it at
once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from yoyo import get_backend, read_migrations

__all__ = ["MIGRATIONS_DIR", "migrate"]

log = logging.getLogger("hubbub.store")

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"


def migrate(uri: str) -> int:
    """Apply every pending migration to the database at ``uri`` (a yoyo URI); return how many ran."""
    backend = get_backend(uri)
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        if pending:
            # One line for what yoyo logs step by step (at debug: hubbub.cli.logs).
            log.info("database schema: applied %d migration(s), %s", len(pending), ", ".join(m.id for m in pending))
        return len(pending)
    finally:
        backend.connection.close()
