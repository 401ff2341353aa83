"""The IRC gateway: any IRC client logs in with its hubbub account and chats in rooms and streams.

``codec`` is the sans-I/O part (bytes in -> commands for the server; replies and events
-> lines); ``names`` maps users, rooms and streams to IRC nicks and channels; ``server``
is the asyncio shell that moves bytes and calls the service. docs/irc.md ("Gateway").
"""
