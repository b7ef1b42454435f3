"""The allocation oracle: the contract in DESIGN.md as a plain loop, order by order.

Written from the contract text, not from the engine (``pipelines/lib/allocation.py``): it
reserves stock the way an OMS that takes one order at a time would, over dicts and lists,
and is meant to be read, not to be fast. The edge cases are the ones the engine's module
docstring lists: a SKU missing from STOCK has ATP 0, negative or null ATP is 0, lines with
quantity <= 0 are ignored, order-level columns come from the first line by line_no, null
service level is standard, null ship_complete may split, null ordered_at/ship_by sort last,
and a ship-to without coordinates is equally far from every warehouse. The optional
``used_warehouses`` (warehouses the order already ships from) count towards ``max_splits``:
a new warehouse is taken only while the order's distinct warehouses stay within it.

The haversine here uses ``math`` in the same operation order as the engine's, so that two
warehouses at (nearly) the same distance are ranked the same way by both.
"""

from __future__ import annotations

import math

import polars as pl

EARTH_RADIUS_KM = 6371.0
SERVICE_RANK = {"overnight": 0, "expedited": 1, "standard": 2}


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    to_rad = math.pi / 180.0
    phi1 = lat1 * to_rad
    phi2 = lat2 * to_rad
    half_dphi = math.sin((lat2 - lat1) * to_rad / 2.0)
    half_dlmb = math.sin((lon2 - lon1) * to_rad / 2.0)
    a = half_dphi * half_dphi + math.cos(phi1) * math.cos(phi2) * half_dlmb * half_dlmb
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(a, 1.0)))


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def _priority(order_key: str, head: dict) -> tuple:
    service = SERVICE_RANK[head["service_level"] or "standard"]
    # (is missing, value): an order without a date comes after every order with one.
    return (
        service,
        head["ship_by"] is None,
        head["ship_by"],
        head["ordered_at"] is None,
        head["ordered_at"],
        order_key,
    )


def _distance(head: dict, place: tuple[float, float]) -> float:
    if _missing(head["ship_lat"]) or _missing(head["ship_lon"]):
        return 0.0
    return haversine_km(head["ship_lat"], head["ship_lon"], place[0], place[1])


def allocate(
    lines: pl.DataFrame, stock: pl.DataFrame, warehouses: pl.DataFrame, *, max_splits: int = 3
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(allocations, backorders, stock after) with the engine's columns and sort order."""
    places = {w["warehouse_id"]: (w["lat"], w["lon"]) for w in warehouses.iter_rows(named=True)}
    atp = {}
    for row in stock.iter_rows(named=True):
        atp[(row["warehouse_id"], row["sku"])] = max(row["atp"] or 0, 0)

    orders: dict[str, list[dict]] = {}
    for line in lines.iter_rows(named=True):
        orders.setdefault(line["order_key"], []).append(line)
    for order_lines in orders.values():
        order_lines.sort(key=lambda line: line["line_no"])

    def priority(order_key: str) -> tuple:
        return _priority(order_key, orders[order_key][0])

    allocations = []  # (order_key, line_no, warehouse_id, quantity, rule)
    backorders = []  # (order_key, line_no, quantity)
    for order_key in sorted(orders, key=priority):
        head = orders[order_key][0]
        open_lines = [line for line in orders[order_key] if line["quantity"] > 0]
        if not open_lines:
            continue
        ranked = sorted(places, key=lambda w: (_distance(head, places[w]), w))
        prior = set(head.get("used_warehouses") or [])

        demand: dict[str, int] = {}
        for line in open_lines:
            demand[line["sku"]] = demand.get(line["sku"], 0) + line["quantity"]
        left = {line["line_no"]: line["quantity"] for line in open_lines}

        # Step 2: the nearest warehouse that can fill every line takes the whole order.
        single = None
        for w in ranked:
            if w not in prior and len(prior) >= max_splits:
                continue
            if all(atp.get((w, sku), 0) >= units for sku, units in demand.items()):
                single = w
                break
        if single is not None:
            for line in open_lines:
                atp[(single, line["sku"])] -= line["quantity"]
                allocations.append((order_key, line["line_no"], single, line["quantity"], "single"))
                left[line["line_no"]] = 0

        # Step 3: split, a warehouse at a time, the one covering most remaining units first.
        elif not head["ship_complete"]:
            used = len(prior)
            while sum(left.values()) > 0:
                remaining: dict[str, int] = {}
                for line in open_lines:
                    sku = line["sku"]
                    remaining[sku] = remaining.get(sku, 0) + left[line["line_no"]]
                best, best_cover = None, 0
                for w in ranked:  # nearest first, so a tie keeps the nearer / smaller id
                    if w not in prior and used >= max_splits:
                        continue
                    cover = sum(
                        min(units, atp.get((w, sku), 0)) for sku, units in remaining.items()
                    )
                    if cover > best_cover:
                        best, best_cover = w, cover
                if best is None:
                    break
                for line in open_lines:
                    key = (best, line["sku"])
                    take = min(left[line["line_no"]], atp.get(key, 0))
                    if take > 0:
                        atp[key] -= take
                        left[line["line_no"]] -= take
                        allocations.append((order_key, line["line_no"], best, take, "split"))
                if best not in prior:
                    used += 1

        # Step 4: what is left is backordered.
        for line in open_lines:
            if left[line["line_no"]] > 0:
                backorders.append((order_key, line["line_no"], left[line["line_no"]]))

    allocations_frame = pl.DataFrame(
        allocations,
        schema={
            "order_key": pl.String,
            "line_no": pl.Int32,
            "warehouse_id": pl.String,
            "quantity": pl.Int64,
            "rule": pl.String,
        },
        orient="row",
    ).sort("order_key", "line_no", "warehouse_id")
    backorders_frame = pl.DataFrame(
        backorders,
        schema={"order_key": pl.String, "line_no": pl.Int32, "quantity": pl.Int64},
        orient="row",
    ).sort("order_key", "line_no")
    stock_after = pl.DataFrame(
        [(w, sku, units) for (w, sku), units in atp.items()],
        schema={"warehouse_id": pl.String, "sku": pl.String, "atp": pl.Int64},
        orient="row",
    ).sort("warehouse_id", "sku")
    return allocations_frame, backorders_frame, stock_after
