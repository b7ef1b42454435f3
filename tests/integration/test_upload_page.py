"""The Upload page in Streamlit's AppTest (which cannot drive a file picker: the real upload is
in tests/e2e/test_upload_browser.py): an empty platform, the status of files a real intake run
moved, the settings file, and "process now" with no Dagster webserver."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest
from streamlit.testing.v1 import AppTest

from pipelines.lib.generator import generate
from pipelines.lib.intake import ingest_inbox
from pipelines.lib.warehouse import connect, migrate
from pipelines.project import DASHBOARDS_DIR, get_settings
from tests.conftest import free_port
from tests.integration.dashboard_app import shown

UPLOAD_PAGE = "app_pages/upload.py"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _upload_page() -> AppTest:
    """The app as a user reaches the page: through the navigation, from the default page."""
    app = AppTest.from_file(str(DASHBOARDS_DIR / "ops_app.py"), default_timeout=60).run()
    assert not app.exception
    page = app.switch_page(UPLOAD_PAGE).run()
    assert not page.exception
    return page


def _texts(app: AppTest, kind: str) -> list[str]:
    """What the elements of ``kind`` say, as the reader sees it."""
    return [shown(e.value) for e in getattr(app, kind)]


def test_the_page_opens_on_an_empty_platform(oms_env) -> None:
    app = _upload_page()
    assert _texts(app, "title") == ["Upload"]
    assert any("up to 200 MB each" in c for c in _texts(app, "caption"))
    assert [s for s in _texts(app, "subheader")] == ["Your uploads", "Process now", "Recent files"]
    assert _texts(app, "info") == ["No files in the inbox, the archive or rejected/ yet."]
    assert not app.error and not app.warning
    assert [b.label for b in app.button] == ["Process now"]  # nothing to accept yet


def test_recent_files_show_what_the_batch_did_with_each_file(oms_env) -> None:
    settings = oms_env
    generate(settings.inbox, orders=10, seed=3, days=1, reference_dir=settings.reference_dir)
    (settings.inbox / "notes.csv").write_text("hello,world\nnot,an export\n")
    with connect(settings.warehouse_path) as con:
        migrate(con)
        result = ingest_inbox(
            con,
            settings.inbox,
            archive_dir=settings.archive,
            rejected_dir=settings.rejected,
            run_id="run-1",
            now=NOW,
        )
    shopify = next(p.name for p in settings.archive.rglob("shopify_*.csv"))
    (settings.inbox / "late_orders.csv").write_bytes(
        (settings.archive / "2026-11-27" / shopify).read_bytes()
    )

    app = _upload_page()

    table = app.dataframe[0].value
    rows = {r["file"]: r for r in table.to_dict("records")}
    assert rows["late_orders.csv"]["status"] == "pending"
    assert rows["late_orders.csv"]["where"] == "inbox"
    assert rows[shopify]["status"] == "processed"
    assert rows[shopify]["where"] == f"archive/2026-11-27/{shopify}"
    assert rows["notes.csv"]["status"] == "rejected"
    assert rows["notes.csv"]["where"] == "rejected/notes.csv"
    assert rows["notes.csv"]["reason"].startswith("unknown layout: not a Shopify")
    processed = {f.name for f in result.files if f.status == "processed"}
    assert processed <= set(rows)
    # Stock files were left in the inbox for later stages: they are pending too.
    assert rows[next(iter(result.left_for_later))]["status"] == "pending"
    assert "_generator_manifest.json" not in rows, "files the batch never reads are not shown"


def test_process_now_says_plainly_when_dagster_is_not_running(oms_env, monkeypatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("OMS_DAGSTER_URL", url)
    app = _upload_page()
    app.button[0].click().run()
    assert not app.exception
    assert _texts(app, "warning") == [
        f"Not started: the Dagster webserver is not running at {url}: start it with "
        "`make ui`, or run the batch with `make run`."
    ]
    assert not app.success
    assert app.session_state["upload_runs"] == []


def test_the_size_limit_comes_from_ops_toml_and_a_typo_is_named(oms_env, monkeypatch, tmp_path):
    reference = tmp_path / "reference"
    shutil.copytree(oms_env.reference_dir, reference)
    monkeypatch.setenv("OMS_REFERENCE_DIR", str(reference))
    get_settings.cache_clear()

    (reference / "ops.toml").write_text("[upload]\nmax_megabytes = 5\n")
    app = _upload_page()
    assert any("up to 5 MB each" in c for c in _texts(app, "caption"))

    (reference / "ops.toml").write_text("[upload]\nmax_mb = 5\n")
    app = _upload_page()
    assert len(app.error) == 1
    assert "unknown setting(s) upload.max_mb" in shown(app.error[0].value)
    assert str(reference / "ops.toml") in shown(app.error[0].value)


@pytest.fixture(autouse=True)
def _no_dagster_by_default(monkeypatch):
    """No test here may reach a Dagster webserver someone runs on the machine."""
    monkeypatch.setenv("OMS_DAGSTER_URL", f"http://127.0.0.1:{free_port()}")
