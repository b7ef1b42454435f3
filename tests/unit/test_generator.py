"""The demo/benchmark generator writes real channel layouts, consistent money and known defects."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from pipelines.lib.generator import MANIFEST_NAME, generate
from pipelines.lib.intake import inbox_files, read_file

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "data" / "reference"
CENT = Decimal("0.01")

# What a later row of a Shopify order may carry (from the real exports).
SHOPIFY_LATER_ROW_FIELDS = {"Name", "Email", "Created at", "Vendor", "Lineitem discount"}


def D(value) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal("0")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("generated")
    summary = generate(out, orders=300, seed=11, days=3, defect_rate=0.05, reference_dir=REFERENCE)
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    return summary, out, manifest


@pytest.fixture(scope="module")
def split_run(tmp_path_factory):
    """More orders, in small files (every batch of every channel in several parts)."""
    from pipelines.lib.generator import layout

    out = tmp_path_factory.mktemp("generated_split")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(layout, "MAX_LINES_PER_FILE", 300)
        generate(out, orders=3000, seed=5, days=2, defect_rate=0.04, reference_dir=REFERENCE)
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    return out, manifest


def as_intake_reads(out: Path, manifest: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The orders and lines intake ends with: files read oldest first (as it reads an inbox),
    a later copy of an order replacing the earlier one."""
    listed = {f["name"] for f in manifest["files"]}
    orders, lines = [], []
    for seq, path in enumerate(p for p in inbox_files(out) if p.name in listed):
        parsed = read_file(path)
        orders.append(parsed.orders.with_columns(_seq=pl.lit(seq)))
        lines.append(parsed.lines.with_columns(_seq=pl.lit(seq)))
    last = pl.concat(orders).sort("_seq").group_by("order_key", maintain_order=True).last()
    return last, pl.concat(lines).join(last.select("order_key", "_seq"), on=["order_key", "_seq"])


def files_of(manifest: dict, *formats: str, repeats: bool = True) -> list[dict]:
    """Manifest entries of ``formats``; ``repeats=False`` leaves out files that only repeat
    orders of an earlier file (the ship-to of Amazon All Orders batches)."""
    return [
        f
        for f in manifest["files"]
        if f["format"] in formats and (repeats or not f["repeats_orders_of"])
    ]


def read_text(out: Path, entry: dict) -> str:
    return (out / entry["name"]).read_bytes().decode(entry["encoding"])


def shopify_orders(out: Path, manifest: dict) -> list[tuple[str, list[dict]]]:
    """(file name, rows of one order) in file order."""
    result = []
    for entry in files_of(manifest, "shopify_csv"):
        rows = list(csv.DictReader(io.StringIO(read_text(out, entry), newline="")))
        grouped: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            grouped[row["Name"]].append(row)
        result.extend((entry["name"], group) for group in grouped.values())
    return result


def woo_orders(out: Path, manifest: dict) -> list[tuple[str, dict]]:
    result = []
    for entry in files_of(manifest, "woocommerce_json", "woocommerce_jsonl"):
        text = read_text(out, entry)
        if entry["format"] == "woocommerce_json":
            objects = json.loads(text)
        else:
            objects = [json.loads(line) for line in text.splitlines() if line]
        result.extend((entry["name"], o) for o in objects)
    return result


def amazon_rows(
    out: Path, manifest: dict, fmt: str, repeats: bool = True
) -> list[tuple[str, dict]]:
    result = []
    for entry in files_of(manifest, fmt, repeats=repeats):
        reader = csv.DictReader(
            io.StringIO(read_text(out, entry), newline=""), delimiter="\t", quoting=csv.QUOTE_NONE
        )
        result.extend((entry["name"], row) for row in reader)
    return result


def direct_orders(out: Path, manifest: dict) -> list[tuple[str, dict, list[dict]]]:
    result = []
    for entry in files_of(manifest, "direct_csv"):
        grouped: dict[str, list[dict]] = defaultdict(list)
        for row in csv.DictReader(io.StringIO(read_text(out, entry), newline="")):
            grouped[row["order_id"]].append(row)
        result.extend((entry["name"], rows[0], rows) for rows in grouped.values())
    for entry in files_of(manifest, "direct_json"):
        for order in json.loads(read_text(out, entry))["orders"]:
            result.append((entry["name"], order, order["lines"]))
    return result


def canonical(out: Path, manifest: dict) -> dict[str, list[dict]]:
    """order_key -> one summary per appearance: file, email, postal, skus, qty, status, time.

    Files that repeat orders of an earlier file (``repeats_orders_of``) are not appearances.
    """
    seen: dict[str, list[dict]] = defaultdict(list)
    for name, rows in shopify_orders(out, manifest):
        first = rows[0]
        seen[f"shopify:{first['Id']}"].append(
            {
                "file": name,
                "email": first["Email"],
                "postal": first["Shipping Zip"].lstrip("'"),
                "skus": [r["Lineitem sku"] for r in rows],
                "qty": [int(r["Lineitem quantity"]) for r in rows],
                "status": first["Financial Status"],
                "at": first["Created at"],
                "raw": rows,
            }
        )
    for name, o in woo_orders(out, manifest):
        seen[f"woocommerce:{o['id']}"].append(
            {
                "file": name,
                "email": o["billing"]["email"],
                "postal": o["shipping"]["postcode"],
                "skus": [li["sku"] for li in o["line_items"]],
                "qty": [li["quantity"] for li in o["line_items"]],
                "status": o["status"],
                "at": o["date_created_gmt"],
                "raw": o,
            }
        )
    for fmt, id_col, qty_col in (
        ("amazon_all_orders_tsv", "amazon-order-id", "quantity"),
        ("amazon_new_orders_tsv", "order-id", "quantity-purchased"),
    ):
        grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for name, row in amazon_rows(out, manifest, fmt, repeats=False):
            grouped[(name, row[id_col])].append(row)
        for (name, oid), rows in grouped.items():
            seen[f"amazon:{oid}"].append(
                {
                    "file": name,
                    "email": rows[0].get("buyer-email"),
                    "postal": rows[0]["ship-postal-code"].split("-")[0],
                    "skus": [r["sku"] for r in rows],
                    "qty": [int(r[qty_col]) for r in rows],
                    "status": rows[0].get("order-status", "Unshipped"),
                    "at": rows[0]["purchase-date"],
                    "raw": rows,
                }
            )
    for name, order, lines in direct_orders(out, manifest):
        seen[f"{order['channel']}:{order['order_id']}"].append(
            {
                "file": name,
                "email": order["email"],
                "postal": order["ship_postal_code"],
                "skus": [li["sku"] for li in lines],
                "qty": [int(li["quantity"]) for li in lines],
                "status": order["payment_status"],
                "at": order["ordered_at"],
                "raw": order,
            }
        )
    return seen


# --- determinism ------------------------------------------------------------------------------


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, orders=200, seed=3, reference_dir=REFERENCE)
    generate(b, orders=200, seed=3, reference_dir=REFERENCE)
    generate(c, orders=200, seed=4, reference_dir=REFERENCE)
    first, second, other = _contents(a), _contents(b), _contents(c)
    assert first == second
    assert len(first) > 10
    inventory = {re.sub(r"_\d{8}\.csv$", "", n) for n in first if n.startswith("inventory_")}
    assert inventory == {f"inventory_{kind}" for kind in INVENTORY_FILES}
    shared = set(first) & set(other)
    assert not any(first[name] == other[name] for name in shared - {MANIFEST_NAME})


def test_lines_mode_generates_exactly_that_many_lines(tmp_path):
    summary = generate(tmp_path, lines=777, seed=5, days=2, reference_dir=REFERENCE)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert summary.lines == manifest["totals"]["lines"] == 777
    copies = sum(f["lines"] for f in manifest["files"])
    assert copies >= 777  # re-exported orders appear twice


def test_exactly_one_of_orders_or_lines(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, orders=10, lines=10, reference_dir=REFERENCE)
    with pytest.raises(ValueError):
        generate(tmp_path, reference_dir=REFERENCE)


# --- layouts ----------------------------------------------------------------------------------


def test_large_batches_are_split_without_splitting_an_order(tmp_path, monkeypatch):
    from pipelines.lib.generator import layout

    monkeypatch.setattr(layout, "MAX_LINES_PER_FILE", 40)
    generate(tmp_path, orders=300, seed=2, days=1, reference_dir=REFERENCE)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text(encoding="utf-8"))
    parts = [f for f in manifest["files"] if re.search(r"_p\d+\.", f["name"])]
    assert parts, "a 300-order day does not fit in 40-line files"
    assert all(f["lines"] < 40 + 6 for f in manifest["files"])  # at most one order over
    twice = {k for k, v in canonical(tmp_path, manifest).items() if len(v) > 1}
    assert twice == {d["order_key"] for d in manifest["defects"]["re_export"]}
    assert sum(f["lines"] for f in manifest["files"]) >= manifest["totals"]["lines"]


def test_files_and_manifest(run):
    summary, out, manifest = run
    on_disk = {p.name for p in out.iterdir()}
    assert set(summary.files) == on_disk
    listed = {f["name"] for f in manifest["files"]} | {
        *(manifest[f"inventory_{kind}"]["name"] for kind in INVENTORY_FILES),
        MANIFEST_NAME,
    }
    assert listed == on_disk
    assert [n for n in on_disk if n.startswith("_")] == [MANIFEST_NAME]
    formats = Counter(f["format"] for f in manifest["files"])
    for fmt in (
        "shopify_csv",
        "woocommerce_json",
        "woocommerce_jsonl",
        "amazon_all_orders_tsv",
        "amazon_new_orders_tsv",
        "direct_csv",
        "direct_json",
    ):
        assert formats[fmt] >= 1, fmt
    assert manifest["totals"]["orders"] == summary.orders == 300


def test_shopify_header_is_the_real_export_header(run, samples_dir):
    _, out, manifest = run
    with open(samples_dir / "shopify_1.csv", newline="", encoding="utf-8") as f:
        real = next(csv.reader(f))
    assert len(real) == 79
    for entry in files_of(manifest, "shopify_csv"):
        raw = (out / entry["name"]).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
        assert next(csv.reader(io.StringIO(raw.decode("utf-8")))) == real


def test_amazon_headers_are_the_documented_layouts(run, samples_dir):
    _, out, manifest = run
    doc = (samples_dir.parents[1] / "docs" / "channel-formats.md").read_text(encoding="utf-8")
    block = re.search(r"\*\*All Orders report\*\*.*?```\n(.*?)\n```", doc, flags=re.S)
    all_orders = block.group(1).split()
    new_orders = (samples_dir / "amazon_1.txt").read_text().splitlines()[0].split("\t")
    assert len(new_orders) == 29
    for fmt, expected in (
        ("amazon_all_orders_tsv", all_orders),
        ("amazon_new_orders_tsv", new_orders),
    ):
        for entry in files_of(manifest, fmt):
            assert read_text(out, entry).split("\n", 1)[0].split("\t") == expected


def test_one_amazon_file_is_cp1252_with_a_non_ascii_character(run):
    _, out, manifest = run
    (entry,) = [f for f in manifest["files"] if f["encoding"] == "cp1252"]
    raw = (out / entry["name"]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert not raw.decode("cp1252").isascii()


def test_direct_header_is_the_template(run):
    _, out, manifest = run
    template = (REPO / "data" / "templates" / "direct_orders.csv").read_text().splitlines()[0]
    for entry in files_of(manifest, "direct_csv"):
        assert read_text(out, entry).splitlines()[0] == template


def test_woocommerce_objects_have_the_real_response_shape(run, samples_dir):
    _, out, manifest = run
    real = json.loads((samples_dir / "woocommerce_2.json").read_text())
    orders = woo_orders(out, manifest)
    assert orders
    for _, o in orders:
        assert list(o) == list(real)
        assert all(list(li) == list(real["line_items"][0]) for li in o["line_items"])
        assert isinstance(o["number"], str) and isinstance(o["total"], str)
        assert all(isinstance(li["price"], int | float) for li in o["line_items"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", o["date_created_gmt"])
        assert o["status"] in {"processing", "on-hold", "pending", "completed", "cancelled"}
        assert all(
            sl["method_id"] in {"flat_rate", "free_shipping", "local_pickup"}
            for sl in o["shipping_lines"]
        )
    names = [li["name"] for _, o in orders for li in o["line_items"]]
    assert any("&ndash;" in n for n in names)


def test_shopify_order_level_fields_are_only_on_first_rows(run):
    _, out, manifest = run
    orders = shopify_orders(out, manifest)
    assert any(len(rows) > 1 for _, rows in orders)
    by_file: dict[str, list[int]] = defaultdict(list)
    for name, rows in orders:
        first = rows[0]
        assert first["Id"].isdigit() and first["Financial Status"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}", first["Created at"])
        zip_code = first["Shipping Zip"]
        assert not zip_code.isdigit(), "numeric zips carry a leading apostrophe"
        for later in rows[1:]:
            filled = {k for k, v in later.items() if v}
            assert filled <= SHOPIFY_LATER_ROW_FIELDS | {
                k for k in later if k.startswith("Lineitem ")
            }
            assert later["Created at"] == first["Created at"]
        by_file[name].append(int(first["Name"].lstrip("#")))
    for numbers in by_file.values():
        assert numbers == sorted(numbers, reverse=True)


# --- money ------------------------------------------------------------------------------------


def test_shopify_money_adds_up(run):
    _, out, manifest = run
    for _, rows in shopify_orders(out, manifest):
        first = rows[0]
        lines = sum(
            int(r["Lineitem quantity"]) * D(r["Lineitem price"]) - D(r["Lineitem discount"])
            for r in rows
        )
        assert D(first["Subtotal"]) == lines
        assert D(first["Discount Amount"]) == sum(D(r["Lineitem discount"]) for r in rows)
        assert D(first["Total"]) == D(first["Subtotal"]) + D(first["Shipping"]) + D(first["Taxes"])


def test_woocommerce_money_adds_up(run):
    _, out, manifest = run
    for _, o in woo_orders(out, manifest):
        items = o["line_items"]
        assert D(o["total"]) == sum(D(li["total"]) for li in items) + D(o["shipping_total"]) + D(
            o["total_tax"]
        )
        assert D(o["discount_total"]) == sum(D(li["subtotal"]) - D(li["total"]) for li in items)
        assert D(o["cart_tax"]) == sum(D(li["total_tax"]) for li in items)
        for li in items:
            assert D(li["price"]) * li["quantity"] == pytest.approx(D(li["total"]), abs=CENT)


def test_amazon_item_price_is_the_total_for_the_quantity(run):
    _, out, manifest = run
    with open(REFERENCE / "products.csv", newline="", encoding="utf-8") as f:
        price = {p["sku"]: D(p["unit_price"]) for p in csv.DictReader(f)}
    checked = 0
    for fmt, qty_col in (
        ("amazon_all_orders_tsv", "quantity"),
        ("amazon_new_orders_tsv", "quantity-purchased"),
    ):
        for _, row in amazon_rows(out, manifest, fmt):
            if row["item-price"] and row["sku"] in price:
                assert D(row["item-price"]) == int(row[qty_col]) * price[row["sku"]]
                checked += 1
    assert checked > 50


def test_direct_money_adds_up(run):
    _, out, manifest = run
    orders = direct_orders(out, manifest)
    assert orders
    for _, order, lines in orders:
        subtotal = sum(
            int(li["quantity"]) * D(li["unit_price"]) - D(li["line_discount"]) for li in lines
        )
        assert D(order["order_total"]) == subtotal + D(order["shipping_amount"]) + D(
            order["tax_amount"]
        ) - D(order["discount_amount"])


def test_every_priced_order_adds_up_to_the_cent_as_intake_reads_it(split_run):
    out, manifest = split_run
    orders, lines = as_intake_reads(out, manifest)
    assert orders.height == manifest["totals"]["orders"]
    assert lines.height == manifest["totals"]["lines"]
    c = pl.col
    # Every line's total is its own quantity x price less its own discount ...
    not_amazon = lines.filter(~c("order_key").str.starts_with("amazon:"))
    assert not_amazon.filter(
        c("line_total") != c("quantity") * c("unit_price") - c("line_discount")
    ).is_empty()
    sums = lines.group_by("order_key").agg(
        lines_total=c("line_total").sum(), priced=c("line_total").is_not_null().all()
    )
    money = orders.join(sums, on="order_key", how="left")
    # ... and the order total is the lines + shipping + tax (unless included) - discount.
    priced = money.filter(c("order_total").is_not_null())
    tax = pl.when(c("prices_include_tax").fill_null(False)).then(0).otherwise(c("tax_amount"))
    shipping = c("shipping_amount").fill_null(0)
    discount = c("discount_amount").fill_null(0)
    expected = c("lines_total") + shipping + tax.fill_null(0) - discount
    assert priced.filter(c("order_total") != expected).is_empty()
    subtotal_off = c("subtotal").is_not_null() & (c("subtotal") != c("lines_total"))
    assert priced.filter(subtotal_off).is_empty()
    # Only Amazon Pending orders come without prices.
    unpriced = money.filter(c("order_total").is_null())
    assert set(unpriced["channel"]) <= {"amazon"}
    assert set(unpriced["payment_status"]) <= {"pending"}
    assert set(priced["channel"]) == {"shopify", "woocommerce", "amazon", "phone", "email"}


def test_direct_line_discounts_belong_to_their_own_line(split_run):
    """A line discount is written on the line that has it, not on every line of the order."""
    out, manifest = split_run
    discounted = 0
    for _, order, lines in direct_orders(out, manifest):
        total = sum(
            int(li["quantity"]) * D(li["unit_price"]) - D(li["line_discount"]) for li in lines
        )
        assert D(order["order_total"]) == total + D(order["shipping_amount"]) + D(
            order["tax_amount"]
        ) - D(order["discount_amount"])
        for li in lines:
            assert D(li["line_discount"]) <= int(li["quantity"]) * D(li["unit_price"])
        offs = [D(li["line_discount"]) for li in lines]
        if len(lines) > 1 and any(offs):
            discounted += 1
            assert not all(offs), order["order_id"]  # ~4% of lines; never all of a big order
    assert discounted >= 3


# --- amazon ship-to ---------------------------------------------------------------------------


def _amazon_ship_to_holds(out: Path, manifest: dict) -> None:
    orders, lines = as_intake_reads(out, manifest)
    ships = lines.group_by("order_key").agg(pl.col("requires_shipping").any())
    amazon = orders.filter(pl.col("channel") == "amazon").join(ships, on="order_key")
    shipping = amazon.filter(pl.col("requires_shipping"))
    assert shipping.height == amazon.height > 0  # every Amazon order is merchant-fulfilled
    missing = shipping.filter(
        pl.any_horizontal(
            pl.col(c).is_null() for c in ("ship_name", "ship_address1", "ship_city", "ship_country")
        )
    )
    # A seller gets no address for a Pending (unpaid) order, nor needs one for a cancelled one.
    unpaid = {d["order_key"] for d in manifest["defects"]["unpaid"]}
    allowed = unpaid | set(manifest["cancelled"])
    assert set(missing["order_key"]) <= allowed
    ready = shipping.filter(~pl.col("order_key").is_in(list(allowed)))
    assert ready.height > 0 and ready["ship_name"].null_count() == 0

    files = {f["name"]: f for f in manifest["files"]}
    repeats = [f for f in manifest["files"] if f["repeats_orders_of"]]
    assert repeats, "All Orders batches have their ship-to file"
    for f in repeats:
        assert f["format"] == "amazon_new_orders_tsv"
        rows = amazon_rows(out, {"files": [f]}, f["format"])
        assert all(r["recipient-name"] and r["ship-address-1"] for _, r in rows)
        for name in f["repeats_orders_of"]:
            earlier = files[name]
            assert earlier["format"] == "amazon_all_orders_tsv"
            # After it in name order and in write order (mtime), the two orders intake uses.
            assert name < f["name"]
            assert (out / name).stat().st_mtime_ns <= (out / f["name"]).stat().st_mtime_ns
            all_orders = amazon_rows(out, {"files": [earlier]}, earlier["format"])
            ids = {r["amazon-order-id"] for _, r in all_orders}
            assert all("ship-address-1" not in r for _, r in all_orders)  # no street there
            assert {r["order-id"] for _, r in rows} <= ids
    # Orders are counted once, however many files they appear in.
    distinct = {k for k in orders["order_key"]}
    assert len(distinct) == manifest["totals"]["orders"]
    assert sum(f["orders"] for f in manifest["files"] if not f["repeats_orders_of"]) == (
        manifest["totals"]["orders"] + len(manifest["defects"]["re_export"])
    )


def test_amazon_orders_that_ship_end_with_a_ship_to_address(run):
    _, out, manifest = run
    _amazon_ship_to_holds(out, manifest)


def test_amazon_ship_to_files_follow_their_all_orders_parts(split_run):
    out, manifest = split_run
    assert any(re.search(r"amazon_all_orders_.*_p2\.txt$", f["name"]) for f in manifest["files"])
    _amazon_ship_to_holds(out, manifest)


# --- defects ----------------------------------------------------------------------------------


def test_defect_counts_follow_the_rate_and_are_listed(run):
    summary, _, manifest = run
    defects = manifest["defects"]
    total = sum(len(v) for v in defects.values())
    assert total == round(0.05 * 300) == sum(summary.defects.values())
    assert all(len(v) >= 1 for v in defects.values()), defects
    keys = [d["order_key"] for v in defects.values() for d in v]
    assert len(keys) == len(set(keys)), "one defect per order"


def test_injected_defects_are_visible_in_the_files(run):
    _, out, manifest = run
    seen = canonical(out, manifest)
    defects = manifest["defects"]
    with open(REFERENCE / "products.csv", newline="", encoding="utf-8") as f:
        known = {p["sku"] for p in csv.DictReader(f)}
    for key in (d["order_key"] for v in defects.values() for d in v):
        assert key in seen, key
    for d in defects["bad_postal_code"]:
        assert re.fullmatch(r"\d{4}", seen[d["order_key"]][0]["postal"])
    for d in defects["unknown_sku"]:
        assert d["sku"] in seen[d["order_key"]][0]["skus"] and d["sku"] not in known
    for d in defects["zero_quantity"]:
        assert 0 in seen[d["order_key"]][0]["qty"]
    for d in defects["unpaid"]:
        assert seen[d["order_key"]][0]["status"] in {"pending", "on-hold", "Pending"}
    for d in defects["duplicate_order"]:
        dup, orig = seen[d["order_key"]][0], seen[d["duplicate_of"]][0]
        assert d["order_key"] != d["duplicate_of"]
        assert (dup["email"], dup["postal"], dup["skus"], dup["qty"]) == (
            orig["email"],
            orig["postal"],
            orig["skus"],
            orig["qty"],
        )
    for d in defects["re_export"]:
        copies = seen[d["order_key"]]
        assert len(copies) == 2 and copies[0]["file"] != copies[1]["file"]
        assert copies[0]["raw"] == copies[1]["raw"]
    once = [k for k, v in seen.items() if len(v) > 1]
    assert sorted(once) == sorted(d["order_key"] for d in defects["re_export"])


# --- realism ----------------------------------------------------------------------------------


def _service_level(appearance: dict) -> str | None:
    raw = appearance["raw"]
    if isinstance(raw, dict):  # direct order or WooCommerce object
        if "service_level" in raw:
            return raw["service_level"]
        titles = " ".join(sl["method_title"] for sl in raw["shipping_lines"])
    elif "Shipping Method" in raw[0]:  # Shopify rows
        titles = raw[0]["Shipping Method"]
    else:  # Amazon rows
        titles = raw[0]["ship-service-level"]
    if not titles:
        return None
    for word, level in (
        ("Overnight", "overnight"),
        ("NextDay", "overnight"),
        ("Express", "expedited"),
        ("Expedited", "expedited"),
        ("SecondDay", "expedited"),
    ):
        if word in titles:
            return level
    return "standard"


def test_orders_look_like_real_demand(run):
    _, out, manifest = run
    orders = [v[0] for v in canonical(out, manifest).values()]
    sizes = [len(o["skus"]) for o in orders]
    assert 2.1 <= sum(sizes) / len(sizes) <= 2.7 and max(sizes) <= 6
    quantities = [q for o in orders for q in o["qty"]]
    assert sum(1 <= q <= 3 for q in quantities) / len(quantities) >= 0.85
    skus = Counter(s for o in orders for s in o["skus"])
    top = sum(c for _, c in skus.most_common(len(skus) // 10))
    assert top / sum(skus.values()) > 0.3, "popular SKUs dominate"
    levels = Counter(_service_level(o) for o in orders)
    known = sum(n for level, n in levels.items() if level)
    assert 0.7 <= levels["standard"] / known <= 0.9
    assert levels["expedited"] > levels["overnight"] > 0
    emails = [o["email"] for o in orders if o["email"] and "marketplace" not in o["email"]]
    assert all(re.fullmatch(r"[a-z0-9._]+@(mail\.)?example\.(com|net|org)", e) for e in emails)


def test_shopify_exports_carry_notes_with_newlines_and_cancellations(run):
    _, out, manifest = run
    firsts = [rows[0] for _, rows in shopify_orders(out, manifest)]
    assert any("\n" in r["Notes"] for r in firsts)
    cancelled = [r for r in firsts if r["Cancelled at"]]
    assert cancelled and all(r["Financial Status"] in {"refunded", "voided"} for r in cancelled)
    assert {f"shopify:{r['Id']}" for r in cancelled} <= set(manifest["cancelled"])


def test_international_addresses_have_real_looking_postal_codes(tmp_path):
    generate(tmp_path, orders=1500, seed=21, days=1, reference_dir=REFERENCE)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text(encoding="utf-8"))
    patterns = {
        "CA": r"[A-Z]\d[A-Z] \d[A-Z]\d",
        "GB": r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}",
        "DE": r"\d{5}",
        "FR": r"\d{5}",
        "AU": r"\d{4}",
        "JP": r"\d{3}-\d{4}",
    }
    countries = Counter()
    for _, o in woo_orders(tmp_path, manifest):
        country = o["shipping"]["country"]
        countries[country] += 1
        if country in patterns:
            assert re.fullmatch(patterns[country], o["shipping"]["postcode"]), o["shipping"]
            assert o["currency"] != "USD"
    abroad = sum(n for c, n in countries.items() if c != "US")
    assert 0.02 <= abroad / sum(countries.values()) <= 0.10


def test_inventory_snapshot_covers_the_reference_and_part_of_demand(run):
    _, out, manifest = run
    snap = manifest["inventory_snapshot"]
    with open(out / snap["name"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(REFERENCE / "product_locations.csv", newline="", encoding="utf-8") as f:
        pairs = {(r["warehouse_id"], r["sku"]) for r in csv.DictReader(f)}
    assert {(r["warehouse_id"], r["sku"]) for r in rows} == pairs
    assert len(rows) == len(pairs)
    assert all(int(r["on_hand"]) >= 0 for r in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["counted_at"]) for r in rows)

    seen = canonical(out, manifest)
    demand: Counter = Counter()
    for appearances in seen.values():
        o = appearances[0]
        for sku, q in zip(o["skus"], o["qty"], strict=True):
            demand[sku] += q
    with open(REFERENCE / "stock_policy.csv", newline="", encoding="utf-8") as f:
        safety = {(r["warehouse_id"], r["sku"]): int(r["safety_stock"]) for r in csv.DictReader(f)}
    # What allocation may promise is on hand less the safety stock each pair holds back.
    stock: Counter = Counter()
    for r in rows:
        stock[r["sku"]] += int(r["on_hand"]) - safety[(r["warehouse_id"], r["sku"])] * (
            r["sku"] in demand
        )
    assert all(int(r["on_hand"]) >= safety[(r["warehouse_id"], r["sku"])] for r in rows), (
        "every pair holds at least its safety stock"
    )
    ordered = [s for s in demand if s in stock]
    coverage = sum(stock[s] for s in ordered) / sum(demand[s] for s in ordered)
    assert 0.6 <= coverage <= 0.8
    assert any(stock[s] == 0 for s in ordered), "some ordered SKUs are out of stock"
    assert any(stock[s] >= demand[s] for s in ordered), "some are fully covered"


# --- inventory movements ----------------------------------------------------------------------

#: manifest key inventory_{kind} -> the file's exact header
INVENTORY_FILES = {
    "snapshot": ["warehouse_id", "sku", "on_hand", "counted_at", "kind"],
    "receipts": ["warehouse_id", "sku", "quantity", "received_at", "reference", "note"],
    "adjustments": ["warehouse_id", "sku", "quantity", "adjusted_at", "reference", "note"],
    "count": ["warehouse_id", "sku", "on_hand", "counted_at", "kind", "reference", "note"],
}
#: the timestamp column of each file
INVENTORY_AT = {
    "snapshot": "counted_at",
    "receipts": "received_at",
    "adjustments": "adjusted_at",
    "count": "counted_at",
}


def _utc(stamp: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp), stamp
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def inventory_rows(out: Path, manifest: dict, kind: str) -> list[dict]:
    """Rows of one inventory file, its header and encoding checked; numbers as int, times as
    datetimes (``at``)."""
    raw = (out / manifest[f"inventory_{kind}"]["name"]).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw and raw.endswith(b"\n")
    text = raw.decode("utf-8")
    assert next(csv.reader(io.StringIO(text))) == INVENTORY_FILES[kind]
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for r in rows:
        r["at"] = _utc(r[INVENTORY_AT[kind]])
        for col in ("on_hand", "quantity"):
            if col in r:
                assert re.fullmatch(r"-?\d+", r[col]), r
                r[col] = int(r[col])
    return rows


def _book(
    snapshot: list[dict], *movements: list[dict]
) -> tuple[dict[tuple[str, str], int], list[tuple[datetime, tuple[str, str], int]]]:
    """The snapshot's on_hand per pair and every movement (at, pair, quantity) in time order."""
    opening = {(r["warehouse_id"], r["sku"]): r["on_hand"] for r in snapshot}
    moves = sorted(
        (r["at"], (r["warehouse_id"], r["sku"]), r["quantity"]) for rows in movements for r in rows
    )
    return opening, moves


def _book_as_of(opening: dict, moves: list, pair: tuple[str, str], at: datetime) -> int:
    return opening[pair] + sum(q for t, p, q in moves if p == pair and t <= at)


def _known_pairs() -> set[tuple[str, str]]:
    with open(REFERENCE / "product_locations.csv", newline="", encoding="utf-8") as f:
        return {(r["warehouse_id"], r["sku"]) for r in csv.DictReader(f)}


def _inventory_holds(out: Path, manifest: dict) -> None:
    kinds = {kind: inventory_rows(out, manifest, kind) for kind in INVENTORY_FILES}
    snapshot, receipts = kinds["snapshot"], kinds["receipts"]
    adjustments, counts = kinds["adjustments"], kinds["count"]
    window_end = _utc(manifest["window"]["end"])
    (opened,) = {r["at"] for r in snapshot}
    pairs = _known_pairs()

    # File names carry the date of their last event; the manifest describes each file.
    for kind, rows in kinds.items():
        entry = manifest[f"inventory_{kind}"]
        assert entry["name"] == f"inventory_{kind}_{max(r['at'] for r in rows):%Y%m%d}.csv"
        assert entry["rows"] == len(rows) > 0, kind
        assert {(r["warehouse_id"], r["sku"]) for r in rows} <= pairs, kind
        assert all(opened <= r["at"] <= window_end for r in rows), kind
    assert {r["kind"] for r in snapshot} == {"snapshot"}
    assert {r["kind"] for r in counts} == {"count"}

    # Receipts: positive quantities after the snapshot, on purchase orders of several lines.
    r_entry = manifest["inventory_receipts"]
    assert all(r["quantity"] > 0 and r["at"] > opened for r in receipts)
    assert r_entry["units"] == sum(r["quantity"] for r in receipts)
    assert all(re.fullmatch(r"PO-\d{6}", r["reference"]) for r in receipts)
    per_po = Counter(r["reference"] for r in receipts)
    assert r_entry["purchase_orders"] == len(per_po) and max(per_po.values()) > 1
    for po in per_po:  # one delivery: one warehouse, one time
        assert len({(r["warehouse_id"], r["at"]) for r in receipts if r["reference"] == po}) == 1
    assert len({r["warehouse_id"] for r in receipts}) >= 2
    with open(REFERENCE / "stock_policy.csv", newline="", encoding="utf-8") as f:
        safety = {(r["warehouse_id"], r["sku"]): int(r["safety_stock"]) for r in csv.DictReader(f)}
    promisable = Counter()  # on hand beyond the safety stock
    for r in snapshot:
        promisable[r["sku"]] += r["on_hand"] - safety[(r["warehouse_id"], r["sku"])]
    assert any(promisable[r["sku"]] == 0 for r in receipts), "out-of-stock SKUs are topped up"
    shortfall = r_entry["shortfall_receipt_units"] / r_entry["shortfall_units"]
    assert 0.08 <= shortfall <= 0.3, shortfall
    assert 0 < r_entry["units"] - r_entry["shortfall_receipt_units"] < r_entry["units"] / 2

    # Adjustments: non-zero, before the counts, mostly damage, never below the book stock.
    a_entry = manifest["inventory_adjustments"]
    first_count = min(r["at"] for r in counts)
    assert all(r["quantity"] != 0 and opened < r["at"] < first_count for r in adjustments)
    assert all(r["note"] and re.fullmatch(r"ADJ-\d{6}", r["reference"]) for r in adjustments)
    assert a_entry["units"] == sum(r["quantity"] for r in adjustments)
    assert a_entry["units_out"] == -sum(r["quantity"] for r in adjustments if r["quantity"] < 0)
    assert sum(r["quantity"] < 0 for r in adjustments) > len(adjustments) / 2
    assert 1 <= len(adjustments) <= max(1, 0.02 * len(snapshot))
    opening, moves = _book(snapshot, receipts, adjustments)
    for t, pair, _ in moves:
        assert _book_as_of(opening, moves, pair, t) >= 0, (pair, t)

    # Cycle counts: after the receipts, never negative, off the book by the expected amount.
    c_entry = manifest["inventory_count"]
    assert first_count > max(r["at"] for r in receipts)
    assert 0.03 <= len(counts) / len(snapshot) <= 0.07
    assert len({(r["warehouse_id"], r["sku"]) for r in counts}) == len(counts)
    differences = []
    for r in counts:
        assert r["on_hand"] >= 0
        book = _book_as_of(opening, moves, (r["warehouse_id"], r["sku"]), r["at"])
        differences.append(r["on_hand"] - book)
        assert -3 <= r["on_hand"] - book <= 2
        assert bool(r["note"]) == (r["on_hand"] != book)
    assert sum(differences) == c_entry["expected_difference"]
    assert c_entry["units"] == sum(r["on_hand"] for r in counts)
    assert c_entry["book_units"] == c_entry["units"] - c_entry["expected_difference"]
    assert c_entry["rows_with_difference"] == sum(d != 0 for d in differences)
    assert 0.5 <= differences.count(0) / len(differences) < 1
    assert any(d < 0 for d in differences)


def test_inventory_receipts_adjustments_and_counts_reconcile(run):
    _, out, manifest = run
    _inventory_holds(out, manifest)


def test_inventory_movements_reconcile_at_a_larger_size(split_run):
    out, manifest = split_run
    _inventory_holds(out, manifest)
    counts = inventory_rows(out, manifest, "count")
    assert manifest["inventory_count"]["expected_difference"] < 0, "shrink outweighs finds"
    assert sum(r["on_hand"] > 0 for r in counts) > len(counts) / 2


def test_hourly_exports_hold_each_order_in_the_file_of_its_hour(tmp_path):
    out = tmp_path / "hourly"
    generate(
        out, orders=600, seed=5, days=1, defect_rate=0.0, reference_dir=REFERENCE, batch_hours=1
    )
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["batch_hours"] == 1
    start = datetime.fromisoformat(manifest["window"]["start"])
    hours = set()
    for path in inbox_files(out):
        stamp = re.search(r"_(\d{8})_(\d{2})(?:_p\d+)?\.[a-z]+$", path.name)
        if stamp is None:  # stock files
            continue
        begins = datetime.strptime(stamp[1] + stamp[2], "%Y%m%d%H").replace(tzinfo=UTC)
        hours.add(begins)
        parsed = read_file(path)
        for order in parsed.orders.iter_rows(named=True):
            if order["channel_status"] in ("cancelled", "canceled", "Canceled"):
                continue
            # A new order lands in the export of the hour it was placed in (re-exports later).
            assert begins.hour == order["ordered_at"].hour or order["ordered_at"] < begins
    # Every hour of the day has its exports (600 orders over 24 hours).
    assert len(hours) == 24 and min(hours) == start
    with pytest.raises(ValueError, match="batch_hours must divide a day"):
        generate(tmp_path / "bad", orders=10, days=1, reference_dir=REFERENCE, batch_hours=5)
