from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from pipelines.project import REPO_ROOT as PROJECT_ROOT
from pipelines.project import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def warehouse_held(path: Path, seconds: float = 120) -> Iterator[subprocess.Popen]:
    """Another process with the warehouse at ``path`` open (as a Dagster run or someone's
    DuckDB shell would have it) for ``seconds`` or until the block ends; the file is made
    first if there is none. Yields the process (DuckDB names its PID to whoever is refused)."""
    from pipelines.lib.warehouse import connect

    with connect(path):
        pass  # the warehouse exists, as after any batch
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(float(sys.argv[2]))",
            str(path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait()


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


def use_platform(root: Path, mp: pytest.MonkeyPatch) -> Settings:
    """Point the platform at ``root``: data folders, warehouse, snapshot and Dagster home
    (the reference data stays the project's)."""
    mp.setenv("OMS_DATA_DIR", str(root / "data"))
    mp.setenv("OMS_WAREHOUSE", str(root / "data" / "warehouse" / "oms.duckdb"))
    mp.setenv("OMS_REPORTING", str(root / "data" / "warehouse" / "reporting.duckdb"))
    mp.setenv("OMS_REFERENCE_DIR", str(PROJECT_ROOT / "data" / "reference"))
    mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_dirs()
    return settings


#: The short demo the dashboard tests read: nine days, with half the delivered orders' customers
#: asking for a return, so that returns are inspected and refunded within it.
DEMO_DAYS = 9
DEMO_ORDERS = 400
DEMO_RETURN_RATE = 0.5


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A platform that played a short demo through the real jobs (orders in every state,
    shipments, tracking, returns and refunds, the analytics snapshot), once per session.
    Tests read it through ``demo_platform``; none may write to it.

    To iterate on dashboard tests without playing it each time, copy a played one aside and
    name it in ``OMS_TEST_DEMO_ROOT`` (never set in CI)."""
    import dagster as dg

    from pipelines import demo

    if reuse := os.environ.get("OMS_TEST_DEMO_ROOT"):
        return Path(reuse)
    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        settings = use_platform(root, mp)
        with dg.DagsterInstance.get() as instance:
            results = demo.run_demo(
                settings,
                demo.in_process_runner(instance),
                lambda result: None,
                days=DEMO_DAYS,
                orders=DEMO_ORDERS,
                return_rate=DEMO_RETURN_RATE,
            )
    get_settings.cache_clear()
    failed = [r for r in results if not r.success]
    assert results and not failed, failed
    return root


@pytest.fixture
def demo_platform(demo_root: Path) -> Iterator[Settings]:
    """The session's demo platform (read only), as this test's settings."""
    with pytest.MonkeyPatch.context() as mp:
        yield use_platform(demo_root, mp)
    get_settings.cache_clear()


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
