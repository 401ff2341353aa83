"""tests/ports.py: ports for separately started servers come from outside the kernel's ephemeral range."""

from __future__ import annotations

import socket

from tests.ports import _ephemeral_start, free_port


def test_a_free_port_is_bindable_and_below_the_range_connections_take_local_ports_from() -> None:
    start = _ephemeral_start()
    ports = {free_port() for _ in range(50)}
    assert all(10_000 <= port < start for port in ports)
    assert len(ports) > 1  # chosen at random, not one fixed port
    with socket.socket() as server:
        server.bind(("127.0.0.1", ports.pop()))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            assert client.getsockname()[1] >= start  # what a client is given comes from the range
