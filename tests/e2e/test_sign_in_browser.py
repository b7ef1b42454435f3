"""Sign-in in a real browser (Debian Chromium + Playwright): the ops workspace served beyond
localhost (``--server.address 0.0.0.0``) shows only a sign-in form; a wrong password is refused,
the right one opens the workspace, and both are in the audit trail."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from pipelines.lib import audit
from tests.e2e.conftest import Dashboards, _serve

pytestmark = pytest.mark.e2e

#: Made per run: no password is written in the repository (test_no_secrets_committed).
PASSWORD = secrets.token_urlsafe(18)


@pytest.fixture(scope="module")
def served_beyond_localhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboards]:
    root: Path = tmp_path_factory.mktemp("signed")
    with _serve(root, "ops_app.py", "0.0.0.0", {"OMS_OPS_PASSWORD": PASSWORD}) as served:
        yield served


def _sign_in(page: Page, name: str, password: str) -> None:
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_the_ops_workspace_beyond_localhost_needs_the_ops_password(
    page: Page, served_beyond_localhost: Dashboards
) -> None:
    page.goto(served_beyond_localhost.url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("input[type=file]")).to_have_count(0)

    _sign_in(page, "Ana Ruiz", "not it")
    expect(page.get_by_text("Wrong password for this role.")).to_be_visible()
    expect(page.locator("input[type=file]")).to_have_count(0)

    _sign_in(page, "Ana Ruiz", PASSWORD)
    expect(page.get_by_role("heading", name="Upload", exact=True)).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_be_visible()
    trail = audit.read(served_beyond_localhost.settings.data_dir)
    assert [(r["who"], r["action"]) for r in reversed(trail)] == [
        ("Ana Ruiz", "sign_in_failed"),
        ("Ana Ruiz", "sign_in"),
    ]
