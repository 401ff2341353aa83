"""Queries about stream webhooks (migration 0008, core/webhooks.py)."""

from __future__ import annotations

from typing import Any, Final

from hubbub.core.webhooks import HookEvent, HookType, Webhook, events_from_text, events_text
from hubbub.store.sql.base import SqlBase

_WEBHOOK: Final = "id, stream_id, url, notes, hook_type, events, created_at, updated_at"


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=int(row[0]),
        stream_id=int(row[1]),
        url=row[2],
        notes=row[3],
        type=HookType(row[4]),
        events=events_from_text(row[5]),
        created_at=int(row[6]),
        updated_at=int(row[7]),
    )


class WebhooksSql(SqlBase):
    def webhook(self, webhook_id: int) -> Webhook | None:
        row = self._one(f"SELECT {_WEBHOOK} FROM stream_webhooks WHERE id = ?", (webhook_id,))
        return None if row is None else _webhook(row)

    def stream_webhooks(self, stream_id: int) -> list[Webhook]:
        rows = self._all(f"SELECT {_WEBHOOK} FROM stream_webhooks WHERE stream_id = ? ORDER BY id", (stream_id,))
        return [_webhook(row) for row in rows]

    def insert_webhook(
        self, *, stream_id: int, url: str, notes: str, type: HookType, events: frozenset[HookEvent], now: int
    ) -> Webhook:
        hook = Webhook(
            id=self._next_id("webhook"),
            stream_id=stream_id,
            url=url,
            notes=notes,
            type=type,
            events=events,
            created_at=now,
            updated_at=now,
        )
        self._execute(
            f"INSERT INTO stream_webhooks ({_WEBHOOK}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (hook.id, stream_id, url, notes, str(type), events_text(events), now, now),
        )
        return hook

    def update_webhook(self, hook: Webhook) -> None:
        self._execute(
            "UPDATE stream_webhooks SET url = ?, notes = ?, hook_type = ?, events = ?, updated_at = ? WHERE id = ?",
            (hook.url, hook.notes, str(hook.type), events_text(hook.events), hook.updated_at, hook.id),
        )

    def delete_webhook(self, webhook_id: int) -> None:
        self._execute("DELETE FROM stream_webhooks WHERE id = ?", (webhook_id,))
