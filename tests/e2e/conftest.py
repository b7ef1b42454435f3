"""Real services for browser tests: a Streamlit server of the dashboards on a temporary
platform, and headless Debian Chromium driven by Playwright (never downloaded)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from pipelines.project import REPO_ROOT, Settings
from tests.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STARTUP_SECONDS = 60


@dataclass(frozen=True)
class Dashboards:
    url: str
    settings: Settings
    log: Path


def _platform_env(root: Path) -> dict[str, str]:
    data = root / "data"
    return {
        "OMS_DATA_DIR": str(data),
        "OMS_WAREHOUSE": str(data / "warehouse" / "oms.duckdb"),
        "OMS_REPORTING": str(data / "warehouse" / "reporting.duckdb"),
        "OMS_REFERENCE_DIR": str(REPO_ROOT / "data" / "reference"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        # Nothing listens there: "process now" must never reach a Dagster someone runs.
        "OMS_DAGSTER_URL": f"http://127.0.0.1:{free_port()}",
    }


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/_stcore/health", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    pytest.fail(f"streamlit did not answer within {STARTUP_SECONDS} s:\n{log.read_text()}")


@contextmanager
def _serve(
    root: Path,
    app: str = "streamlit_app.py",
    address: str = "127.0.0.1",
    env: dict[str, str] | None = None,
) -> Iterator[Dashboards]:
    """``streamlit run dashboards/<app>`` on a free port over the platform in ``root``,
    listening on ``address`` (anything but loopback makes it ask for a sign-in), with ``env``
    added; stopped (its whole process group) on the way out."""
    env_vars = {**_platform_env(root), **(env or {})}
    settings = Settings.from_env(env_vars)
    settings.ensure_dirs()
    port = free_port()
    log = root.parent / f"streamlit-{port}.log"
    command = [
        "uv", "run", "--frozen", "streamlit", "run", f"dashboards/{app}",
        "--server.headless", "true",
        "--server.address", address,
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, **env_vars},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield Dashboards(url=url, settings=settings, log=log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def dashboards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboards]:
    """The ops workspace over an empty platform in a temporary folder (on localhost: no
    sign-in)."""
    with _serve(tmp_path_factory.mktemp("platform"), "ops_app.py") as served:
        yield served


@pytest.fixture(scope="module")
def demo_dashboards(demo_root: Path) -> Iterator[Dashboards]:
    """The dashboards over the session's short demo (read only)."""
    with _serve(demo_root) as served:
        yield served


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright's sync API."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # the first run of a page imports the pipeline code

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()
