"""Stream webhooks: making, changing and removing a stream's hooks, and what their delivery reads.

Whoever may edit a stream (metadata level 2: its owner, or a share with metadata level 2)
may manage its hooks; anyone else is refused as editing the stream is
(``service.streams.editable``). Input is checked before the transaction opens
(``core.webhooks.WebhookFields.check``), so a refusal changes nothing. Each change is a
``STREAM_CHANGED`` (kind ``update``) in the same transaction, as every other edit of a
stream is; its data never carries a hook's URL (a Discord URL is a secret).

The delivery (bridges/webhooks.py) reads a stream's hooks, owner and accounts here, and
holds the cluster's one delivery lease here (``claim_delivery``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from hubbub.core.ids import UserId
from hubbub.core.streams import account_slug
from hubbub.core.webhooks import (
    WEBHOOKS_PER_STREAM,
    HookAccount,
    HookEvent,
    HookStream,
    Webhook,
    WebhookFields,
)
from hubbub.errors import BadRequest, LimitReached, NotFound
from hubbub.service.context import Changes, Context, load_user
from hubbub.service.streams import STREAM_NOT_EDITABLE, editable, stream_changed
from hubbub.store.base import ReadTx, WriteTx

__all__ = ["DELIVERY_LEASE", "NO_SUCH_WEBHOOK", "HookTargets", "Webhooks"]

NO_SUCH_WEBHOOK = "no such webhook on that stream"
DELIVERY_LEASE = "webhooks"  # the bridge_leases row whose holder posts every hook of the cluster
ALL_EVENTS = frozenset(HookEvent)


@dataclass(frozen=True, slots=True, kw_only=True)
class HookTargets:
    """What posting a stream's hooks needs: the stream and owner as bodies name them, hooks, accounts."""

    stream: HookStream
    hooks: Sequence[Webhook]
    accounts: dict[int, HookAccount]


class Webhooks:
    def __init__(self, context: Context) -> None:
        self._ctx = context

    async def create(
        self, actor_id: UserId, stream_id: int, *, url: object, type: object, notes: object = "", events: object = None
    ) -> Webhook:
        """A new hook on the stream; ``events`` None: all three (multistreamer's form had them all ticked).

        Raises:
            NotFound: No such stream, or the actor may not see it.
            NotAllowed: The actor may see it but not edit it (``unauthorized to edit stream``).
            BadRequest: A missing or bad url, type, notes or events.
            LimitReached: The stream has ``WEBHOOKS_PER_STREAM`` hooks already.
        """
        if url is None or type is None:
            raise BadRequest("a webhook needs a url and a type")
        fields = WebhookFields.check(url=url, type=type, notes="" if notes is None else notes, events=events)
        hook_url, hook_type, hook_notes = fields.url or "", fields.type, fields.notes or ""
        assert hook_type is not None  # type was given, so it was checked

        def work(tx: WriteTx, changes: Changes, now: int) -> Webhook:
            stream = editable(tx, load_user(tx, actor_id), stream_id, now, STREAM_NOT_EDITABLE)
            if len(tx.stream_webhooks(stream.id)) >= WEBHOOKS_PER_STREAM:
                raise LimitReached(f"a stream may have at most {WEBHOOKS_PER_STREAM} webhooks")
            hook = tx.insert_webhook(
                stream_id=stream.id,
                url=hook_url,
                notes=hook_notes,
                type=hook_type,
                events=ALL_EVENTS if fields.events is None else fields.events,
                now=now,
            )
            changes.append(stream_changed(stream, tx, actor_id, "update", now))
            return hook

        return await self._ctx.apply(work)

    async def update(
        self,
        actor_id: UserId,
        stream_id: int,
        hook_id: int,
        *,
        url: object = None,
        type: object = None,
        notes: object = None,
        events: object = None,
    ) -> Webhook:
        """Change what is given of a hook's url, type, notes and events.

        Raises:
            NotFound: No such stream, one that is not the actor's business, or no such hook on it.
            NotAllowed: The actor may not edit the stream.
            BadRequest: A bad field.
        """
        fields = WebhookFields.check(url=url, type=type, notes=notes, events=events)

        def work(tx: WriteTx, changes: Changes, now: int) -> Webhook:
            stream = editable(tx, load_user(tx, actor_id), stream_id, now, STREAM_NOT_EDITABLE)
            hook = _hook_of(tx, stream.id, hook_id)
            changed = replace(
                hook,
                url=hook.url if fields.url is None else fields.url,
                type=hook.type if fields.type is None else fields.type,
                notes=hook.notes if fields.notes is None else fields.notes,
                events=hook.events if fields.events is None else fields.events,
            )
            if changed == hook:
                return hook
            changed = replace(changed, updated_at=now)
            tx.update_webhook(changed)
            changes.append(stream_changed(stream, tx, actor_id, "update", now))
            return changed

        return await self._ctx.apply(work)

    async def delete(self, actor_id: UserId, stream_id: int, hook_id: int) -> None:
        """Remove a hook (what is already queued for it may still be posted).

        Raises:
            NotFound, NotAllowed: as ``update``.
        """

        def work(tx: WriteTx, changes: Changes, now: int) -> None:
            stream = editable(tx, load_user(tx, actor_id), stream_id, now, STREAM_NOT_EDITABLE)
            tx.delete_webhook(_hook_of(tx, stream.id, hook_id).id)
            changes.append(stream_changed(stream, tx, actor_id, "update", now))

        await self._ctx.apply(work)

    async def hooks(self, actor_id: UserId, stream_id: int) -> list[Webhook]:
        """The stream's hooks, for those who may edit it.

        Raises:
            NotFound, NotAllowed: as ``update``.
        """
        now = self._ctx.now()

        def read(tx: ReadTx) -> list[Webhook]:
            stream = editable(tx, load_user(tx, actor_id), stream_id, now, STREAM_NOT_EDITABLE)
            return tx.stream_webhooks(stream.id)

        return await self._ctx.store.read(read)

    # delivery (bridges/webhooks.py)

    async def targets(self, stream_id: int) -> HookTargets | None:
        """The stream's hooks and what their bodies name; None for a stream that is gone or has no hooks."""

        def read(tx: ReadTx) -> HookTargets | None:
            stream = tx.stream(stream_id)
            hooks = [] if stream is None else tx.stream_webhooks(stream_id)
            if stream is None or not hooks:
                return None
            owner = tx.user(stream.owner_id)
            accounts = tx.network_accounts_by_id(tx.stream_account_ids(stream_id))
            return HookTargets(
                stream=HookStream(
                    id=stream.id,
                    slug=stream.slug,
                    name=stream.name,
                    owner_id=int(stream.owner_id),
                    # The JSON API's user name: lower-cased, as multistreamer stored user names.
                    owner_name="" if owner is None else owner.name.lower(),
                ),
                hooks=hooks,
                accounts={
                    a.id: HookAccount(
                        id=a.id, network=a.network, name=a.name, slug=account_slug(a.name, a.id), http_url=a.http_url
                    )
                    for a in accounts.values()
                },
            )

        return await self._ctx.store.read(read)

    async def claim_delivery(self, holder: str, ttl: int) -> bool:
        return await self._ctx.apply(lambda tx, changes, now: tx.claim_lease(DELIVERY_LEASE, holder, now, ttl))

    async def release_delivery(self, holder: str) -> None:
        await self._ctx.apply(lambda tx, changes, now: tx.release_lease(DELIVERY_LEASE, holder))


def _hook_of(tx: ReadTx, stream_id: int, hook_id: int) -> Webhook:
    hook = tx.webhook(hook_id)
    if hook is None or hook.stream_id != stream_id:
        raise NotFound(NO_SUCH_WEBHOOK)
    return hook
