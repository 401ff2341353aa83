"""The JSON bodies of the streams API: users, network accounts and streams as multistreamer showed them."""

from __future__ import annotations

import datetime
import json
from typing import Any, Final

from hubbub.core.models import User
from hubbub.core.streams import NetworkAccount, account_slug
from hubbub.core.webhooks import HookEvent, Webhook
from hubbub.service.streams import StreamView

__all__ = ["SECRET_SETTINGS", "account_json", "stream_json", "user_json", "webhook_json"]

SECRET_SETTINGS: Final = frozenset({"password", "token", "oauth", "secret"})  # never shown back


def _time(seconds: int) -> str:
    """A timestamp the way multistreamer's rows carried them (PostgreSQL's text form, UTC)."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def user_json(user: User, token: str | None = None) -> dict[str, Any]:
    """A user row as multistreamer's API shows it (``username`` lower-cased, as it stored them)."""
    body: dict[str, Any] = {"id": int(user.id), "username": user.name.lower()}
    if token is not None:
        body["access_token"] = token
    return body


def account_json(account: NetworkAccount) -> dict[str, Any]:
    try:
        settings = json.loads(account.settings)
    except ValueError:
        settings = {}
    shown = {k: v for k, v in settings.items() if k not in SECRET_SETTINGS}
    return {
        "id": account.id,
        "user_id": int(account.owner_id),
        "network": account.network,
        "name": account.name,
        "slug": account_slug(account.name, account.id),
        "http_url": account.http_url,
        "settings": shown,
    }


def stream_json(view: StreamView) -> dict[str, Any]:
    stream = view.stream
    body: dict[str, Any] = {
        "id": stream.id,
        "user_id": int(stream.owner_id),
        "name": stream.name,
        "slug": stream.slug,
        "live": stream.state.live,
        "status": {
            "data_pulling": stream.state.data_pulling,
            "data_pushing": stream.state.data_pushing,
            "data_incoming": stream.state.data_incoming,
        },
        "chat_level": int(view.chat_level),
        "metadata_level": view.metadata_level,
        "accounts": [account_json(a) for a in view.accounts],
        "shares": [
            {
                "chat_level": int(s.chat_level),
                "metadata_level": s.metadata_level,
                "user": {"id": int(s.user_id), "username": view.share_names.get(s.user_id, "").lower()},
            }
            for s in view.shares
        ],
        "webhooks": [webhook_json(hook) for hook in view.webhooks],  # the service gives them to editors only
        "created_at": _time(stream.created_at),
        "updated_at": _time(stream.updated_at),
    }
    if view.metadata_level >= 2:
        body["uuid"] = stream.stream_key  # the RTMP stream key; only for those who may edit the stream
    return body


def webhook_json(hook: Webhook) -> dict[str, Any]:
    """A hook as multistreamer's API showed one: its events as an object of booleans."""
    return {
        "id": hook.id,
        "stream_id": hook.stream_id,
        "url": hook.url,
        "notes": hook.notes,
        "type": str(hook.type),
        "events": {str(event): event in hook.events for event in HookEvent},
        "created_at": _time(hook.created_at),
        "updated_at": _time(hook.updated_at),
    }
