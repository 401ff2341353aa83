from tests.conftest import Node


async def test_login_and_post(node: Node) -> None:
    bot = await node.signed_in("Bot Name")
    room = await node.room()
    response = await bot.post(f"/chats/{room}/messages/new", {"text": "hi"})
    assert response.status == 200
    assert (await response.json())["id"] == 1
