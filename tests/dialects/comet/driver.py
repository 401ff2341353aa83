"""coderrr's Ruby client of seed 004, line for line in Python, with only its host names changed.

It logs in by submitting the first form of ``/login.php`` (as Mechanize's ``forms.first``),
scrapes ``/home.php`` with the seed's own three regular expressions, reads the buddy list,
long-polls ``http://0.channel<NN>.<host>/x/0/false/p_<uid>=<seq>`` (sent to hubbub's address
with that ``Host`` header), strips the prefix with the seed's ``^[^{]+`` and sends with a form
post. Only the tests use it; it is the "unmodified client" of the issue.
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from bs4 import BeautifulSoup

# The seed's regular expressions, verbatim.
UID_PATTERN = re.compile(r'<a href=".+?/profile.php\?id=(\d+)" class="profile_nav_link">Profile</a>')
CHANNEL_PATTERN = re.compile(r'"channel(\d+)"')
POST_FORM_ID_PATTERN = re.compile(r'<input type="hidden" id="post_form_id" name="post_form_id" value="([^"]+)')


def parse_json(text: str) -> Any:
    """``JSON.parse s.sub(/^[^{]+/, '')``: get rid of the initial js junk."""
    return json.loads(re.sub(r"^[^{]+", "", text, count=1))


@dataclass
class Message:
    from_: int
    from_name: str
    text: str
    time: int


class FacebookChat:
    def __init__(self, base: str, email: str, password: str, *, channel_domain: str = "chat.invalid") -> None:
        self.base = base
        self.email, self.password = email, password
        self.channel_domain = channel_domain
        self.agent = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.uid = 0
        self.channel = ""
        self.post_form_id = ""
        self.seq: int | None = None

    async def close(self) -> None:
        await self.agent.close()

    async def login(self) -> None:
        async with self.agent.get(f"{self.base}/login.php") as page:
            form = BeautifulSoup(await page.text(), "html.parser").find("form")  # forms.first
        assert form is not None
        fields = {str(i["name"]): str(i.get("value", "")) for i in form.find_all("input") if i.get("name")}
        fields["email"], fields["pass"] = self.email, self.password
        action = str(form.get("action") or "/login.php")
        async with self.agent.post(f"{self.base}{action}", data=fields) as submitted:
            await submitted.read()
        async with self.agent.get(f"{self.base}/home.php") as home:
            body = await home.text()
        uid, channel, post_form_id = (p.search(body) for p in (UID_PATTERN, CHANNEL_PATTERN, POST_FORM_ID_PATTERN))
        assert uid is not None and channel is not None and post_form_id is not None, body
        self.uid, self.channel, self.post_form_id = int(uid[1]), channel[1], post_form_id[1]

    def message_url(self, seq: int) -> tuple[str, str]:
        """The seed's URL, and the Host it names (the request goes to hubbub's own address)."""
        url = f"http://0.channel{self.channel}.{self.channel_domain}/x/0/false/p_{self.uid}={seq}"
        parts = urlsplit(url)
        return f"{self.base}{parts.path}", parts.netloc

    async def get_body(self, seq: int, *, timeout: float | None = None) -> str:
        path, host = self.message_url(seq)
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with self.agent.get(path, headers={"Host": host}, timeout=client_timeout) as response:
            assert response.status == 200
            return await response.text()

    async def determine_initial_seq_number(self) -> None:
        # -1 will always be a bad seq number so the server tells us the correct one
        self.seq = int(parse_json(await self.get_body(-1))["seq"])

    async def wait_for_messages(self) -> list[Message]:
        if self.seq is None:
            await self.determine_initial_seq_number()
        assert self.seq is not None
        while True:
            answer = parse_json(await self.get_body(self.seq))
            if answer["t"] != "continue":  # no messages yet, keep waiting
                break
        if answer["t"] == "refresh":  # not in the seed; a client must adopt the seq it is told
            self.seq = int(answer["seq"])
            return []
        self.seq += 1
        return [
            Message(m["from"], m["from_name"], m["msg"]["text"], m["msg"]["time"] // 1000)
            for m in answer["ms"]
            if m["type"] == "msg" and m["from"] != self.uid  # get rid of messages from us
        ]

    async def send_message(self, uid: int, text: str) -> Any:
        form = {
            "msg_text": text,
            "msg_id": str(random.randrange(999999999)),
            "client_time": str(int(time.time() * 1000)),
            "to": str(uid),
            "post_form_id": self.post_form_id,
        }
        async with self.agent.post(f"{self.base}/ajax/chat/send.php", data=form) as response:
            return parse_json(await response.text())

    async def buddy_list(self) -> dict[str, str]:
        answer = await self.buddy_list_answer()
        return {uid: info["name"] for uid, info in answer["userInfos"].items()}

    async def buddy_list_answer(self) -> dict[str, Any]:
        """The whole ``buddy_list`` object of ``update.php``'s answer."""
        form = {"buddy_list": "1", "force_render": "1", "post_form_id": self.post_form_id, "user": str(self.uid)}
        async with self.agent.post(f"{self.base}/ajax/presence/update.php", data=form) as response:
            answer = parse_json(await response.text())
        buddy_list: dict[str, Any] = answer["payload"]["buddy_list"]
        return buddy_list
