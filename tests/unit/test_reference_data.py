"""The committed reference data is consistent, realistic where it claims to be, and documented."""

from __future__ import annotations

import csv
import itertools
import re
import tomllib
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import zipcodes

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference"
FILES = (
    "warehouses.csv",
    "products.csv",
    "product_locations.csv",
    "stock_policy.csv",
    "boxes.csv",
    "carriers.csv",
    "zones.csv",
    "rate_cards.csv",
    "transit_times.csv",
    "countries.csv",
    "fx_rates.csv",
)
KEYS = {
    "warehouses.csv": ("warehouse_id",),
    "products.csv": ("sku",),
    "product_locations.csv": ("warehouse_id", "sku"),
    "stock_policy.csv": ("warehouse_id", "sku"),
    "boxes.csv": ("box_id",),
    "carriers.csv": ("carrier", "service"),
    "zones.csv": ("zone",),
    "rate_cards.csv": ("carrier", "service", "zone", "max_weight_g"),
    "transit_times.csv": ("carrier", "service", "zone"),
    "countries.csv": ("country",),
    "fx_rates.csv": ("date", "currency"),
}


def rows(name: str) -> list[dict[str, str]]:
    with open(REFERENCE / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def header(name: str) -> list[str]:
    with open(REFERENCE / name, newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


@pytest.mark.parametrize("name", FILES)
def test_keys_are_unique_and_present(name):
    data = rows(name)
    assert data, f"{name} is empty"
    keys = [tuple(r[k] for k in KEYS[name]) for r in data]
    assert all(all(part != "" for part in key) for key in keys)
    assert len(keys) == len(set(keys)), f"duplicate keys in {name}"


def test_readme_documents_every_column_of_every_file():
    text = (REFERENCE / "README.md").read_text(encoding="utf-8")
    sections = re.split(r"^## `([^`]+)`$", text, flags=re.M)
    documented = {  # first table row is the "| column | meaning |" heading
        sections[i]: re.findall(r"^\| ([a-z0-9_]+) \|", sections[i + 1], flags=re.M)[1:]
        for i in range(1, len(sections), 2)
    }
    settings_files = {
        "validation.toml": ["settings"],
        "allocation.toml": ["allocation"],
        "fulfilment.toml": ["waves", "cartonization"],
        "shipping.toml": ["delays", "labels"],
        "notifications.toml": ["messages", "sms", "smtp"],
        "returns.toml": ["policy", "amazon", "woocommerce", "rma", "labels"],
        "schedules.toml": ["order_batch", "carrier_cutoff", "analytics_refresh"],
        "ops.toml": ["upload"],
        "channels.toml": ["amazon", "shopify", "woocommerce"],
    }
    assert set(documented) == {*FILES, *settings_files}
    for name in FILES:
        assert documented[name] == header(name), name
    for name, sections in settings_files.items():
        with (REFERENCE / name).open("rb") as fh:
            data = tomllib.load(fh)
        assert documented[name] == [key for section in sections for key in data[section]], name


def test_warehouse_coordinates_are_those_of_their_zip():
    warehouses = rows("warehouses.csv")
    assert 4 <= len(warehouses) <= 5
    for w in warehouses:
        (z,) = zipcodes.matching(w["postal_code"])
        assert z["state"] == w["region"]
        assert float(w["lat"]) == pytest.approx(float(z["lat"]), abs=1e-4)
        assert float(w["lon"]) == pytest.approx(float(z["long"]), abs=1e-4)
        assert w["time_zone"] == z["timezone"]
        assert re.fullmatch(r"\d{2}:\d{2}", w["carrier_cutoff"])
        assert int(w["replenishment_lead_days"]) > 0


def test_catalogue_is_realistic():
    products = rows("products.csv")
    assert 450 <= len(products) <= 550
    assert all(re.fullmatch(r"SKU-\d{5}", p["sku"]) for p in products)
    names = [p["name"] for p in products]
    assert len(set(names)) == len(names)
    assert any('"' in n for n in names), 'some names carry a raw double quote (12" skillet)'
    assert any(not n.isascii() for n in names), "some names carry non-ASCII characters"
    for p in products:
        price = Decimal(p["unit_price"])
        assert price > 0 and price.as_tuple().exponent == -2
        assert p["requires_shipping"] in ("true", "false") and p["active"] in ("true", "false")
        if p["requires_shipping"] == "true":
            assert int(p["unit_weight_g"]) > 0
            assert min(int(p[k]) for k in ("length_mm", "width_mm", "height_mm")) > 0
    digital = [p for p in products if p["requires_shipping"] == "false"]
    assert 1 <= len(digital) <= 10


def _fits(product: dict[str, str], box: dict[str, str]) -> bool:
    item = sorted((int(product[k]) for k in ("length_mm", "width_mm", "height_mm")), reverse=True)
    inner = sorted(
        (int(box[k]) for k in ("inner_length_mm", "inner_width_mm", "inner_height_mm")),
        reverse=True,
    )
    weight = int(product["unit_weight_g"]) + int(box["tare_g"])
    return all(a <= b for a, b in zip(item, inner, strict=True)) and weight <= int(
        box["max_weight_g"]
    )


def test_most_products_fit_a_box_and_a_few_do_not():
    boxes = rows("boxes.csv")
    assert 6 <= len(boxes) <= 10
    physical = [p for p in rows("products.csv") if p["requires_shipping"] == "true"]
    oversize = [p for p in physical if not any(_fits(p, b) for b in boxes)]
    assert 2 <= len(oversize) <= 0.05 * len(physical)


def test_locations_and_policies_reference_known_skus_and_warehouses():
    skus = {p["sku"]: p for p in rows("products.csv")}
    warehouses = {w["warehouse_id"] for w in rows("warehouses.csv")}
    locations = rows("product_locations.csv")
    for loc in locations:
        assert loc["sku"] in skus
        assert skus[loc["sku"]]["requires_shipping"] == "true"
        assert loc["warehouse_id"] in warehouses
        assert loc["bin"] == "-".join((loc["zone"], loc["aisle"], loc["bay"], loc["level"]))
    bins = [(loc["warehouse_id"], loc["bin"]) for loc in locations]
    assert len(bins) == len(set(bins)), "one SKU per bin"
    physical = [s for s, p in skus.items() if p["requires_shipping"] == "true"]
    # most warehouses stock most SKUs, and every physical SKU is stocked somewhere
    assert len(locations) >= 0.8 * len(physical) * len(warehouses)
    assert {loc["sku"] for loc in locations} == set(physical)

    policy = rows("stock_policy.csv")
    assert {(r["warehouse_id"], r["sku"]) for r in policy} == {
        (r["warehouse_id"], r["sku"]) for r in locations
    }
    for r in policy:
        assert 0 <= int(r["safety_stock"]) < int(r["reorder_point"]) < int(r["max_level"])


def test_zone_bands_are_contiguous():
    zones = rows("zones.csv")
    domestic = sorted((r for r in zones if r["scope"] == "domestic"), key=lambda r: int(r["zone"]))
    assert float(domestic[0]["min_km"]) == 0
    for a, b in itertools.pairwise(domestic):
        assert float(a["max_km"]) == float(b["min_km"])
        assert float(a["min_km"]) < float(a["max_km"])
    assert float(domestic[-1]["max_km"]) >= 20_000  # half the Earth's circumference


def test_rate_cards_cover_every_carrier_service_and_zone():
    carriers = rows("carriers.csv")
    by_carrier = defaultdict(list)
    for c in carriers:
        by_carrier[c["carrier"]].append(c)
        assert c["service_level"] in ("overnight", "expedited", "standard")
    assert len(by_carrier) == 3
    assert all(2 <= len(services) <= 4 for services in by_carrier.values())
    zones = defaultdict(set)
    for z in rows("zones.csv"):
        zones[z["scope"]].add(int(z["zone"]))
    rates = defaultdict(list)
    for r in rows("rate_cards.csv"):
        rates[(r["carrier"], r["service"], int(r["zone"]))].append(
            (int(r["max_weight_g"]), Decimal(r["price"]))
        )
    transit = {(t["carrier"], t["service"], int(t["zone"])) for t in rows("transit_times.csv")}
    for c in carriers:
        for zone in zones[c["scope"]]:
            key = (c["carrier"], c["service"], zone)
            assert key in rates, f"no rates for {key}"
            assert key in transit, f"no transit time for {key}"
            card = sorted(rates[key])
            assert card[-1][0] <= int(c["max_weight_g"])
            prices = [p for _, p in card]
            assert prices == sorted(prices) and len(set(prices)) == len(prices)


def test_faster_services_cost_more_and_farther_zones_cost_more():
    price = {
        (r["service"], int(r["zone"]), int(r["max_weight_g"])): Decimal(r["price"])
        for r in rows("rate_cards.csv")
    }
    level = {c["service"]: c for c in rows("carriers.csv")}
    domestic = [s for s, c in level.items() if c["scope"] == "domestic"]
    rank = {"standard": 0, "expedited": 1, "overnight": 2}
    for carrier in {c["carrier"] for c in level.values()}:
        services = sorted(
            (s for s in domestic if level[s]["carrier"] == carrier),
            key=lambda s: rank[level[s]["service_level"]],
        )
        for zone in range(2, 9):
            at = [price[(s, zone, 2268)] for s in services]  # a 5 lb parcel
            assert at == sorted(at) and len(set(at)) == len(at), (carrier, zone)
    for s in domestic:
        assert [price[(s, z, 907)] for z in range(2, 9)] == sorted(
            price[(s, z, 907)] for z in range(2, 9)
        )


def test_countries_and_fx_rates_cover_the_currencies():
    countries = rows("countries.csv")
    codes = {c["country"] for c in countries}
    assert {"US", "CA", "GB", "DE", "FR", "AU", "JP", "MX"} <= codes
    assert any(c["served"] == "false" for c in countries)
    for c in countries:
        assert -90 <= float(c["lat"]) <= 90 and -180 <= float(c["lon"]) <= 180
    fx = rows("fx_rates.csv")
    currencies = {c["currency"] for c in countries}
    assert currencies <= {r["currency"] for r in fx}
    assert all(Decimal(r["rate_to_usd"]) > 0 for r in fx)
    assert all(Decimal(r["rate_to_usd"]) == 1 for r in fx if r["currency"] == "USD")
    assert len({r["date"] for r in fx}) >= 60, "a few months of daily rates"
