"""Cartonization: boxes per shipment, by first-fit decreasing and downsizing."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.lib.cartonization import (
    FILL_FACTOR,
    PARCEL_ITEM_SCHEMA,
    PARCEL_SCHEMA,
    Cartonization,
    cartonize,
)
from pipelines.lib.reference import read_reference

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference"


def boxes_frame(*rows: tuple) -> pl.DataFrame:
    """Rows of (box_id, length, width, height, tare_g, max_weight_g, cost)."""
    return pl.DataFrame(
        rows,
        schema={
            "box_id": pl.String,
            "inner_length_mm": pl.Int64,
            "inner_width_mm": pl.Int64,
            "inner_height_mm": pl.Int64,
            "tare_g": pl.Int64,
            "max_weight_g": pl.Int64,
            "cost": pl.Float64,
        },
        orient="row",
    )


def products_frame(*rows: tuple) -> pl.DataFrame:
    """Rows of (sku, unit_weight_g, length, width, height[, requires_shipping])."""
    full = [row if len(row) == 6 else (*row, True) for row in rows]
    return pl.DataFrame(
        full,
        schema={
            "sku": pl.String,
            "unit_weight_g": pl.Int64,
            "length_mm": pl.Int64,
            "width_mm": pl.Int64,
            "height_mm": pl.Int64,
            "requires_shipping": pl.Boolean,
        },
        orient="row",
    )


def items_frame(*rows: tuple) -> pl.DataFrame:
    """Rows of (shipment_id, sku, quantity)."""
    return pl.DataFrame(
        rows,
        schema={"shipment_id": pl.String, "sku": pl.String, "quantity": pl.Int64},
        orient="row",
    )


def summary(result: Cartonization, *columns: str) -> list[tuple]:
    return result.parcels.select(columns).rows()


# A small catalogue: S (1e6 mm³), M (3.375e6), L (8e6), all cubes but L.
BOXES = boxes_frame(
    ("S", 100, 100, 100, 50, 2000, 0.50),
    ("M", 150, 150, 150, 100, 5000, 0.80),
    ("L", 200, 200, 200, 200, 10000, 1.20),
)


# --- exact fit and rotation -------------------------------------------------------------


def test_a_unit_the_size_of_a_box_goes_in_it_at_fill_factor_one():
    products = products_frame(("SKU-A", 300, 100, 100, 100))
    items = items_frame(("SH-1", "SKU-A", 1))
    result = cartonize(items, products, BOXES, fill_factor=1.0)
    assert summary(result, "parcel_no", "box_id", "ship_alone", "units") == [(1, "S", False, 1)]


def test_the_same_unit_needs_a_larger_box_at_the_default_fill_factor():
    products = products_frame(("SKU-A", 300, 100, 100, 100))
    items = items_frame(("SH-1", "SKU-A", 1))
    result = cartonize(items, products, BOXES)
    assert FILL_FACTOR == 0.85
    # 1e6 mm³ > 0.85 x 1e6 (S), but <= 0.85 x 3.375e6 (M): downsized from L to M.
    assert summary(result, "box_id", "length_mm", "width_mm", "height_mm") == [("M", 150, 150, 150)]


def test_a_unit_fits_when_rotated():
    boxes = boxes_frame(("LONG", 310, 60, 30, 100, 5000, 1.0))
    products = products_frame(("SKU-P", 100, 20, 50, 300), ("SKU-Q", 100, 40, 50, 300))
    items = items_frame(("SH-1", "SKU-P", 1), ("SH-2", "SKU-Q", 1))
    result = cartonize(items, products, boxes)
    # 20x50x300 lies along the box (30x60x310); 40x50x300 does not fit any way (40 > 30).
    assert summary(result, "shipment_id", "box_id", "ship_alone") == [
        ("SH-1", "LONG", False),
        ("SH-2", None, True),
    ]


# --- weight ---------------------------------------------------------------------------


def test_over_weight_units_open_another_parcel():
    boxes = boxes_frame(("ONLY", 300, 300, 300, 100, 1000, 1.0))
    products = products_frame(("SKU-H", 400, 50, 50, 50))
    result = cartonize(items_frame(("SH-1", "SKU-H", 3)), products, boxes)
    # 2 x 400 + 100 = 900 <= 1000; a third unit would make 1300.
    assert summary(result, "parcel_no", "box_id", "units", "items_weight_g", "weight_g") == [
        (1, "ONLY", 2, 800, 900),
        (2, "ONLY", 1, 400, 500),
    ]


def test_heavy_contents_keep_the_box_with_the_higher_limit():
    boxes = boxes_frame(
        ("LIGHT", 300, 300, 300, 100, 1000, 1.0),
        ("STRONG", 300, 300, 310, 150, 5000, 2.0),
    )
    products = products_frame(("SKU-H", 400, 50, 50, 50), ("SKU-K", 950, 50, 50, 50))
    items = items_frame(("SH-1", "SKU-H", 3), ("SH-2", "SKU-H", 2), ("SH-3", "SKU-K", 1))
    result = cartonize(items, products, boxes)
    # SH-1: 1200 g of contents fits only STRONG; SH-2: 800 + 100 fits LIGHT, the smaller;
    # SH-3: one 950 g unit + LIGHT's 100 g tare is over LIGHT's 1000 g.
    assert summary(result, "shipment_id", "box_id", "units", "weight_g") == [
        ("SH-1", "STRONG", 3, 1350),
        ("SH-2", "LIGHT", 2, 900),
        ("SH-3", "STRONG", 1, 1100),
    ]


# --- several parcels ------------------------------------------------------------------


def test_many_units_fill_large_boxes_and_the_remainder_is_downsized():
    products = products_frame(("SKU-B", 100, 100, 100, 50))  # 5e5 mm³ each
    result = cartonize(items_frame(("SH-1", "SKU-B", 27)), products, BOXES)
    # L holds floor(0.85 x 8e6 / 5e5) = 13 units; the 27th unit alone fits S (5e5 <= 8.5e5).
    assert summary(result, "parcel_no", "box_id", "units", "contents") == [
        (1, "L", 13, "SKU-B x13"),
        (2, "L", 13, "SKU-B x13"),
        (3, "S", 1, "SKU-B x1"),
    ]


def test_a_middle_sized_remainder_gets_a_middle_sized_box():
    products = products_frame(("SKU-B", 100, 100, 100, 50))
    result = cartonize(items_frame(("SH-1", "SKU-B", 30)), products, BOXES)
    assert summary(result, "box_id", "units") == [("L", 13), ("L", 13), ("M", 4)]


def test_smaller_units_fill_the_gaps_of_earlier_parcels_first_fit():
    products = products_frame(
        ("SKU-BIG", 500, 190, 190, 150),  # 5.415e6 mm³: one per L (cap 6.8e6)
        ("SKU-SML", 100, 50, 50, 50),  # 1.25e5 mm³
    )
    items = items_frame(("SH-1", "SKU-SML", 12), ("SH-1", "SKU-BIG", 2))
    result = cartonize(items, products, BOXES)
    # The big units open one L each; each L has 6.8e6 - 5.415e6 = 1.385e6 mm³ left, room
    # for 11 small units (1.375e6) in the first; the 12th goes into the second.
    assert summary(result, "parcel_no", "box_id", "units", "contents") == [
        (1, "L", 12, "SKU-BIG x1; SKU-SML x11"),
        (2, "L", 2, "SKU-BIG x1; SKU-SML x1"),
    ]


# --- ship alone -----------------------------------------------------------------------


def test_an_oversize_item_ships_alone_after_the_boxed_parcels():
    products = products_frame(
        ("SKU-BIG", 25000, 1200, 400, 300),  # longer than every box
        ("SKU-SML", 100, 50, 50, 50),
    )
    items = items_frame(("SH-1", "SKU-BIG", 2), ("SH-1", "SKU-SML", 3))
    result = cartonize(items, products, BOXES)
    assert result.parcels.drop("shipment_id").rows() == [
        (1, "S", False, 3, 300, 350, 100, 100, 100, "SKU-SML x3"),
        (2, None, True, 1, 25000, 25000, 1200, 400, 300, "SKU-BIG x1"),
        (3, None, True, 1, 25000, 25000, 1200, 400, 300, "SKU-BIG x1"),
    ]
    assert result.parcel_items.rows() == [
        ("SH-1", 1, "SKU-SML", 3),
        ("SH-1", 2, "SKU-BIG", 1),
        ("SH-1", 3, "SKU-BIG", 1),
    ]


def test_a_unit_too_heavy_for_every_box_ships_alone():
    products = products_frame(("SKU-LEAD", 9900, 50, 50, 50))  # + 200 tare > 10000 for L
    result = cartonize(items_frame(("SH-1", "SKU-LEAD", 1)), products, BOXES)
    assert summary(result, "box_id", "ship_alone", "weight_g") == [(None, True, 9900)]


def test_a_unit_over_the_fill_factor_of_every_box_it_fits_ships_alone():
    boxes = boxes_frame(("ONLY", 100, 100, 100, 50, 2000, 0.5))
    products = products_frame(("SKU-A", 300, 100, 100, 90))  # 0.9e6 > 0.85e6
    result = cartonize(items_frame(("SH-1", "SKU-A", 1)), products, boxes)
    assert summary(result, "box_id", "ship_alone") == [(None, True)]
    packed = cartonize(items_frame(("SH-1", "SKU-A", 1)), products, boxes, fill_factor=0.9)
    assert summary(packed, "box_id", "ship_alone") == [("ONLY", False)]


# --- what is packed -------------------------------------------------------------------


def test_digital_goods_and_zero_dimension_products_are_not_packed():
    products = products_frame(
        ("SKU-GIFT", 0, 0, 0, 0, False),
        ("SKU-PLAN", 0, 10, 10, 10, False),
        ("SKU-FLAT", 5, 100, 100, 0, True),
        ("SKU-BOOK", 400, 100, 50, 20),
    )
    items = items_frame(
        ("SH-1", "SKU-GIFT", 1),
        ("SH-1", "SKU-BOOK", 1),
        ("SH-1", "SKU-PLAN", 2),
        ("SH-2", "SKU-GIFT", 1),
        ("SH-2", "SKU-FLAT", 1),
    )
    result = cartonize(items, products, BOXES)
    assert summary(result, "shipment_id", "contents") == [("SH-1", "SKU-BOOK x1")]
    assert result.parcel_items["sku"].to_list() == ["SKU-BOOK"]


def test_an_unknown_sku_is_an_error_naming_it():
    products = products_frame(("SKU-A", 300, 100, 100, 100))
    items = items_frame(("SH-1", "SKU-A", 1), ("SH-2", "SKU-NOPE", 1))
    with pytest.raises(ValueError, match="SKU-NOPE"):
        cartonize(items, products, BOXES)


def test_rows_without_units_are_not_packed_and_an_empty_input_gives_empty_frames():
    products = products_frame(("SKU-A", 300, 10, 10, 10))
    result = cartonize(items_frame(("SH-1", "SKU-A", 0)), products, BOXES)
    assert result.parcels.is_empty()
    assert result.parcels.schema == PARCEL_SCHEMA
    assert result.parcel_items.schema == PARCEL_ITEM_SCHEMA
    empty = cartonize(items_frame(), products, BOXES)
    assert empty.parcels.schema == PARCEL_SCHEMA
    assert empty.parcel_items.is_empty()


@pytest.mark.parametrize("fill_factor", [0, -0.5, 1.01])
def test_a_fill_factor_outside_zero_to_one_is_an_error(fill_factor):
    products = products_frame(("SKU-A", 300, 10, 10, 10))
    with pytest.raises(ValueError, match="fill_factor"):
        cartonize(items_frame(("SH-1", "SKU-A", 1)), products, BOXES, fill_factor=fill_factor)


# --- tie-breaks -----------------------------------------------------------------------


def test_downsizing_prefers_the_cheaper_then_lower_id_box_of_equal_volume():
    boxes = boxes_frame(
        ("BIG", 400, 400, 400, 100, 10000, 3.0),
        ("Z-CHEAP", 100, 100, 100, 50, 2000, 0.40),
        ("A-DEAR", 100, 100, 100, 50, 2000, 0.60),
        ("B-TWIN", 100, 100, 100, 50, 2000, 0.40),
    )
    products = products_frame(("SKU-A", 100, 50, 50, 50))
    result = cartonize(items_frame(("SH-1", "SKU-A", 1)), products, boxes)
    assert summary(result, "box_id") == [("B-TWIN",)]


def test_units_of_equal_volume_are_packed_heaviest_first_then_by_sku():
    boxes = boxes_frame(("ONLY", 300, 300, 300, 50, 1050, 1.0))  # 1000 g of contents
    products = products_frame(
        ("SKU-A", 300, 50, 50, 50),
        ("SKU-B", 800, 50, 50, 50),
        ("SKU-C", 300, 50, 50, 50),
    )
    items = items_frame(("SH-1", "SKU-A", 1), ("SH-1", "SKU-B", 1), ("SH-1", "SKU-C", 3))
    result = cartonize(items, products, boxes)
    # B (800 g) opens parcel 1; A, then two C (300 g each) make 900 g in parcel 2; the last
    # C opens parcel 3. Lighter units first would have put B alone in the last parcel.
    assert summary(result, "parcel_no", "contents") == [
        (1, "SKU-B x1"),
        (2, "SKU-A x1; SKU-C x2"),
        (3, "SKU-C x1"),
    ]


def test_a_new_parcel_opens_in_the_largest_box_ties_by_id():
    # X and Y have the same volume; a parcel opens in X (the lower box_id), which takes one
    # unit by weight, so each unit opens its own parcel; each is then downsized to Y, of the
    # same volume but cheaper. Opened in Y, the three units would have shared one parcel.
    boxes = boxes_frame(
        ("Y", 200, 100, 100, 50, 2000, 0.10),
        ("X", 100, 200, 100, 50, 160, 0.90),
        ("SMALL", 40, 40, 40, 10, 2000, 0.05),
    )
    products = products_frame(("SKU-A", 100, 50, 50, 50))
    result = cartonize(items_frame(("SH-1", "SKU-A", 3)), products, boxes)
    assert summary(result, "box_id", "units") == [("Y", 1), ("Y", 1), ("Y", 1)]


# --- consistency ----------------------------------------------------------------------

MIXED_PRODUCTS = products_frame(
    ("SKU-01", 120, 80, 60, 40),
    ("SKU-02", 900, 140, 100, 90),
    ("SKU-03", 2500, 180, 150, 120),
    ("SKU-04", 40, 60, 30, 10),
    ("SKU-05", 4200, 190, 190, 100),
    ("SKU-06", 30000, 900, 300, 300),
    ("SKU-07", 0, 0, 0, 0, False),
    ("SKU-08", 600, 95, 95, 95),
)
MIXED_ITEMS = items_frame(
    ("SH-2", "SKU-01", 5),
    ("SH-2", "SKU-02", 2),
    ("SH-2", "SKU-03", 3),
    ("SH-1", "SKU-04", 7),
    ("SH-1", "SKU-05", 2),
    ("SH-1", "SKU-06", 1),
    ("SH-1", "SKU-07", 1),
    ("SH-3", "SKU-08", 9),
    ("SH-3", "SKU-01", 1),
    ("SH-3", "SKU-04", 2),
    ("SH-2", "SKU-01", 2),
)


def test_weights_units_and_contents_add_up():
    result = cartonize(MIXED_ITEMS, MIXED_PRODUCTS, BOXES)
    parcels, parcel_items = result.parcels, result.parcel_items
    unit_weight = dict(MIXED_PRODUCTS.select("sku", "unit_weight_g").iter_rows())
    tare = dict(BOXES.select("box_id", "tare_g").iter_rows())

    content_weight: dict[tuple, int] = defaultdict(int)
    contents: dict[tuple, list[str]] = defaultdict(list)
    units: dict[tuple, int] = defaultdict(int)
    for shipment, no, sku, quantity in parcel_items.iter_rows():
        content_weight[shipment, no] += quantity * unit_weight[sku]
        contents[shipment, no].append(f"{sku} x{quantity}")
        units[shipment, no] += quantity
    assert set(contents) == set(parcels.select("shipment_id", "parcel_no").iter_rows())
    for row in parcels.iter_rows(named=True):
        key = (row["shipment_id"], row["parcel_no"])
        assert row["items_weight_g"] == content_weight[key]
        assert row["weight_g"] == row["items_weight_g"] + (
            0 if row["ship_alone"] else tare[row["box_id"]]
        )
        assert row["contents"] == "; ".join(contents[key])
        assert row["units"] == units[key]
        assert row["ship_alone"] == (row["box_id"] is None)
        if row["ship_alone"]:
            assert row["units"] == 1

    # Every physical unit of each shipment is in exactly one parcel.
    wanted = (
        MIXED_ITEMS.filter(pl.col("sku") != "SKU-07")
        .group_by("shipment_id", "sku")
        .agg(pl.col("quantity").sum())
        .sort("shipment_id", "sku")
    )
    got = parcel_items.group_by("shipment_id", "sku").agg(pl.col("quantity").sum())
    assert_frame_equal(got.sort("shipment_id", "sku"), wanted)
    per_shipment = parcels.group_by("shipment_id").agg(pl.col("units").sum()).sort("shipment_id")
    assert per_shipment.rows() == [("SH-1", 10), ("SH-2", 12), ("SH-3", 12)]
    # Numbering 1..n per shipment, sorted output.
    assert parcels.equals(parcels.sort("shipment_id", "parcel_no"))
    assert parcel_items.equals(parcel_items.sort("shipment_id", "parcel_no", "sku"))
    numbers = parcels.group_by("shipment_id", maintain_order=True).agg("parcel_no")
    for shipment_numbers in numbers["parcel_no"].to_list():
        assert shipment_numbers == list(range(1, len(shipment_numbers) + 1))


def test_output_types_follow_the_schema():
    result = cartonize(MIXED_ITEMS, MIXED_PRODUCTS, BOXES)
    assert result.parcels.schema == PARCEL_SCHEMA
    assert result.parcel_items.schema == PARCEL_ITEM_SCHEMA


def test_same_input_same_output_whatever_the_row_order():
    first = cartonize(MIXED_ITEMS, MIXED_PRODUCTS, BOXES)
    again = cartonize(MIXED_ITEMS, MIXED_PRODUCTS, BOXES)
    assert_frame_equal(first.parcels, again.parcels)
    assert_frame_equal(first.parcel_items, again.parcel_items)
    for seed in range(5):
        shuffled = cartonize(
            MIXED_ITEMS.sample(fraction=1.0, shuffle=True, seed=seed),
            MIXED_PRODUCTS.sample(fraction=1.0, shuffle=True, seed=seed),
            BOXES.sample(fraction=1.0, shuffle=True, seed=seed),
        )
        assert_frame_equal(first.parcels, shuffled.parcels)
        assert_frame_equal(first.parcel_items, shuffled.parcel_items)


def test_rows_of_one_sku_are_added_up():
    split = items_frame(("SH-1", "SKU-B", 10), ("SH-1", "SKU-B", 17))
    whole = items_frame(("SH-1", "SKU-B", 27))
    products = products_frame(("SKU-B", 100, 100, 100, 50))
    assert_frame_equal(
        cartonize(split, products, BOXES).parcels, cartonize(whole, products, BOXES).parcels
    )


# --- against a one-unit-at-a-time oracle ----------------------------------------------


def oracle(items: pl.DataFrame, products: pl.DataFrame, boxes: pl.DataFrame, fill: float):
    """The rules read literally: parcels as (shipment, no, box_id, units, items weight)."""
    product = {
        r["sku"]: r
        for r in products.iter_rows(named=True)
        if r["requires_shipping"] and r["length_mm"] * r["width_mm"] * r["height_mm"] > 0
    }
    catalogue = [
        {
            **r,
            "dims": sorted((r["inner_length_mm"], r["inner_width_mm"], r["inner_height_mm"])),
            "volume": r["inner_length_mm"] * r["inner_width_mm"] * r["inner_height_mm"],
        }
        for r in boxes.iter_rows(named=True)
    ]

    def fits(unit, box):
        return (
            all(u <= b for u, b in zip(unit["dims"], box["dims"], strict=True))
            and unit["w"] + box["tare_g"] <= box["max_weight_g"]
        )

    def holds(content, box):
        return (
            all(fits(u, box) for u in content)
            and sum(u["v"] for u in content) <= fill * box["volume"]
            and sum(u["w"] for u in content) + box["tare_g"] <= box["max_weight_g"]
        )

    units_by_shipment = defaultdict(list)
    for shipment, sku, quantity in items.iter_rows():
        if sku not in product:
            continue
        p = product[sku]
        dims = sorted((p["length_mm"], p["width_mm"], p["height_mm"]))
        unit = {"sku": sku, "dims": dims, "v": dims[0] * dims[1] * dims[2]}
        unit["w"] = p["unit_weight_g"]
        units_by_shipment[shipment].extend([unit] * quantity)
    out = []
    for shipment in sorted(units_by_shipment):
        units = sorted(units_by_shipment[shipment], key=lambda u: (-u["v"], -u["w"], u["sku"]))
        parcels, alone = [], []
        for unit in units:
            if not any(holds([unit], box) for box in catalogue):
                alone.append(unit)
                continue
            for parcel in parcels:
                if holds([*parcel["content"], unit], parcel["box"]):
                    parcel["content"].append(unit)
                    break
            else:
                box = min(
                    (b for b in catalogue if fits(unit, b)),
                    key=lambda b: (-b["volume"], b["box_id"]),
                )
                parcels.append({"box": box, "content": [unit]})
        no = 0
        for parcel in parcels:
            box = min(
                (b for b in catalogue if holds(parcel["content"], b)),
                key=lambda b: (b["volume"], b["cost"], b["box_id"]),
            )
            no += 1
            weight = sum(u["w"] for u in parcel["content"])
            out.append((shipment, no, box["box_id"], len(parcel["content"]), weight))
        for unit in alone:
            no += 1
            out.append((shipment, no, None, 1, unit["w"]))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_packing_one_unit_at_a_time(seed):
    rng = random.Random(seed)
    boxes = boxes_frame(
        *(
            (
                f"B{i}",
                rng.randint(60, 400),
                rng.randint(60, 400),
                rng.randint(20, 300),
                rng.randint(10, 400),
                rng.randint(1000, 20000),
                round(rng.uniform(0.2, 3), 2),
            )
            for i in range(rng.randint(1, 6))
        )
    )
    products = products_frame(
        *(
            (
                f"SKU-{i:03d}",
                rng.randint(0, 8000),
                rng.randint(5, 450),
                rng.randint(5, 300),
                rng.randint(5, 200),
                rng.random() > 0.05,
            )
            for i in range(30)
        )
    )
    items = items_frame(
        *(
            (f"SH-{rng.randint(1, 25):02d}", f"SKU-{rng.randrange(30):03d}", rng.randint(1, 6))
            for _ in range(80)
        )
    )
    fill = rng.choice([FILL_FACTOR, 1.0, 0.6])
    result = cartonize(items, products, boxes, fill_factor=fill)
    got = summary(result, "shipment_id", "parcel_no", "box_id", "units", "items_weight_g")
    assert got == oracle(items, products, boxes, fill)


# --- the real reference data ----------------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> tuple[pl.DataFrame, pl.DataFrame]:
    return read_reference(REFERENCE, "products"), read_reference(REFERENCE, "boxes")


def fits_no_box(product: dict, boxes: pl.DataFrame) -> bool:
    dims = sorted((product["length_mm"], product["width_mm"], product["height_mm"]))
    for box in boxes.iter_rows(named=True):
        inner = sorted((box["inner_length_mm"], box["inner_width_mm"], box["inner_height_mm"]))
        if (
            all(d <= i for d, i in zip(dims, inner, strict=True))
            and product["unit_weight_g"] + box["tare_g"] <= box["max_weight_g"]
        ):
            return False
    return True


def test_every_physical_reference_product_packs_as_one_unit(reference):
    products, boxes = reference
    physical = products.filter(pl.col("requires_shipping"))
    items = physical.select(
        shipment_id=pl.col("sku"), sku=pl.col("sku"), quantity=pl.lit(1, pl.Int64)
    )
    result = cartonize(items, products, boxes)
    parcels = result.parcels
    assert parcels.height == physical.height
    assert parcels["parcel_no"].to_list() == [1] * physical.height
    alone = {r["sku"] for r in physical.iter_rows(named=True) if fits_no_box(r, boxes)}
    assert set(parcels.filter(pl.col("ship_alone"))["shipment_id"]) == alone
    boxed = parcels.filter(~pl.col("ship_alone"))
    assert boxed["box_id"].null_count() == 0
    assert (boxed["weight_g"] > boxed["items_weight_g"]).all()


def test_the_readme_oversize_items_ship_alone(reference):
    products, boxes = reference
    oversize = [
        r
        for r in products.filter(pl.col("requires_shipping")).iter_rows(named=True)
        if fits_no_box(r, boxes)
    ]
    names = " | ".join(r["name"] for r in oversize)
    for word in ("Treadmill", "Weight Bench", "Garden Bed", "Storage Rack", "Umbrella"):
        assert word in names
    items = items_frame(
        ("SH-OVERSIZE", "SKU-00001", 2),  # a cable: boxed
        *(("SH-OVERSIZE", r["sku"], 1) for r in oversize),
    )
    result = cartonize(items, products, boxes)
    parcels = result.parcels
    assert parcels.height == 1 + len(oversize)
    assert parcels.row(0, named=True)["box_id"] is not None
    alone = parcels.slice(1)
    assert alone["ship_alone"].all()
    assert alone["box_id"].null_count() == len(oversize)
    assert (alone["weight_g"] == alone["items_weight_g"]).all()
    by_sku = {r["sku"]: r for r in oversize}
    for row in result.parcel_items.slice(1).iter_rows(named=True):
        parcel = parcels.filter(pl.col("parcel_no") == row["parcel_no"]).row(0, named=True)
        product = by_sku[row["sku"]]
        assert row["quantity"] == 1
        assert parcel["weight_g"] == product["unit_weight_g"]
        assert (parcel["length_mm"], parcel["width_mm"], parcel["height_mm"]) == (
            product["length_mm"],
            product["width_mm"],
            product["height_mm"],
        )
