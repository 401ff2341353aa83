"""A stream channel's bots on the gateway: lines addressed to a network account, and ``!`` commands (§B.6).

The parsing is ``core.bot_commands`` (with multistreamer's trailing-digit quirk fixed);
the rules are the service's: a line for a network goes through ``stream_chat.say`` like a
streams socket's ``text`` frame with that account, so the §B.9 check (the sender's own
account of that network, write level on the stream) holds here too, and the bridge
writes it. Answers come from ``root`` to the asking connection only, like multistreamer's
``relay`` lines, which never reached the web chat.
"""

from __future__ import annotations

from hubbub.core.bot_commands import BangCommand, addressed_bot, bang_command, bot_names
from hubbub.core.models import User
from hubbub.core.streams import NetworkAccount, network
from hubbub.dialects.irc.codec import render_line
from hubbub.dialects.irc.connection import IrcConnection, Joined
from hubbub.service.service import Service
from hubbub.service.stream_chat import StatusView

__all__ = ["StreamBots"]

HELP = (
    "commands: !help, !chat <network|bot> (get a writer for your own account), !viewcount [bot];"
    " write to a network by addressing its bot: <bot>: text"
)


def _looks_addressed(text: str) -> bool:
    first = text.lstrip().partition(" ")[0]
    return first.startswith("@") or first.endswith((":", ","))


class StreamBots:
    def __init__(self, service: Service, server: str) -> None:
        self._service = service
        self._root = f"root!root@{server}"

    def _answer(self, connection: IrcConnection, joined: Joined, text: str) -> None:
        connection.send(render_line("PRIVMSG", [joined.name, f"{connection.session.nick}: {text}"], source=self._root))

    async def handle(self, connection: IrcConnection, user: User, joined: Joined, text: str, action: bool) -> bool:
        """Carry out ``text`` if it is a bot command or addressed to a bot; False: an ordinary line."""
        assert joined.stream_id is not None
        bang = bang_command(text)
        if bang is None and not _looks_addressed(text):
            return False
        view = await self._service.stream_chat.status(user.id, joined.stream_id)
        if view is None:
            return False
        bots = bot_names((a.id, a.network, a.name) for a in view.attached)
        if bang is not None:
            await self._command(connection, user, joined, view, bots, bang)
            return True
        addressed = addressed_bot(text, bots)
        if addressed is None:
            return False
        target = next(a for a in view.attached if a.id == addressed.account_id)
        if not network(target.network).writable:
            self._answer(connection, joined, "not supported")
            return True
        own = self._own_account(user, view, target)
        frame = {
            "type": "emote" if action else "text",
            "text": addressed.text,
            "account_id": own.id if own is not None else -1,
            "cur_stream_account_id": target.id,
        }
        chat = self._service.stream_chat
        request = await chat.say(user.id, joined.stream_id, frame) if own is not None else None
        if request is None:
            self._answer(connection, joined, "not authorized")
        elif not chat.write(request):
            self._answer(connection, joined, f"{target.network} is not connected for this stream; try !chat")
        return True

    @staticmethod
    def _own_account(user: User, view: StatusView, target: NetworkAccount) -> NetworkAccount | None:
        """The account the user writes from: the target itself if theirs, else their own on its network."""
        if target.owner_id == user.id:
            return target
        return next((a for a in view.own_others if a.network == target.network), None)

    async def _command(
        self,
        connection: IrcConnection,
        user: User,
        joined: Joined,
        view: StatusView,
        bots: dict[str, int],
        bang: BangCommand,
    ) -> None:
        if not bang.known:
            self._answer(connection, joined, f"unknown command !{bang.name}; try !help")
        elif bang.name == "help":
            self._answer(connection, joined, HELP)
        elif bang.name == "viewcount":
            wanted = {bots[b.lower()] for b in bang.args if b.lower() in bots} if bang.args else set(bots.values())
            counts = [
                f"{name}: {view.viewcounts[account_id]}"
                for name, account_id in sorted(bots.items())
                if account_id in wanted and account_id in view.viewcounts
            ]
            self._answer(connection, joined, ", ".join(counts) if counts else "no viewer counts yet")
        elif bang.name == "chat":
            await self._chat(connection, user, joined, view, bots, bang)
        else:  # summon: multistreamer's invited a user's IRC client; hubbub has no such thing to wake
            self._answer(connection, joined, "not supported")

    async def _chat(
        self,
        connection: IrcConnection,
        user: User,
        joined: Joined,
        view: StatusView,
        bots: dict[str, int],
        bang: BangCommand,
    ) -> None:
        assert joined.stream_id is not None
        if not bang.args:
            self._answer(connection, joined, "usage: !chat <network|bot>")
            return
        wanted = bang.args[0].lower()
        targets = [a for a in view.attached if bots.get(wanted) == a.id or a.network == wanted]
        own = self._own_account(user, view, targets[0]) if targets else None
        result = None
        if own is not None:
            frame = {"account_id": own.id, "cur_stream_account_id": targets[0].id}
            result = await self._service.stream_chat.request_writer(user.id, joined.stream_id, frame)
        self._answer(connection, joined, "writer ready" if result is not None else "not authorized")
