"""The suite must never reach the network; the guard in conftest enforces it."""

import socket

import pytest

from tests.conftest import OutboundNetworkBlocked  # noqa: F401  (re-exported for clarity)


def test_network_guard_refuses_outbound() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(OutboundNetworkBlocked):
            s.connect(("192.0.2.1", 80))
    finally:
        s.close()


def test_network_guard_allows_loopback() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.connect(server.getsockname())
    finally:
        client.close()
        server.close()
