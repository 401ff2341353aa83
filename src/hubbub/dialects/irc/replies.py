"""The gateway's replies: numerics, errors and answers a session sends (docs/irc.md lists every one).

``Replies`` is the half of ``codec.IrcSession`` that writes: the server calls its answer
methods after carrying out a command; the codec uses ``_emit``/``_numeric`` for what it
answers itself. No I/O: lines go to the session's output buffer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from irctokens.line import Line

from hubbub.dialects.irc.commands import ChannelMember, ListEntry
from hubbub.dialects.irc.lines import MAX_LINE_BYTES, render_line

__all__ = ["Replies"]


class Replies:
    """Reply methods over the session's state (the dataclass ``IrcSession`` declares these fields)."""

    server: str
    nick: str
    mask: str
    caps: set[str]
    closing: bool
    _out: bytearray

    def _emit(self, command: str, *params: str, source: str | None = None) -> None:
        self._out += render_line(command, params, source=source or self.server)

    def _numeric(self, code: str, *params: str) -> None:
        self._emit(code, self.nick, *params)

    def _need_params(self, line: Line, count: int) -> bool:
        """False, after answering 461, if ``line`` has fewer than ``count`` parameters or an empty first one."""
        if len(line.params) < count or not line.params[0]:
            self._numeric("461", line.command, "Not enough parameters")
            return False
        return True

    def error(self, reason: str) -> None:
        """Send ``ERROR`` and mark the session closing (the server closes once it is written)."""
        self._emit("ERROR", f"Closing link: {reason}", source="")
        self.closing = True

    def notice(self, text: str) -> None:
        self._emit("NOTICE", self.nick, text)

    def joined(self, channel: str, *, topic: str, members: Iterable[ChannelMember], cut_at: int | None = None) -> None:
        self._emit("JOIN", channel, source=self.mask)
        if topic:
            self._emit("332", self.nick, channel, topic)
        else:
            self._emit("331", self.nick, channel, "No topic is set")
        self.names(channel, members, cut_at=cut_at)

    def _cut(self, channel: str, cut_at: int | None) -> None:
        """Say, before the list ends, that a big channel's list holds only its members seen last."""
        if cut_at is not None:
            self.notice(f"{channel} has more than {cut_at} users; listed are the {cut_at} seen most recently")

    def names(self, channel: str, members: Iterable[ChannelMember], *, cut_at: int | None = None) -> None:
        entries = [("@" if m.operator else "") + m.nick for m in members]
        line: list[str] = []
        size = 0
        budget = MAX_LINE_BYTES - len(f":{self.server} 353 {self.nick} = {channel} :\r\n".encode())
        for entry in entries:
            if line and size + len(entry) + 1 > budget:
                self._emit("353", self.nick, "=", channel, " ".join(line))
                line, size = [], 0
            line.append(entry)
            size += len(entry.encode()) + 1
        if line:
            self._emit("353", self.nick, "=", channel, " ".join(line))
        self._cut(channel, cut_at)
        self._emit("366", self.nick, channel, "End of /NAMES list")

    def who(self, mask: str, members: Iterable[tuple[str, ChannelMember]], *, cut_at: int | None = None) -> None:
        for channel, m in members:
            _, _, rest = m.mask.partition("!")
            user, _, host = rest.partition("@")
            flags = "H" + ("@" if m.operator else "")
            self._emit("352", self.nick, channel, user, host, self.server, m.nick, flags, f"0 {m.realname}")
        self._cut(mask, cut_at)
        self._emit("315", self.nick, mask, "End of /WHO list")

    def ison(self, nicks: Iterable[str]) -> None:
        self._numeric("303", " ".join(nicks))

    def whois(self, nick: str, member: ChannelMember | None, channels: Sequence[str]) -> None:
        if member is None:
            self._emit("401", self.nick, nick, "No such nick/channel")
        else:
            _, _, rest = member.mask.partition("!")
            user, _, host = rest.partition("@")
            self._emit("311", self.nick, member.nick, user, host, "*", member.realname)
            if channels:
                self._emit("319", self.nick, member.nick, " ".join(channels))
            self._emit("312", self.nick, member.nick, self.server, "hubbub")
        self._emit("318", self.nick, nick, "End of /WHOIS list")

    def topic(self, channel: str, topic: str) -> None:
        if topic:
            self._emit("332", self.nick, channel, topic)
        else:
            self._emit("331", self.nick, channel, "No topic is set")

    def no_such_channel(self, channel: str) -> None:
        self._emit("403", self.nick, channel, "No such channel")

    def too_many_channels(self, channel: str) -> None:
        self._emit("405", self.nick, channel, "You have joined too many channels")

    def banned(self, channel: str, why: str) -> None:
        self._emit("474", self.nick, channel, f"Cannot join channel (+b): {why}")

    def not_on_channel(self, channel: str) -> None:
        self._emit("442", self.nick, channel, "You're not on that channel")

    def not_operator(self, channel: str) -> None:
        self._emit("482", self.nick, channel, "You're not channel operator")

    def no_such_nick(self, nick: str) -> None:
        self._emit("401", self.nick, nick, "No such nick/channel")

    def cannot_send(self, channel: str, why: str) -> None:
        self._emit("404", self.nick, channel, f"Cannot send to channel: {why}")

    def parted(self, channel: str, reason: str) -> None:
        self._emit("PART", channel, reason, source=self.mask)

    def channel_list(self, entries: Iterable[ListEntry]) -> None:
        self._emit("321", self.nick, "Channel", "Users  Name")
        for entry in entries:
            self._emit("322", self.nick, entry.channel, str(entry.visible), entry.topic)
        self._emit("323", self.nick, "End of /LIST")

    def history_failed(self, subcommand: str, channel: str, why: str) -> None:
        self._emit("FAIL", "CHATHISTORY", "INVALID_TARGET", subcommand, channel, why)

    def history(self, channel: str, lines: Sequence[bytes], batch_id: str) -> None:
        """Send replayed lines in a ``chathistory`` batch (each line rendered with this session's tags)."""
        batched = "batch" in self.caps
        if batched:
            self._emit("BATCH", f"+{batch_id}", "chathistory", channel)
        for data in lines:
            for one in data.split(b"\r\n"):
                if not one:
                    continue
                if batched:
                    tag = b"@batch=" + batch_id.encode()
                    self._out += tag + b";" + one[1:] if one.startswith(b"@") else tag + b" " + one
                else:
                    self._out += one
                self._out += b"\r\n"
        if batched:
            self._emit("BATCH", f"-{batch_id}")
