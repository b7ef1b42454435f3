"""The Upload page in a real browser (Debian Chromium + Playwright) against a real Streamlit
server: pick a generated Shopify export, see its preview, accept it, find it in the inbox;
bad files are refused and nothing is written."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from pipelines.lib.generator import generate
from pipelines.project import REPO_ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real generated channel exports (20 orders over a day, every layout)."""
    out = tmp_path_factory.mktemp("exports")
    generate(out, orders=20, seed=31, days=1, reference_dir=REPO_ROOT / "data" / "reference")
    return out


@pytest.fixture(scope="module")
def shopify_export(exports: Path) -> Path:
    return max(exports.glob("shopify_*.csv"), key=lambda p: p.stat().st_size)


def _open_upload_page(page: Page, url: str) -> None:
    page.goto(url)  # the ops workspace opens on Upload
    expect(page.get_by_role("heading", name="Upload", exact=True)).to_be_visible()


def _metric(page: Page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def _inbox(dashboards) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in dashboards.settings.inbox.iterdir()}


def test_upload_preview_accept_lands_in_the_inbox(page: Page, dashboards, shopify_export) -> None:
    rows = list(csv.DictReader(shopify_export.open(encoding="utf-8", newline="")))
    orders, lines = len({r["Name"] for r in rows}), len(rows)
    total = sum(Decimal(r["Total"]) for r in rows if r["Total"])
    assert {r["Currency"] for r in rows if r["Currency"]} == {"USD"}
    before = _inbox(dashboards)

    _open_upload_page(page, dashboards.url)
    page.locator("input[type=file]").set_input_files(shopify_export)

    expect(_metric(page, "Orders")).to_have_text(str(orders))
    expect(_metric(page, "Lines")).to_have_text(str(lines))
    expect(_metric(page, "Order total")).to_have_text(f"USD {total:,.2f}")
    expect(page.get_by_text("shopify_csv, shopify")).to_be_visible()
    assert _inbox(dashboards) == before, "a preview writes nothing to the inbox"

    page.get_by_role("button", name="Accept the file").click()

    expect(
        page.get_by_text(f"Saved to the inbox: {shopify_export.name}. The next batch reads it.")
    ).to_be_visible()
    uploads = page.get_by_test_id("stTable")
    expect(uploads).to_contain_text(shopify_export.name)
    expect(uploads).to_contain_text("pending")
    assert _inbox(dashboards) == {**before, shopify_export.name: shopify_export.read_bytes()}


def test_several_files_at_once_and_a_path_in_the_name(page: Page, dashboards, exports) -> None:
    shopify = min(exports.glob("shopify_*.csv"), key=lambda p: p.stat().st_size)
    amazon = next(exports.glob("amazon_all_orders_*.txt"))
    amazon_orders = len({r["amazon-order-id"] for r in _tsv(amazon)})
    shopify_orders = len({r["Name"] for r in csv.DictReader(shopify.open(encoding="utf-8"))})
    before = _inbox(dashboards)

    _open_upload_page(page, dashboards.url)
    page.locator("input[type=file]").set_input_files(
        files=[
            {"name": shopify.name, "mimeType": "text/csv", "buffer": shopify.read_bytes()},
            {
                "name": "../../etc/passwd.txt",
                "mimeType": "text/plain",
                "buffer": amazon.read_bytes(),
            },
        ]
    )
    expect(page.get_by_text("passwd.txt — amazon_tsv, amazon")).to_be_visible()
    expect(page.get_by_text(f"{shopify.name} — shopify_csv, shopify")).to_be_visible()
    expect(
        page.get_by_text("Uploaded as '../../etc/passwd.txt'; saved under a safe name.")
    ).to_be_visible()
    expect(_metric(page, "Orders")).to_have_text([str(shopify_orders), str(amazon_orders)])
    assert _inbox(dashboards) == before

    page.get_by_role("button", name="Accept 2 files").click()

    expect(page.get_by_text(f"Saved to the inbox: {shopify.name}, passwd.txt.")).to_be_visible()
    after = _inbox(dashboards)
    assert after == {
        **before,
        shopify.name: shopify.read_bytes(),
        "passwd.txt": amazon.read_bytes(),
    }
    assert not (dashboards.settings.data_dir.parent / "etc").exists()


def _tsv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8", newline=""), delimiter="\t"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("orders.csv", b"", "empty file (0 bytes)"),
        ("orders.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(17), "a PNG image"),
    ],
    ids=["empty", "png"],
)
def test_a_bad_file_is_refused_and_nothing_is_written(
    page: Page, dashboards, name: str, content: bytes, message: str
) -> None:
    before = _inbox(dashboards)
    _open_upload_page(page, dashboards.url)
    page.locator("input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": content}]
    )
    refusal = page.get_by_test_id("stAlertContentError")
    expect(refusal).to_contain_text(f"{name} refused")
    expect(refusal).to_contain_text(message)
    expect(refusal).to_contain_text("Nothing was saved.")
    expect(page.get_by_role("button", name="Accept the file")).to_have_count(0)
    assert _inbox(dashboards) == before
