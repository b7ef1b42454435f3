"""Allocation: the contract's rules on hand-made orders, and the engine against the oracle."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from pipelines.lib.allocation import (
    ALLOCATION_SCHEMA,
    BACKORDER_SCHEMA,
    RULES,
    Allocation,
    allocate,
    haversine_km,
    read_inputs,
    write_outputs,
)
from tests.unit.allocation import oracle

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

# Three warehouses on one parallel, east to west; ids sort EAST < MID < WEST.
WAREHOUSES = pl.DataFrame(
    {
        "warehouse_id": ["WH-WEST", "WH-EAST", "WH-MID"],
        "lat": [40.0, 40.0, 40.0],
        "lon": [-120.0, -75.0, -90.0],
    }
)
NEAR_EAST = (40.1, -74.5)
NEAR_WEST = (39.9, -119.0)

LINE_SCHEMA = {
    "order_key": pl.String,
    "line_no": pl.Int32,
    "sku": pl.String,
    "quantity": pl.Int64,
    "service_level": pl.String,
    "ship_by": pl.Datetime("us", "UTC"),
    "ordered_at": pl.Datetime("us", "UTC"),
    "ship_lat": pl.Float64,
    "ship_lon": pl.Float64,
    "ship_complete": pl.Boolean,
}


def order(
    key: str,
    *lines: tuple[int, str, int],
    service: str | None = "standard",
    ship_by: datetime | None = None,
    ordered_at: datetime | None = T0,
    at: tuple[float | None, float | None] = NEAR_EAST,
    ship_complete: bool | None = False,
) -> list[dict]:
    """Rows of one order; ``lines`` are (line_no, sku, quantity)."""
    return [
        {
            "order_key": key,
            "line_no": line_no,
            "sku": sku,
            "quantity": quantity,
            "service_level": service,
            "ship_by": ship_by,
            "ordered_at": ordered_at,
            "ship_lat": at[0],
            "ship_lon": at[1],
            "ship_complete": ship_complete,
        }
        for line_no, sku, quantity in lines
    ]


def lines_frame(*orders: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([row for rows in orders for row in rows], schema=LINE_SCHEMA)


def stock_frame(atp: dict[str, dict[str, int]]) -> pl.DataFrame:
    """STOCK from {warehouse_id: {sku: atp}}."""
    rows = [(w, sku, units) for w, skus in atp.items() for sku, units in skus.items()]
    return pl.DataFrame(
        rows, schema={"warehouse_id": pl.String, "sku": pl.String, "atp": pl.Int64}, orient="row"
    )


def run(
    orders: list[list[dict]],
    atp: dict[str, dict[str, int]],
    warehouses: pl.DataFrame = WAREHOUSES,
    max_splits: int = 3,
) -> Allocation:
    """The engine's result, checked to be the oracle's too."""
    lines, stock = lines_frame(*orders), stock_frame(atp)
    result = allocate(lines, stock, warehouses, max_splits=max_splits)
    expected = oracle.allocate(lines, stock, warehouses, max_splits=max_splits)
    assert_frame_equal(result.allocations, expected[0])
    assert_frame_equal(result.backorders, expected[1])
    assert_frame_equal(result.stock_after, expected[2])
    return result


def allocated(result: Allocation) -> list[tuple]:
    return [tuple(row) for row in result.allocations.iter_rows()]


def backordered(result: Allocation) -> list[tuple]:
    return [tuple(row) for row in result.backorders.iter_rows()]


# --- step 1 and 2: the nearest warehouse that can fill the whole order ----------------------


def test_nearest_warehouse_with_everything_takes_the_order_whole() -> None:
    everywhere = {w: {"A": 5, "B": 5} for w in ("WH-EAST", "WH-MID", "WH-WEST")}
    east = run([order("o1", (1, "A", 2), (2, "B", 1), at=NEAR_EAST)], everywhere)
    west = run([order("o1", (1, "A", 2), (2, "B", 1), at=NEAR_WEST)], everywhere)

    assert allocated(east) == [("o1", 1, "WH-EAST", 2, "single"), ("o1", 2, "WH-EAST", 1, "single")]
    assert allocated(west) == [("o1", 1, "WH-WEST", 2, "single"), ("o1", 2, "WH-WEST", 1, "single")]
    assert east.orders_single == 1 and east.orders_split == 0 and backordered(east) == []


def test_nearer_warehouse_that_cannot_fill_every_line_loses_to_one_that_can() -> None:
    result = run(
        [order("o1", (1, "A", 2), (2, "B", 1), at=NEAR_EAST)],
        {"WH-EAST": {"A": 9}, "WH-MID": {"B": 9}, "WH-WEST": {"A": 2, "B": 1}},
    )

    assert allocated(result) == [
        ("o1", 1, "WH-WEST", 2, "single"),
        ("o1", 2, "WH-WEST", 1, "single"),
    ]
    assert result.stock_after.filter(pl.col("warehouse_id") == "WH-WEST")["atp"].to_list() == [0, 0]


def test_equally_near_warehouses_go_by_warehouse_id() -> None:
    twins = pl.DataFrame(
        {"warehouse_id": ["WH-B", "WH-A"], "lat": [40.0, 40.0], "lon": [-75.0] * 2}
    )
    result = run(
        [order("o1", (1, "A", 1), at=(41.0, -80.0))],
        {"WH-A": {"A": 1}, "WH-B": {"A": 1}},
        warehouses=twins,
    )

    assert allocated(result) == [("o1", 1, "WH-A", 1, "single")]


def test_ship_to_without_coordinates_is_equally_far_from_every_warehouse() -> None:
    stock = {"WH-MID": {"A": 1}, "WH-WEST": {"A": 1}}
    placed = run([order("o1", (1, "A", 1), at=NEAR_WEST)], stock)
    unplaced = run([order("o1", (1, "A", 1), at=(None, None))], stock)

    assert allocated(placed) == [("o1", 1, "WH-WEST", 1, "single")]
    assert allocated(unplaced) == [("o1", 1, "WH-MID", 1, "single")]


# --- step 3: splitting -----------------------------------------------------------------------


def test_split_takes_the_warehouse_covering_most_units_then_the_nearer_of_a_tie() -> None:
    # No warehouse has 4 A and 4 B. MID covers 5 units, then EAST and WEST cover 3 each
    # of the 3 A still missing: EAST is nearer.
    result = run(
        [order("o1", (1, "A", 4), (2, "B", 4), at=NEAR_EAST)],
        {"WH-EAST": {"A": 3}, "WH-MID": {"A": 1, "B": 4}, "WH-WEST": {"A": 4}},
    )

    assert allocated(result) == [
        ("o1", 1, "WH-EAST", 3, "split"),
        ("o1", 1, "WH-MID", 1, "split"),
        ("o1", 2, "WH-MID", 4, "split"),
    ]
    assert backordered(result) == []
    assert result.orders_split == 1


def test_split_tie_in_cover_and_distance_goes_by_warehouse_id() -> None:
    twins = pl.DataFrame(
        {"warehouse_id": ["WH-B", "WH-A", "WH-C"], "lat": [40.0] * 3, "lon": [-75.0] * 3}
    )
    result = run(
        [order("o1", (1, "A", 3), at=(41.0, -80.0))],
        {"WH-A": {"A": 1}, "WH-B": {"A": 1}, "WH-C": {"A": 1}},
        warehouses=twins,
        max_splits=2,
    )

    assert allocated(result) == [("o1", 1, "WH-A", 1, "split"), ("o1", 1, "WH-B", 1, "split")]
    assert backordered(result) == [("o1", 1, 1)]


@pytest.mark.parametrize(
    ("max_splits", "used", "left"),
    [(1, ["WH-EAST"], 4), (2, ["WH-EAST", "WH-MID"], 2), (3, ["WH-EAST", "WH-MID", "WH-WEST"], 0)],
)
def test_max_splits_stops_splitting_and_backorders_the_rest(
    max_splits: int, used: list[str], left: int
) -> None:
    stock = {w: {"A": 2} for w in ("WH-EAST", "WH-MID", "WH-WEST")}
    result = run([order("o1", (1, "A", 6), at=NEAR_EAST)], stock, max_splits=max_splits)

    assert allocated(result) == [("o1", 1, w, 2, "split") for w in used]
    assert backordered(result) == ([("o1", 1, left)] if left else [])
    assert result.units_allocated + result.units_backordered == 6


def test_ship_complete_order_is_backordered_whole_rather_than_split() -> None:
    stock = {"WH-EAST": {"A": 4}, "WH-MID": {"B": 1}}
    lines = ((1, "A", 4), (2, "B", 1))
    whole = run([order("o1", *lines, ship_complete=True)], stock)
    split = run([order("o1", *lines, ship_complete=False)], stock)

    assert allocated(whole) == []
    assert backordered(whole) == [("o1", 1, 4), ("o1", 2, 1)]
    assert whole.stock_after["atp"].to_list() == [4, 1]  # nothing reserved
    assert whole.orders_unallocated == 1
    assert allocated(split) == [("o1", 1, "WH-EAST", 4, "split"), ("o1", 2, "WH-MID", 1, "split")]


def test_ship_complete_order_still_ships_from_one_warehouse_that_has_it_all() -> None:
    result = run(
        [order("o1", (1, "A", 4), (2, "B", 1), ship_complete=True)],
        {"WH-EAST": {"A": 4}, "WH-WEST": {"A": 4, "B": 1}},
    )

    assert allocated(result) == [
        ("o1", 1, "WH-WEST", 4, "single"),
        ("o1", 2, "WH-WEST", 1, "single"),
    ]


# --- priority: who gets scarce stock -----------------------------------------------------


@pytest.mark.parametrize(
    ("winner", "loser"),
    [
        pytest.param({"service": "overnight"}, {"service": "standard"}, id="overnight-first"),
        pytest.param({"service": "overnight"}, {"service": "expedited"}, id="overnight-expedited"),
        pytest.param({"service": "expedited"}, {"service": "standard"}, id="expedited-standard"),
        pytest.param(
            {"ship_by": T0 + timedelta(days=5), "ordered_at": T0 + timedelta(hours=1)},
            {"ship_by": None, "ordered_at": T0},
            id="ship-by-before-none",
        ),
        pytest.param(
            {"ship_by": T0 + timedelta(days=1), "ordered_at": T0 + timedelta(hours=1)},
            {"ship_by": T0 + timedelta(days=2), "ordered_at": T0},
            id="earlier-ship-by",
        ),
        pytest.param(
            {"ordered_at": T0}, {"ordered_at": T0 + timedelta(seconds=1)}, id="earlier-ordered"
        ),
        pytest.param({"ordered_at": T0}, {"ordered_at": None}, id="ordered-at-before-none"),
    ],
)
def test_priority_decides_who_gets_scarce_stock(winner: dict, loser: dict) -> None:
    # The winner's key sorts after the loser's, so only the rule under test can make it win.
    result = run(
        [order("z-win", (1, "A", 1), **winner), order("a-lose", (1, "A", 1), **loser)],
        {"WH-EAST": {"A": 1}},
    )

    assert allocated(result) == [("z-win", 1, "WH-EAST", 1, "single")]
    assert backordered(result) == [("a-lose", 1, 1)]


def test_order_key_breaks_a_full_tie() -> None:
    result = run(
        [order("b", (1, "A", 1)), order("a", (1, "A", 1)), order("c", (1, "A", 1))],
        {"WH-EAST": {"A": 1}, "WH-WEST": {"A": 1}},
    )

    assert allocated(result) == [
        ("a", 1, "WH-EAST", 1, "single"),
        ("b", 1, "WH-WEST", 1, "single"),
    ]
    assert backordered(result) == [("c", 1, 1)]


def test_stock_taken_by_an_earlier_order_is_gone_for_later_ones() -> None:
    # The overnight order empties EAST; the standard one then ships from WEST.
    result = run(
        [
            order("o-standard", (1, "A", 2), service="standard"),
            order("o-overnight", (1, "A", 3), service="overnight"),
        ],
        {"WH-EAST": {"A": 3}, "WH-WEST": {"A": 2}},
    )

    assert allocated(result) == [
        ("o-overnight", 1, "WH-EAST", 3, "single"),
        ("o-standard", 1, "WH-WEST", 2, "single"),
    ]


def test_order_level_columns_come_from_the_first_line() -> None:
    # Line 1 says overnight; line 2 (listed first) says standard: the order is overnight.
    mixed = order("z-mixed", (1, "A", 1), service="overnight") + order(
        "z-mixed", (2, "B", 1), service="standard", ship_complete=True
    )
    result = run(
        [list(reversed(mixed)), order("a-standard", (1, "A", 1))],
        {"WH-EAST": {"A": 1}},
    )

    # Overnight wins the only A; not ship_complete (line 1 says so), so B waits alone.
    assert allocated(result) == [("z-mixed", 1, "WH-EAST", 1, "split")]
    assert backordered(result) == [("a-standard", 1, 1), ("z-mixed", 2, 1)]


# --- demand per SKU, line order, odd input ----------------------------------------------------


def test_two_lines_of_one_sku_are_checked_as_their_sum() -> None:
    # EAST has 4 A: enough for either line, not for both; MID has the 5 they need together.
    result = run(
        [order("o1", (1, "A", 3), (2, "A", 2))],
        {"WH-EAST": {"A": 4}, "WH-MID": {"A": 5}},
    )

    assert allocated(result) == [("o1", 1, "WH-MID", 3, "single"), ("o1", 2, "WH-MID", 2, "single")]


def test_lines_take_stock_in_line_no_order_inside_a_warehouse() -> None:
    rows = order("o1", (2, "A", 2), (1, "A", 3))  # listed out of order on purpose
    result = run([rows], {"WH-EAST": {"A": 4}})

    assert allocated(result) == [("o1", 1, "WH-EAST", 3, "split"), ("o1", 2, "WH-EAST", 1, "split")]
    assert backordered(result) == [("o1", 2, 1)]


def test_without_stock_everything_is_backordered() -> None:
    result = run(
        [order("o1", (1, "A", 2), (2, "B", 1))],
        {"WH-EAST": {"A": 0, "B": 0}, "WH-WEST": {"A": -3}},
    )

    assert allocated(result) == []
    assert backordered(result) == [("o1", 1, 2), ("o1", 2, 1)]
    assert result.stock_after["atp"].to_list() == [0, 0, 0]  # negative ATP counts as 0
    assert result.orders_unallocated == 1 and result.units_backordered == 3


def test_unknown_sku_is_backordered_and_the_rest_ships() -> None:
    lines = ((1, "A", 2), (2, "NOPE", 1))
    result = run([order("o1", *lines)], {"WH-EAST": {"A": 5}})
    complete = run([order("o1", *lines, ship_complete=True)], {"WH-EAST": {"A": 5}})

    assert allocated(result) == [("o1", 1, "WH-EAST", 2, "split")]
    assert backordered(result) == [("o1", 2, 1)]
    assert allocated(complete) == []
    assert backordered(complete) == [("o1", 1, 2), ("o1", 2, 1)]


def test_lines_without_positive_quantity_are_neither_allocated_nor_backordered() -> None:
    result = run(
        [order("o1", (1, "A", 0), (2, "A", 2), (3, "B", -1)), order("o2", (1, "A", 0))],
        {"WH-EAST": {"A": 2}},
    )

    assert allocated(result) == [("o1", 2, "WH-EAST", 2, "single")]
    assert backordered(result) == []
    assert (result.orders, result.lines, result.open_lines) == (2, 4, 1)
    assert result.orders_single == 1 and result.orders_unallocated == 0


def test_counts_add_up() -> None:
    result = run(
        [
            order("o1", (1, "A", 2)),
            order("o2", (1, "A", 3), (2, "B", 1)),
            order("o3", (1, "C", 4)),
        ],
        {"WH-EAST": {"A": 4}, "WH-WEST": {"B": 1}},
    )

    assert result.orders_by_rule == {"single": 1, "split": 1}
    assert result.orders_unallocated == 1
    assert (result.units_demanded, result.units_allocated, result.units_backordered) == (10, 5, 5)
    assert result.allocations["quantity"].sum() == result.units_allocated


def test_empty_input_gives_empty_outputs_with_the_columns() -> None:
    result = allocate(lines_frame(), stock_frame({}), WAREHOUSES)

    assert result.allocations.schema == ALLOCATION_SCHEMA and result.allocations.is_empty()
    assert result.backorders.schema == BACKORDER_SCHEMA and result.backorders.is_empty()
    assert result.orders == 0


@pytest.mark.parametrize(
    ("stock", "lines", "max_splits", "message"),
    [
        ({"WH-NOWHERE": {"A": 1}}, [order("o1", (1, "A", 1))], 3, "not in WAREHOUSES: WH-NOWHERE"),
        ({"WH-EAST": {"A": 1}}, [order("o1", (1, "A", 1))], 0, "max_splits must be at least 1"),
        (
            {"WH-EAST": {"A": 1}},
            [order("o1", (1, "A", 1), service="teleport")],
            3,
            "unknown service_level",
        ),
        (
            {"WH-EAST": {"A": 1}},
            [order("o1", (1, "A", 1), (1, "B", 1))],
            3,
            r"repeats \(order_key, line_no\): o1#1",
        ),
    ],
)
def test_inconsistent_input_is_refused(
    stock: dict, lines: list, max_splits: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        allocate(lines_frame(*lines), stock_frame(stock), WAREHOUSES, max_splits=max_splits)


def test_duplicate_stock_position_is_refused() -> None:
    stock = pl.concat([stock_frame({"WH-EAST": {"A": 1}})] * 2)

    with pytest.raises(ValueError, match=r"repeats \(warehouse_id, sku\): WH-EAST/A"):
        allocate(lines_frame(order("o1", (1, "A", 1))), stock, WAREHOUSES)


# --- files -------------------------------------------------------------------------------------


def test_inputs_and_outputs_round_trip_through_files(tmp_path: Path) -> None:
    lines = lines_frame(order("o2", (1, "A", 3), (2, "B", 2)), order("o1", (1, "A", 4)))
    stock = stock_frame({"WH-EAST": {"A": 5}, "WH-MID": {"B": 1}})
    lines.write_parquet(tmp_path / "lines.parquet")
    stock.write_parquet(tmp_path / "stock.parquet")
    WAREHOUSES.with_columns(name=pl.lit("somewhere"), postal_code=pl.lit("08837")).write_csv(
        tmp_path / "warehouses.csv"
    )

    inputs = read_inputs(
        tmp_path / "lines.parquet", tmp_path / "stock.parquet", tmp_path / "warehouses.csv"
    )
    result = allocate(*inputs)
    paths = write_outputs(result, tmp_path / "out")

    assert [p.name for p in paths] == ["allocations.parquet", "backorders.parquet"]
    allocations = pl.read_parquet(tmp_path / "out" / "allocations.parquet")
    backorders = pl.read_parquet(tmp_path / "out" / "backorders.parquet")
    assert_frame_equal(allocations, result.allocations)
    assert_frame_equal(backorders, result.backorders)
    assert allocations.schema == ALLOCATION_SCHEMA and backorders.schema == BACKORDER_SCHEMA
    assert [tuple(r) for r in allocations.iter_rows()] == [
        ("o1", 1, "WH-EAST", 4, "single"),
        ("o2", 1, "WH-EAST", 1, "split"),
        ("o2", 2, "WH-MID", 1, "split"),
    ]
    assert [tuple(r) for r in backorders.iter_rows()] == [("o2", 1, 2), ("o2", 2, 1)]


# --- distances ---------------------------------------------------------------------------------


def test_haversine_is_on_a_sphere_of_radius_6371_km() -> None:
    assert haversine_km(0.0, 0.0, 0.0, 90.0) == pytest.approx(6371.0 * math.pi / 2)
    # Edison NJ to Ontario CA, about 3,830 km as the crow flies.
    assert haversine_km(40.5325, -74.3375, 34.0316, -117.6187) == pytest.approx(3830, rel=0.01)


@settings(max_examples=500, deadline=None)
@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(-90, 90),
    st.floats(-180, 180),
)
def test_engine_and_oracle_compute_bit_identical_distances(
    lat1: float, lon1: float, lat2: float, lon2: float
) -> None:
    # Equal distances must rank the same way in both, so the floats must be the same floats.
    assert haversine_km(lat1, lon1, lat2, lon2) == oracle.haversine_km(lat1, lon1, lat2, lon2)


# --- random instances: engine == oracle, and the invariants --------------------------------

PLACES = [(40.0, -75.0), (40.0, -90.0), (34.0, -118.0), (40.0, -75.0), (47.6, -122.3)]
TIMES = [T0, T0 + timedelta(hours=1), T0 + timedelta(days=1)]


@st.composite
def instances(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """Small, crowded instances: few SKUs, little stock, shared coordinates and dates."""
    place = st.sampled_from(PLACES) | st.tuples(st.floats(-60, 60), st.floats(-180, 180))
    wh_ids = draw(
        st.lists(st.sampled_from(["W1", "W2", "W3", "W4"]), min_size=1, max_size=4, unique=True)
    )
    wh_places = [draw(place) for _ in wh_ids]
    warehouses = pl.DataFrame(
        {
            "warehouse_id": wh_ids,
            "lat": [p[0] for p in wh_places],
            "lon": [p[1] for p in wh_places],
        }
    )
    skus = [f"S{i}" for i in range(draw(st.integers(1, 6)))]
    stock_rows = [
        (w, sku, draw(st.integers(-1, 8)))
        for w in wh_ids
        for sku in skus
        if draw(st.integers(0, 4)) > 0  # some positions are missing altogether
    ]
    stock = pl.DataFrame(
        stock_rows,
        schema={"warehouse_id": pl.String, "sku": pl.String, "atp": pl.Int64},
        orient="row",
    )

    ship_to = st.sampled_from([*PLACES, (None, None), (45.0, None)]) | place
    headers = st.fixed_dictionaries(
        {
            "service": st.sampled_from(["overnight", "expedited", "standard", None]),
            "ship_by": st.sampled_from([None, *TIMES]),
            "ordered_at": st.sampled_from([*TIMES, None]),
            "at": ship_to,
            "ship_complete": st.sampled_from([False, True, None]),
        }
    )
    line_skus = st.sampled_from([*skus, "UNKNOWN"])
    rows: list[dict] = []
    for n in range(draw(st.integers(1, 12))):
        head = draw(headers)
        line_nos = draw(st.lists(st.integers(1, 9), min_size=1, max_size=4, unique=True))
        for line_no in line_nos:
            own = draw(headers) if draw(st.integers(0, 5)) == 0 else head  # disagreeing lines
            quantity = draw(st.integers(-1, 5))
            rows += order(f"o{n:02d}", (line_no, draw(line_skus), quantity), **own)
    lines = pl.DataFrame(draw(st.permutations(rows)), schema=LINE_SCHEMA)
    if draw(st.booleans()):  # re-brokering: some orders already ship from some warehouses
        keys = sorted(set(lines["order_key"]))
        used = {
            k: draw(st.lists(st.sampled_from(wh_ids), max_size=len(wh_ids), unique=True))
            for k in keys
        }
        lines = lines.with_columns(
            pl.col("order_key")
            .replace_strict(used, return_dtype=pl.List(pl.String))
            .alias("used_warehouses")
        )
    return lines, stock, warehouses, draw(st.integers(1, 3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_engine_matches_the_oracle(instance: tuple) -> None:
    lines, stock, warehouses, max_splits = instance
    result = allocate(lines, stock, warehouses, max_splits=max_splits)
    allocations, backorders, stock_after = oracle.allocate(
        lines, stock, warehouses, max_splits=max_splits
    )

    assert_frame_equal(result.allocations, allocations)
    assert_frame_equal(result.backorders, backorders)
    assert_frame_equal(result.stock_after, stock_after)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_allocation_invariants(instance: tuple) -> None:
    lines, stock, warehouses, max_splits = instance
    result = allocate(lines, stock, warehouses, max_splits=max_splits)
    allocations, backorders = result.allocations, result.backorders

    # Never more than the ATP (floored at 0) of a position; none where there is no position.
    taken = (
        allocations.join(lines.select("order_key", "line_no", "sku"), on=["order_key", "line_no"])
        .group_by("warehouse_id", "sku")
        .agg(pl.col("quantity").sum())
    )
    held = stock.with_columns(pl.col("atp").clip(lower_bound=0))
    over = taken.join(held, on=["warehouse_id", "sku"], how="left").filter(
        pl.col("atp").is_null() | (pl.col("quantity") > pl.col("atp"))
    )
    assert over.is_empty()

    # Every unit of every open line is allocated or backordered, and nothing else is.
    per_line = (
        lines.select("order_key", "line_no", "quantity")
        .join(
            allocations.group_by("order_key", "line_no").agg(pl.col("quantity").sum().alias("a")),
            on=["order_key", "line_no"],
            how="left",
        )
        .join(backorders.rename({"quantity": "b"}), on=["order_key", "line_no"], how="left")
        .with_columns(pl.col("a", "b").fill_null(0))
    )
    open_lines = per_line.filter(pl.col("quantity") > 0)
    assert (open_lines["a"] + open_lines["b"] == open_lines["quantity"]).all()
    closed_lines = per_line.filter(pl.col("quantity") <= 0)
    assert (closed_lines["a"] + closed_lines["b"] == 0).all()
    assert (allocations["quantity"] > 0).all() and (backorders["quantity"] > 0).all()

    # Warehouses per order: one for ship_complete orders, never more than max_splits.
    first_lines = lines.sort("line_no").group_by("order_key").first()
    used = allocations.group_by("order_key").agg(
        pl.col("warehouse_id").n_unique().alias("warehouses"), pl.col("rule").unique()
    )
    checked = used.join(first_lines, on="order_key")
    if "used_warehouses" in lines.columns:
        # With the warehouses an order already ships from, new ones only up to max_splits.
        everywhere = allocations.group_by("order_key").agg(pl.col("warehouse_id").unique())
        combined = everywhere.join(first_lines, on="order_key").select(
            pl.col("warehouse_id").list.concat("used_warehouses").list.unique().list.len(),
            pl.max_horizontal(pl.col("used_warehouses").list.len(), pl.lit(max_splits)),
        )
        assert (combined[:, 0] <= combined[:, 1]).all()
        checked = checked.filter(pl.col("used_warehouses").list.len() == 0)
    assert (checked["warehouses"] <= max_splits).all()
    assert (checked.filter(pl.col("ship_complete").fill_null(False))["warehouses"] == 1).all()
    assert (checked["rule"].list.len() == 1).all()
    assert set(allocations["rule"]) <= set(RULES)
    assert (checked.filter(pl.col("rule").list.first() == "single")["warehouses"] == 1).all()
    assert result.units_allocated + result.units_backordered == result.units_demanded
