"""``Service``: one object holding every operation group, built once by the composition root."""

from __future__ import annotations

from hubbub.bus.base import Bus
from hubbub.core.clock import Clock
from hubbub.core.direct import PresenceTimeouts
from hubbub.service.accounts import Accounts
from hubbub.service.browse import Browse
from hubbub.service.channels import Channels
from hubbub.service.contacts import Contacts
from hubbub.service.context import Context
from hubbub.service.conversations import Conversations
from hubbub.service.direct import Direct
from hubbub.service.feeds import Feeds
from hubbub.service.first_run import FirstRun
from hubbub.service.messages import Messages
from hubbub.service.moderation import Moderation
from hubbub.service.network_accounts import NetworkAccounts
from hubbub.service.presence import PresenceService
from hubbub.service.queries import Queries
from hubbub.service.ratelimit import Limits, LoginLimits, MemoryLimits, RateLimiter
from hubbub.service.room_bridges import RoomBridges
from hubbub.service.rooms import Rooms
from hubbub.service.socket_tokens import SocketTokens
from hubbub.service.stream_chat import StreamChat
from hubbub.service.stream_tokens import StreamTokens
from hubbub.service.streams import Streams
from hubbub.service.tokens import ApiTokens
from hubbub.service.webhooks import Webhooks
from hubbub.settings import Settings
from hubbub.store.base import Store

__all__ = ["Service"]


class Service:
    """Accounts, rooms, messages, moderation, tokens, socket URLs, feeds, contacts, direct messages and
    presence (writes), queries and browse (reads)."""

    def __init__(
        self, *, store: Store, bus: Bus, clock: Clock, settings: Settings, limits: Limits | None = None
    ) -> None:
        """``limits`` makes the rate limiters (default: this process's own, right for one node)."""
        limits = MemoryLimits(clock) if limits is None else limits

        def per_minute(name: str, count: int) -> RateLimiter:
            return limits.limiter(name, burst=count, per_second=count / 60)

        self.context = Context(
            store=store,
            bus=bus,
            clock=clock,
            settings=settings,
            message_limiter=limits.limiter(
                "message", burst=settings.message_rate_burst, per_second=settings.message_rate_per_second
            ),
            login_limits=LoginLimits(
                per_address_account=per_minute("login", settings.login_attempts_per_minute),
                per_account=per_minute("login-account", settings.login_attempts_per_account_per_minute),
                per_address=per_minute("login-address", settings.login_attempts_per_address_per_minute),
            ),
        )
        self.accounts = Accounts(self.context)
        self.rooms = Rooms(self.context)
        self.messages = Messages(self.context)
        self.queries = Queries(self.context)
        self.tokens = ApiTokens(self.context)
        self.feeds = Feeds(self.context)
        self.browse = Browse(self.context)
        self.conversations = Conversations(self.context)
        self.first_run = FirstRun(self.context, self.accounts)
        self.moderation = Moderation(self.context)
        self.socket_tokens = SocketTokens(self.context, self.accounts.sign)
        timeouts = PresenceTimeouts(
            seen_seconds=settings.presence_seen_seconds, idle_seconds=settings.presence_idle_seconds
        )
        self.presence = PresenceService(self.context, timeouts)
        self.contacts = Contacts(self.context, timeouts)
        self.direct = Direct(
            self.context,
            self.presence,
            limits.limiter("typing", burst=settings.typing_rate_burst, per_second=settings.typing_rate_per_second),
        )
        self.streams = Streams(self.context)
        self.webhooks = Webhooks(self.context)
        self.stream_tokens = StreamTokens(self.context)
        self.network_accounts = NetworkAccounts(self.context)
        self.stream_chat = StreamChat(self.context, self.messages)
        self.channels = Channels(self.context)  # what the IRC gateway lists and shows
        self.room_bridges = RoomBridges(self.context, self.accounts)

    @property
    def settings(self) -> Settings:
        return self.context.settings

    async def start(self) -> None:
        """Load what operations need from the store (the server secret)."""
        await self.accounts.load_secret()

    def close(self) -> None:
        """Release the threads the service started (password hashing); the store and bus stay open."""
        self.accounts.close()
        self.presence.close()
