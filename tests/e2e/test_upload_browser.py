"""The Upload page in a real browser (Debian Chromium + Playwright) against a real Streamlit
server: pick a generated Shopify export, see its preview (with its order numbers), accept it,
find it in the inbox; bad files (an empty file, an image, a path in the name, one over the
size limit) are refused and nothing is written."""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from pipelines.lib.generator import generate
from pipelines.lib.uploads import ORDER_NUMBERS_SHOWN
from pipelines.project import REPO_ROOT
from tests.e2e.conftest import Dashboards, _serve

pytestmark = pytest.mark.e2e

REFERENCE = REPO_ROOT / "data" / "reference"


@pytest.fixture(scope="module")
def dashboards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboards]:
    """The ops workspace over an empty platform, as in conftest.py, but reading a copy of the
    reference folder: a test can lower the upload limit in its ops.toml (the page reads the
    file on every run) without the seconds a server of its own costs."""
    reference = tmp_path_factory.mktemp("reference")
    shutil.copytree(REFERENCE, reference, dirs_exist_ok=True)
    root = tmp_path_factory.mktemp("platform")
    with _serve(root, "ops_app.py", env={"OMS_REFERENCE_DIR": str(reference)}) as served:
        yield served


@pytest.fixture
def one_megabyte_limit(dashboards: Dashboards) -> Iterator[None]:
    """``[upload] max_megabytes = 1`` in the served ops.toml for one test, put back after."""
    ops = dashboards.settings.reference_dir / "ops.toml"
    committed = ops.read_text(encoding="utf-8")
    lowered, count = re.subn(r"(?m)^max_megabytes = \d+$", "max_megabytes = 1", committed)
    assert count == 1, f"no max_megabytes line to lower in {ops}"
    ops.write_text(lowered, encoding="utf-8")
    try:
        yield
    finally:
        ops.write_text(committed, encoding="utf-8")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real generated channel exports (20 orders over a day, every layout)."""
    out = tmp_path_factory.mktemp("exports")
    generate(out, orders=20, seed=31, days=1, reference_dir=REFERENCE)
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


def _platform_files(dashboards) -> set[Path]:
    """Every file under the platform's root (data/, the Dagster home, ...)."""
    root = dashboards.settings.data_dir.parent
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


def _order_numbers_caption(numbers: list[str]) -> str:
    """The preview's list of order numbers, as the page words it."""
    shown = ", ".join(numbers[:ORDER_NUMBERS_SHOWN])
    more = len(numbers) - ORDER_NUMBERS_SHOWN
    return f"Orders: {shown}" + (f", … and {more:,} more" if more > 0 else "")


def _first_seen(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def test_upload_preview_accept_lands_in_the_inbox(page: Page, dashboards, shopify_export) -> None:
    rows = list(csv.DictReader(shopify_export.open(encoding="utf-8", newline="")))
    numbers = _first_seen([r["Name"] for r in rows])
    orders, lines = len(numbers), len(rows)
    total = sum(Decimal(r["Total"]) for r in rows if r["Total"])
    assert {r["Currency"] for r in rows if r["Currency"]} == {"USD"}
    before = _inbox(dashboards)

    _open_upload_page(page, dashboards.url)
    page.locator("input[type=file]").set_input_files(shopify_export)

    expect(_metric(page, "Orders")).to_have_text(str(orders))
    expect(_metric(page, "Lines")).to_have_text(str(lines))
    expect(_metric(page, "Order total")).to_have_text(f"USD {total:,.2f}")
    expect(page.get_by_text("shopify_csv, shopify")).to_be_visible()
    # The numbers the Orders page finds them by, as Shopify shows them ("#1001").
    expect(page.get_by_text(_order_numbers_caption(numbers), exact=True)).to_be_visible()
    assert _inbox(dashboards) == before, "a preview writes nothing to the inbox"

    page.get_by_role("button", name="Accept the file").click()

    expect(
        page.get_by_text(f"Saved to the inbox: {shopify_export.name}. The next batch reads it.")
    ).to_be_visible()
    uploads = page.get_by_test_id("stTable")
    expect(uploads).to_contain_text(shopify_export.name)
    expect(uploads).to_contain_text("pending")
    assert _inbox(dashboards) == {**before, shopify_export.name: shopify_export.read_bytes()}


def test_several_files_at_once(page: Page, dashboards, exports) -> None:
    shopify = min(exports.glob("shopify_*.csv"), key=lambda p: p.stat().st_size)
    amazon = next(exports.glob("amazon_all_orders_*.txt"))
    amazon_numbers = _first_seen([r["amazon-order-id"] for r in _tsv(amazon)])
    shopify_orders = len({r["Name"] for r in csv.DictReader(shopify.open(encoding="utf-8"))})
    before = _inbox(dashboards)

    _open_upload_page(page, dashboards.url)
    page.locator("input[type=file]").set_input_files(files=[shopify, amazon])
    expect(page.get_by_text(f"{amazon.name} — amazon_tsv, amazon")).to_be_visible()
    expect(page.get_by_text(f"{shopify.name} — shopify_csv, shopify")).to_be_visible()
    expect(_metric(page, "Orders")).to_have_text([str(shopify_orders), str(len(amazon_numbers))])
    expect(page.get_by_text(_order_numbers_caption(amazon_numbers), exact=True)).to_be_visible()
    expect(page.get_by_text("saved under a safe name")).to_have_count(0)
    assert _inbox(dashboards) == before

    page.get_by_role("button", name="Accept 2 files").click()

    expect(page.get_by_text(f"Saved to the inbox: {shopify.name}, {amazon.name}.")).to_be_visible()
    assert _inbox(dashboards) == {
        **before,
        shopify.name: shopify.read_bytes(),
        amazon.name: amazon.read_bytes(),
    }


def _tsv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8", newline=""), delimiter="\t"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("orders.csv", b"", "empty file (0 bytes)"),
        ("orders.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(17), "a PNG image"),
        # Browsers send a file's base name only: this comes from a crafted request, and is
        # refused rather than saved under another name. The content is a good export.
        (
            "../../etc/passwd.txt",
            "amazon_all_orders_*.txt",
            "the name '../../etc/passwd.txt' carries a folder path; "
            "upload the file under its own name",
        ),
    ],
    ids=["empty", "png", "path traversal"],
)
def test_a_bad_file_is_refused_and_nothing_is_written(
    page: Page, dashboards, exports, name: str, content: bytes | str, message: str
) -> None:
    data = content if isinstance(content, bytes) else next(exports.glob(content)).read_bytes()
    before, files_before = _inbox(dashboards), _platform_files(dashboards)
    _open_upload_page(page, dashboards.url)
    page.locator("input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}]
    )
    refusal = page.get_by_test_id("stAlertContentError")
    expect(refusal).to_contain_text(f"{name} refused")
    expect(refusal).to_contain_text(message)
    expect(refusal).to_contain_text("Nothing was saved.")
    expect(page.get_by_role("button", name="Accept the file")).to_have_count(0)
    expect(page.get_by_test_id("stMetric")).to_have_count(0)
    assert _inbox(dashboards) == before
    assert _platform_files(dashboards) == files_before, "nothing written outside it either"
    assert not (dashboards.settings.data_dir.parent / "etc").exists()


def test_a_file_over_the_size_limit_is_refused_by_the_file_picker(
    page: Page, dashboards, exports, one_megabyte_limit
) -> None:
    # Streamlit's picker enforces max_upload_size in the browser: the file never reaches the
    # server, so the page shows no preview; Streamlit marks the file and says why on hover.
    export = next(exports.glob("direct_orders_*.csv")).read_bytes()
    data = export + b"\n" * (1024 * 1024 + 1 - len(export))  # one byte over 1 MB
    before = _inbox(dashboards)
    _open_upload_page(page, dashboards.url)
    expect(page.get_by_text("up to 1 MB each", exact=False)).to_be_visible()
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "big_orders.csv", "mimeType": "text/csv", "buffer": data}]
    )

    chip = page.get_by_test_id("stFileChip").filter(has_text="big_orders.csv")
    expect(chip).to_have_attribute("aria-invalid", "true")
    expect(chip.get_by_role("alert")).to_have_text("Error: File must be 1.0MB or smaller.")
    chip.hover()
    expect(page.get_by_role("tooltip")).to_have_text("File must be 1.0MB or smaller.")
    expect(page.get_by_test_id("stMetric")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    expect(page.get_by_role("button", name="Accept the file")).to_have_count(0)
    assert _inbox(dashboards) == before
