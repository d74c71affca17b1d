"""The suite is offline: pytest-socket (addopts) refuses every connection off loopback."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from pytest_socket import SocketConnectBlockedError

# TEST-NET-1 (RFC 5737): documentation only, routed nowhere.
UNREACHABLE = "192.0.2.1"


def test_a_socket_connect_off_loopback_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Bound to loopback, so even without the guard the kernel would refuse (EINVAL)
        # rather than send anything off this machine.
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.01)
        with (
            pytest.warns(UserWarning, match=UNREACHABLE),
            pytest.raises(SocketConnectBlockedError),
        ):
            sock.connect((UNREACHABLE, 9))


async def test_an_http_request_off_loopback_is_refused() -> None:
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.1", 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        with (
            pytest.warns(UserWarning, match=UNREACHABLE),
            pytest.raises(SocketConnectBlockedError),
        ):
            await session.get(f"http://{UNREACHABLE}:9/", timeout=aiohttp.ClientTimeout(total=1))


def test_loopback_stays_open() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=1) as client:
            assert client.getpeername() == server.getsockname()
