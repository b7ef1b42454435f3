from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("OMS_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The real public channel samples in ../shared/samples/channels.

    They are outside the project on purpose. Locally a checkout without them skips the
    conformance tests; under CI (CI=true) their absence is a failure, never a skip.
    """
    path = shared_dir() / "samples" / "channels"
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the public channel samples are missing: {path}")
        pytest.skip(f"public channel samples not present at {path}")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., int]]:
    """Start real local SMTP servers (aiosmtpd) with a test's handler on free ports;
    ``smtp_server(handler, **controller_kwargs)`` returns the port. Stopped at teardown."""
    started: list[Controller] = []

    def start(handler: object, **kwargs) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()
