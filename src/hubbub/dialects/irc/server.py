"""The IRC gateway's server: a TCP (or TLS) listener whose commands are carried out through the service.

The thin shell around ``codec.IrcSession``: it listens on ``irc_port``, makes one
``IrcConnection`` per client, carries out each ``Command`` with the same service calls
every transport makes (``accounts`` for the password, ``rooms.join``/``leave``/``kick``,
``messages.post``, ``stream_chat.say``, ``queries`` and ``channels`` for what may be read)
and answers through the session. Live lines come from ``delivery.IrcDelivery`` (a hub
fan-out); a JOIN subscribes first and checks access after, holding live lines until it
has answered, so nothing the room logs after the check is missed and nothing before it
leaks. Pings: a connection silent for ``irc_ping_interval`` gets ``PING``; silent for as
long again, it is closed ("Ping timeout"); one that has not logged in within
``irc_registration_timeout`` is closed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from datetime import UTC, datetime
from typing import Final

from hubbub import __version__, metrics
from hubbub.core.ids import RoomId
from hubbub.core.models import User
from hubbub.dialects.irc import codec
from hubbub.dialects.irc.bots import StreamBots
from hubbub.dialects.irc.codec import (
    ChannelMember,
    Command,
    HistoryQuery,
    IrcSession,
    ListEntry,
    LoginFailure,
)
from hubbub.dialects.irc.connection import IrcConnection, Joined
from hubbub.dialects.irc.delivery import IrcDelivery
from hubbub.dialects.irc.history import HistoryReader
from hubbub.dialects.irc.lookup import find_channel
from hubbub.dialects.irc.names import ChannelTarget, channel_names, fold, hostmask, nick_of
from hubbub.errors import Busy, InvalidCredentials, Kicked, NotFound, RateLimited, RemoteError
from hubbub.fanout.hub import Hub
from hubbub.service.channels import ChannelSource, Member
from hubbub.service.service import Service

__all__ = ["IrcServer"]

log = logging.getLogger("hubbub.irc")

LOCAL_ACCOUNT: Final = 0  # the streams dialect's account "0": the hubbub-native chat
# NAMES and WHO of a channel list the members seen most recently, at most this many: anyone can
# enter a room, and each of these answers read every member present (JOIN's, twice).
NAMES_LISTED: Final = 500


class IrcServer:
    """The listener, the connections and the command handlers of the IRC gateway."""

    def __init__(self, *, service: Service, hub: Hub) -> None:
        self._service = service
        self._hub = hub
        settings = service.settings
        self._name = settings.irc_server_name
        self.delivery = IrcDelivery(self._name)
        self._history = HistoryReader(service, self._name)
        self._bots = StreamBots(service, self._name)
        self._connections: set[IrcConnection] = set()
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self._motd = tuple(settings.irc_motd.split("\n")) if settings.irc_motd else ()
        self._open_gauge = metrics.CONNECTIONS.labels(dialect="irc")
        self.port = 0

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    # listening

    def _tls(self) -> ssl.SSLContext | None:
        settings = self._service.settings
        if not settings.irc_tls_cert and not settings.irc_tls_key:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(settings.irc_tls_cert, settings.irc_tls_key or None)
        return context

    async def start(self, host: str, port: int) -> int:
        settings = self._service.settings

        def factory() -> IrcConnection:
            session = IrcSession(
                server=self._name, version=f"hubbub-{__version__}", created=self._created, motd=self._motd
            )
            return IrcConnection(
                session,
                run=self._run,
                opened=self._opened,
                lost=self._lost,
                send_limit=settings.irc_send_buffer_bytes,
                queue_limit=max(2, settings.irc_queued_commands),
                burst=settings.irc_command_burst,
                per_second=settings.irc_commands_per_second,
                socket_send_buffer=settings.irc_socket_send_buffer_bytes,
            )

        self._server = await asyncio.get_running_loop().create_server(factory, host, port, ssl=self._tls())
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._tasks.append(asyncio.create_task(self._run_pings(), name="hubbub-irc-pings"))
        return self.port

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.session.error("the server is shutting down")
            connection.flush()
            connection.close()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
            self._server = None

    def _opened(self, connection: IrcConnection) -> bool:
        self._connections.add(connection)
        self._open_gauge.inc()
        return True

    def _lost(self, connection: IrcConnection) -> None:
        if connection not in self._connections:
            return
        self._connections.discard(connection)
        self._open_gauge.dec()
        left = [j for j in connection.rooms.values() if j.entered_here]
        self.delivery.remove(connection)
        user = connection.user
        if user is not None and left:
            # Leave the rooms this connection brought the user into, unless another of theirs holds them.
            still = {room for other in self.delivery.connections_of(user.id) for room in other.rooms}
            rooms = [j.room_id for j in left if j.room_id not in still]
            if rooms:
                task = asyncio.create_task(self._leave(user, rooms), name="hubbub-irc-leave")
                self._tasks.append(task)
                task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)

    async def _leave(self, user: User, rooms: list[RoomId]) -> None:
        for room_id in rooms:
            try:
                await self._service.rooms.leave(user.id, room_id)
            except RemoteError as error:
                log.debug("leaving room %d after an IRC quit: %s", room_id, error)

    # keep-alive

    def check_liveness(self, now: float | None = None) -> None:
        settings = self._service.settings
        interval = settings.irc_ping_interval
        now = time.monotonic() if now is None else now
        for connection in list(self._connections):
            session = connection.session
            if not session.registered:
                if now - connection.opened_at > settings.irc_registration_timeout:
                    session.error("registration timed out")
                    connection.flush()
                    connection.close()
                continue
            silent = now - connection.last_inbound
            if silent >= 2 * interval and connection.last_ping > connection.last_inbound:
                session.error(f"Ping timeout: {int(silent)} seconds")
                connection.flush()
                connection.close()
            elif silent >= interval and connection.last_ping <= connection.last_inbound:
                connection.last_ping = now
                connection.send(codec.render_line("PING", [self._name]))

    async def _run_pings(self) -> None:
        settings = self._service.settings
        period = max(0.05, min(settings.irc_ping_interval, settings.irc_registration_timeout) / 4)
        while True:
            await asyncio.sleep(period)
            self.check_liveness()

    # commands

    async def _run(self, connection: IrcConnection, command: Command) -> None:
        session = connection.session
        if isinstance(command, codec.Login):
            await self._login(connection, command)
            return
        user = connection.user
        if user is None:
            return
        if isinstance(command, codec.Join):
            await self._join(connection, user, command.channel)
        elif isinstance(command, codec.Part):
            await self._part(connection, user, command.channel, command.reason)
        elif isinstance(command, codec.Say):
            await self._say(connection, user, command)
        elif isinstance(command, codec.ListChannels):
            await self._list(connection, user)
        elif isinstance(command, codec.Names):
            target, members, cut = await self._members(user, command.channel)
            session.names(target.name if target else command.channel, members or [], cut_at=cut)
        elif isinstance(command, codec.Who):
            await self._who(connection, user, command.mask)
        elif isinstance(command, codec.Whois):
            found = await self._service.channels.user_by_nick(command.nick)
            member = self._member(found, operator=False) if found is not None else None
            shared = [j.name for j in connection.rooms.values()] if found is not None and found.id == user.id else []
            session.whois(command.nick, member, shared)
        elif isinstance(command, codec.Ison):
            present = []
            for nick in command.nicks[: codec.MAX_TARGETS]:
                found = await self._service.channels.user_by_nick(nick)
                if found is not None and self.delivery.connections_of(found.id):
                    present.append(nick_of(found.name, found.id))
            session.ison(present)
        elif isinstance(command, codec.Topic):
            await self._topic(connection, user, command.channel)
        elif isinstance(command, codec.Kick):
            await self._kick(connection, user, command)
        elif isinstance(command, HistoryQuery):
            await self._history.answer(connection, user, command, await self._resolve(user, command.channel))
        elif isinstance(command, codec.Quit):
            pass  # the session queued ERROR; the connection closes once it is written

    async def _login(self, connection: IrcConnection, command: codec.Login) -> None:
        accounts = self._service.accounts
        try:
            if command.by_email:
                user = await accounts.authenticate(command.login, command.password, client=connection.remote)
            else:
                user = await accounts.authenticate_nick(command.login, command.password, client=connection.remote)
        except InvalidCredentials:
            connection.push_front(connection.session.login_failed(LoginFailure.WRONG, sasl=command.sasl))
            return
        except Busy:
            connection.push_front(connection.session.login_failed(LoginFailure.BUSY, sasl=command.sasl))
            return
        except RateLimited:
            connection.push_front(connection.session.login_failed(LoginFailure.LIMITED, sasl=command.sasl))
            return
        connection.user = user
        self.delivery.add_user(connection, user.id)
        nick = nick_of(user.name, user.id)  # also the account name IRC shows (900): one word
        connection.push_front(
            connection.session.login_succeeded(account=nick, nick=nick, user_id=int(user.id), sasl=command.sasl)
        )

    async def _listing(self, user: User) -> tuple[dict[str, ChannelTarget], dict[int, ChannelSource]]:
        """For LIST: every channel by folded name, and what the user may know of each room,
        with how many are in it (one store read)."""
        sources = await self._service.channels.sources(user.id, counted=True)
        names = channel_names(
            ((int(s.room_id), s.slug) for s in sources if s.stream_id is None),
            ((s.stream_id, int(s.room_id), s.owner_slug, s.stream_slug) for s in sources if s.stream_id is not None),
        )
        return names, {int(s.room_id): s for s in sources}

    async def _resolve_with_topic(self, user: User, channel: str) -> tuple[ChannelTarget | None, str]:
        """The room or stream a channel name stands for if the user may read it (else None: no leak), and its topic."""
        target = await find_channel(self._service.channels, channel)
        if target is None:
            return None, ""
        source = await self._service.channels.source(user.id, RoomId(target.room_id))
        if source is None or not source.readable:
            return None, ""
        return target, source.topic

    async def _resolve(self, user: User, channel: str) -> ChannelTarget | None:
        return (await self._resolve_with_topic(user, channel))[0]

    def _member(self, user: User, *, operator: bool) -> ChannelMember:
        nick = nick_of(user.name, user.id)
        return ChannelMember(nick, hostmask(nick, user.id, self._name), operator, user.name)

    def _members_of(self, found: list[Member]) -> list[ChannelMember]:
        return [self._member(m.user, operator=m.operator) for m in found]

    async def _members(
        self, user: User, channel: str
    ) -> tuple[ChannelTarget | None, list[ChannelMember] | None, int | None]:
        """The channel, its members seen most recently, and ``NAMES_LISTED`` if there are more than those."""
        target = await self._resolve(user, channel)
        if target is None:
            return None, None, None
        found = await self._service.channels.members(user.id, RoomId(target.room_id), limit=NAMES_LISTED + 1)
        if found is None:
            return target, None, None
        cut = NAMES_LISTED if len(found) > NAMES_LISTED else None
        return target, self._members_of(found[:NAMES_LISTED]), cut

    async def _join(self, connection: IrcConnection, user: User, channel: str) -> None:
        session = connection.session
        if fold(channel) in connection.channels:
            return  # already there: nothing to do (modern.ircdocs.horse: JOIN of a joined channel is ignored)
        if len(connection.channels) >= codec.MAX_CHANNELS:
            session.too_many_channels(channel)
            return
        target, topic = await self._resolve_with_topic(user, channel)
        if target is None:
            session.no_such_channel(channel)
            return
        room_id = RoomId(target.room_id)
        if room_id in connection.rooms:
            return
        joined = Joined(target.name, room_id, target.stream_id)
        # Subscribe first, check after: whatever the room logs from here on is held, then sent.
        self.delivery.subscribe(connection, joined)
        try:
            was_present = await self._service.channels.is_present(user.id, room_id)
            if was_present is None:
                raise NotFound("No such channel")
            joined.entered_here = not was_present
            await self._service.rooms.join(user.id, room_id)
            members = await self._service.channels.members(user.id, room_id, limit=NAMES_LISTED + 1)
            if members is None:
                raise NotFound("No such channel")
        except Kicked as error:
            self.delivery.unsubscribe(connection, joined)
            session.banned(target.name, str(error))
            return
        except NotFound:
            self.delivery.unsubscribe(connection, joined)
            session.no_such_channel(channel)
            return
        except BaseException:
            self.delivery.unsubscribe(connection, joined)  # never leave a subscription holding lines
            raise
        if joined.room_id not in connection.rooms:  # parted (kicked, access lost) while being answered
            session.no_such_channel(channel)
            return
        cut = NAMES_LISTED if len(members) > NAMES_LISTED else None
        members = members[:NAMES_LISTED]
        if all(m.user.id != user.id for m in members):
            members.append(Member(user, False))
        session.joined(target.name, topic=topic, members=self._members_of(members), cut_at=cut)
        connection.flush()
        connection.release(joined)

    async def _part(self, connection: IrcConnection, user: User, channel: str, reason: str) -> None:
        targets = list(connection.rooms.values()) if channel == "*" else [connection.channels.get(fold(channel))]
        for joined in targets:
            if joined is None:
                connection.session.not_on_channel(channel)
                continue
            connection.session.parted(joined.name, reason)
            self.delivery.unsubscribe(connection, joined)
            try:
                await self._service.rooms.leave(user.id, joined.room_id)
            except RemoteError as error:
                log.debug("an IRC PART of room %d: %s", joined.room_id, error)

    async def _say(self, connection: IrcConnection, user: User, command: codec.Say) -> None:
        session = connection.session
        joined = connection.channels.get(fold(command.channel))
        if joined is None:
            session.cannot_send(command.channel, "you are not on that channel")
            return
        if joined.stream_id is not None and await self._bots.handle(
            connection, user, joined, command.text, command.action
        ):
            return
        room_id = joined.room_id
        connection.awaiting_echo[room_id] = connection.awaiting_echo.get(room_id, 0) + 1
        posted = False
        try:
            if joined.stream_id is not None:
                frame = {
                    "type": "emote" if command.action else "text",
                    "text": command.text,
                    "account_id": LOCAL_ACCOUNT,
                    "cur_stream_account_id": LOCAL_ACCOUNT,
                }
                request = await self._service.stream_chat.say(user.id, joined.stream_id, frame)
                posted = request is None
            else:
                # Stack Exchange chat has no /me: an action is posted in italics, as multistreamer's YouTube writer did.
                text = f"*{command.text}*" if command.action else command.text
                result = await self._service.messages.post(user.id, room_id, text)
                posted = result.message is not None
        except RemoteError as error:
            session.cannot_send(joined.name, str(error))
        finally:
            if not posted:
                connection.awaiting_echo[room_id] = max(0, connection.awaiting_echo.get(room_id, 1) - 1)

    async def _list(self, connection: IrcConnection, user: User) -> None:
        names, sources = await self._listing(user)
        entries = [
            ListEntry(target.name, sources[target.room_id].present, sources[target.room_id].topic)
            for target in names.values()
            if target.room_id in sources and sources[target.room_id].readable
        ]
        connection.session.channel_list(sorted(entries, key=lambda entry: fold(entry.channel)))

    async def _who(self, connection: IrcConnection, user: User, mask: str) -> None:
        session = connection.session
        if mask.startswith("#"):
            target, members, cut = await self._members(user, mask)
            session.who(mask, [(target.name, m) for m in members or []] if target else [], cut_at=cut)
            return
        found = await self._service.channels.user_by_nick(mask)
        session.who(mask, [] if found is None else [("*", self._member(found, operator=False))])

    async def _topic(self, connection: IrcConnection, user: User, channel: str) -> None:
        target, topic = await self._resolve_with_topic(user, channel)
        if target is None:
            connection.session.no_such_channel(channel)
            return
        connection.session.topic(target.name, topic)

    async def _kick(self, connection: IrcConnection, user: User, command: codec.Kick) -> None:
        session = connection.session
        joined = connection.channels.get(fold(command.channel))
        if joined is None:
            session.not_on_channel(command.channel)
            return
        victim = await self._service.channels.user_by_nick(command.nick)
        if victim is None:
            session.no_such_nick(command.nick)
            return
        try:
            await self._service.rooms.kick(user.id, joined.room_id, victim.id)
        except RemoteError:
            session.not_operator(joined.name)
