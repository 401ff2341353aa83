"""Network accounts: a user's accounts on other networks, which bridges speak as (core/streams.py).

Changing an account that streams use appends their ``STREAM_CHANGED``, so that sockets and
bridges see the new name or settings.
"""

from __future__ import annotations

import json
from dataclasses import replace

from hubbub.core.ids import UserId
from hubbub.core.irc_accounts import check as check_network_settings
from hubbub.core.rules import ensure_not_suspended
from hubbub.core.streams import ACCOUNT_NAME_MAX, NETWORKS, NetworkAccount
from hubbub.errors import BadRequest
from hubbub.service.context import Changes, Context, load_user
from hubbub.service.streams import ACCOUNT_NOT_USABLE, clean_name, stream_changed
from hubbub.store.base import WriteTx

__all__ = ["NetworkAccounts"]

SETTINGS_MAX_CHARS = 4000


class NetworkAccounts:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    async def create_account(
        self, owner_id: UserId, *, network: object, name: object, http_url: object = None, settings: object = None
    ) -> NetworkAccount:
        """A network account for a bridge (``core.streams.NETWORKS`` names the networks)."""
        if not isinstance(network, str) or network not in NETWORKS:
            raise BadRequest(f"network must be one of {', '.join(sorted(NETWORKS))}")
        clean = clean_name(name, ACCOUNT_NAME_MAX)
        url = _clean_url(http_url)
        text = _settings_text(settings)
        check_network_settings(network, json.loads(text), name=clean)  # refused now, not when it goes live

        def work(tx: WriteTx, changes: Changes, now: int) -> NetworkAccount:
            owner = load_user(tx, owner_id)
            ensure_not_suspended(owner, now)
            return tx.insert_network_account(
                owner_id=owner.id, network=network, name=clean, http_url=url, settings=text, now=now
            )

        return await self._ctx.apply(work)

    async def update_account(
        self,
        actor_id: UserId,
        account_id: int,
        *,
        name: object = None,
        http_url: object = None,
        settings: object = None,
    ) -> NetworkAccount:
        clean = None if name is None else clean_name(name, ACCOUNT_NAME_MAX)
        url = None if http_url is None else _clean_url(http_url)
        text = None if settings is None else _settings_text(settings)

        def work(tx: WriteTx, changes: Changes, now: int) -> NetworkAccount:
            account = tx.network_account(account_id)
            if account is None or account.owner_id != actor_id:
                raise BadRequest(ACCOUNT_NOT_USABLE)
            updated = replace(
                account,
                name=account.name if clean is None else clean,
                http_url=account.http_url if url is None else url,
                settings=account.settings if text is None else text,
            )
            check_network_settings(updated.network, json.loads(updated.settings), name=updated.name)
            tx.update_network_account(updated)
            for stream in tx.streams_by_id(tx.streams_of_account(account_id)).values():
                changes.append(stream_changed(stream, tx, actor_id, "update", now))
            return updated

        return await self._ctx.apply(work)

    async def delete_account(self, actor_id: UserId, account_id: int) -> None:
        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            account = tx.network_account(account_id)
            if account is None or account.owner_id != actor_id:
                raise BadRequest(ACCOUNT_NOT_USABLE)
            streams = tx.streams_by_id(tx.streams_of_account(account_id))
            tx.delete_network_account(account_id)
            for stream in streams.values():
                changes.append(stream_changed(stream, tx, actor_id, "update", now))

        await self._ctx.apply(work)

    async def accounts(self, owner_id: UserId) -> list[NetworkAccount]:
        return await self._ctx.store.read(lambda tx: tx.network_accounts(owner_id))

    async def account(self, viewer_id: UserId, account_id: int) -> NetworkAccount:
        account = await self._ctx.store.read(lambda tx: tx.network_account(account_id))
        if account is None or account.owner_id != viewer_id:
            raise BadRequest("unauthorized to access that account")
        return account


def _clean_url(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) or len(value) > 500:
        raise BadRequest("http_url must be an http(s) URL of at most 500 characters")
    return value


def _settings_text(value: object) -> str:
    if value is None:
        return "{}"
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadRequest("settings must be an object of strings")
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    if len(text) > SETTINGS_MAX_CHARS:
        raise BadRequest("settings may take at most SETTINGS_MAX_CHARS characters")
    return text
