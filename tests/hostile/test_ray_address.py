"""``engine='ray'`` with a bad ``address``: one-line IntegrationError, in bounded time.

``ray.init(address=...)`` retries an unreachable address for over a minute, and when the port
answers but is not a Ray head it terminates the whole process from C++ (measured with Ray
2.60), so :class:`~datacentric.engine.ray.RayEngine` checks the address (format, TCP, gRPC)
before calling it. None of these tests starts Ray or binds a port outside loopback.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator

import pytest

from datacentric.engine.ray import RayEngine
from datacentric.exceptions import IntegrationError, InvalidParameterError, MissingDependencyError


@pytest.mark.parametrize(
    "address", ["not-an-address", "host:", ":6379", "10.0.0.5:99999", "http://10.0.0.5:6379", " "]
)
def test_garbage_address(address: str) -> None:
    start = time.monotonic()
    with pytest.raises(IntegrationError) as info:
        RayEngine(address=address)
    assert time.monotonic() - start < 1
    message = str(info.value)
    assert message.startswith(f"engine='ray': address {address!r} is not a Ray cluster address")
    assert "Fix --address." in message and "\n" not in message


def test_unreachable_address_fails_fast() -> None:
    start = time.monotonic()
    with pytest.raises(IntegrationError) as info:
        RayEngine(address="127.0.0.1:1", connect_timeout=5)
    assert time.monotonic() - start < 5  # refused at once, no retry loop
    assert str(info.value) == (
        "engine='ray': cannot reach the Ray cluster at '127.0.0.1:1' (Connection refused). "
        "Check that the head node is running (`ray status --address 127.0.0.1:1`) and "
        "that this machine can reach that port, then fix --address."
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never says anything (not a Ray head)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def test_port_that_is_not_a_ray_head_fails_within_the_timeout(silent_port: int) -> None:
    start = time.monotonic()
    with pytest.raises(IntegrationError) as info:
        RayEngine(address=f"127.0.0.1:{silent_port}", connect_timeout=1)
    assert time.monotonic() - start < 5  # ray.init would have killed this process
    assert str(info.value) == (
        f"engine='ray': '127.0.0.1:{silent_port}' accepts connections but does not answer as a "
        "Ray head node (no gRPC within 1 s). Pass the head's GCS port (6379 by default, the "
        "address `ray start --head` prints) to --address."
    )


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"workers": 0}, "workers"),
        ({"workers": -2}, "workers"),
        ({"workers": 1.5}, "workers"),
        ({"address": 6379}, "address"),
        ({"max_retries": -1}, "max_retries"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"connect_timeout": float("nan")}, "connect_timeout"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], parameter: str) -> None:
    with pytest.raises(InvalidParameterError, match=rf"^RayEngine: parameter {parameter} must be"):
        RayEngine(**kwargs)  # type: ignore[arg-type]


def test_ray_not_installed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'datacentric\[ray\]'"):
        RayEngine(address="127.0.0.1:6379")
