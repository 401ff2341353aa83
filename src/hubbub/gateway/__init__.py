"""Websocket servers (picows on the gateway port, aiohttp on the HTTP port) behind one router."""
