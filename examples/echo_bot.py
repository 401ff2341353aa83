"""An example bot for hubbub (or Stack Exchange chat): ``!echo``, ``!ping``, and answers to pings.

Run it against a hubbub server, with the bot's account in the environment:

    HUBBUB_URL=http://127.0.0.1:8080 HUBBUB_EMAIL=bot@example.org HUBBUB_PASSWORD=... \\
        .venv/bin/python examples/echo_bot.py 1 2      # the rooms to sit in

Ctrl-C or SIGTERM stops it: it finishes what it is doing, leaves its rooms and exits.
"""

from __future__ import annotations

import logging
import os
import sys

from hubbub.client.bot import Bot, Context


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    rooms = [int(room) for room in sys.argv[1:]] or [1]
    bot = Bot(
        os.environ.get("HUBBUB_URL", "http://127.0.0.1:8080"),
        os.environ["HUBBUB_EMAIL"],
        os.environ["HUBBUB_PASSWORD"],
        rooms=rooms,
        cooldown=2.0,  # each user may run each command once every 2 seconds
    )

    @bot.command("echo")
    async def echo(ctx: Context) -> str:
        """Says back what you said."""
        return ctx.args or "Echo what?"

    @bot.command("ping")
    async def ping(ctx: Context) -> str:
        """Answers pong."""
        return "pong"

    @bot.on_mention
    async def mentioned(ctx: Context) -> str:
        return f"Hello {ctx.user_name}! Try !help."

    bot.run()


if __name__ == "__main__":
    main()
