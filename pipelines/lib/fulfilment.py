"""The fulfilment stage: committed allocations → pick waves, walk-ordered pick lists,
cartons and packing slips (docs/fulfilment.md).

Each batch, in one transaction:

1. **Cancellations after release.** Tasks whose allocation was cancelled (the order was
   cancelled after its wave was released; the allocation stage already gave the stock back)
   are cancelled, and so are shipments, parcels and waves left with nothing to pick.
2. **New waves.** Committed allocations not yet in a wave are grouped into shipments
   (order × warehouse) and, per warehouse, packed whole into waves: shipments due at the next
   carrier cutoff first (overnight and expedited, or a ship_by before the cutoff after it),
   then by service level, ship_by, ordered_at and order; a wave ends at ``max_lines`` pick
   tasks or ``max_shipments`` shipments (a shipment bigger than the limit gets a wave alone),
   and due and not-due shipments never share a wave. Each shipment gets a tote; each task a
   place in the wave's serpentine walk; each shipment its cartons. Allocations become
   ``released`` and orders ``released`` with an event.

Then, once the transaction has committed, the documents: for every wave whose files are not
written yet, the handheld CSV, the pick list PDF and one packing slip PDF per shipment under
``data/outbox/<warehouse>/<wave date>/``; for every cancelled task of a wave whose pick list
was already printed, a pull list. A file is written to a temporary name and renamed, and a
wave's files are marked written only after; a crash in between leaves them to the next run,
and a re-run rewrites nothing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from pipelines.lib.cartonization import FILL_FACTOR, cartonize
from pipelines.lib.documents import (
    RETURNS_TEXT,
    render_packing_slip,
    render_pick_list,
    render_pull_list,
)
from pipelines.lib.files import spreadsheet_safe_frame, write_atomically
from pipelines.lib.reference import read_reference, read_settings, whole_number_at_least_one
from pipelines.lib.schema import (
    ALLOCATIONS,
    BACKORDERS,
    ORDER_EVENTS,
    ORDERS,
    PARCELS,
    PICK_TASKS,
    SHIPMENTS,
    WAVES,
)
from pipelines.lib.timing import Laps
from pipelines.lib.warehouse import frame, scalar, transaction

CONFIG_FILE = "fulfilment.toml"
DEFAULT_MAX_LINES = 120
DEFAULT_MAX_SHIPMENTS = 40
#: Orders whose committed allocations are released to the floor.
RELEASABLE = ("allocated", "partially_allocated", "released", "partially_shipped")
_SERVICE_RANK = {"overnight": 0, "expedited": 1, "standard": 2}


@dataclass(frozen=True)
class FulfilmentSettings:
    max_lines: int = DEFAULT_MAX_LINES
    max_shipments: int = DEFAULT_MAX_SHIPMENTS
    fill_factor: float = FILL_FACTOR


def load_settings(reference_dir: Path) -> FulfilmentSettings:
    """``fulfilment.toml``; absent means the defaults. A bad value is an error."""
    path = reference_dir / CONFIG_FILE
    raw = read_settings(
        path,
        {
            "waves": {"max_lines": DEFAULT_MAX_LINES, "max_shipments": DEFAULT_MAX_SHIPMENTS},
            "cartonization": {"fill_factor": FILL_FACTOR},
        },
    )
    fill = raw["cartonization"]["fill_factor"]
    if isinstance(fill, bool) or not isinstance(fill, int | float) or not 0 < fill <= 1:
        raise ValueError(f"{path}: cartonization.fill_factor must be in (0, 1], got {fill!r}")
    return FulfilmentSettings(
        **{
            name: whole_number_at_least_one(path, f"waves.{name}", value)
            for name, value in raw["waves"].items()
        },
        fill_factor=float(fill),
    )


@dataclass
class FulfilmentResult:
    waves: int = 0
    shipments: int = 0
    tasks: int = 0
    units: int = 0
    parcels: int = 0
    ship_alone: int = 0
    orders_released: int = 0
    tasks_cancelled: int = 0
    pick_lists: int = 0
    packing_slips: int = 0
    pull_lists: int = 0
    pages: int = 0
    #: time spent writing the CSVs and rendering the PDFs (inside "documents")
    csv_seconds: float = 0.0
    pdf_seconds: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)


def next_cutoff(now: datetime, cutoff: str, time_zone: str) -> datetime:
    """The next carrier cutoff at or after ``now``: today's ``HH:MM`` in the warehouse's
    time zone, else tomorrow's (every day; carriers' non-pickup days are not modelled)."""
    zone = ZoneInfo(time_zone)
    local = now.astimezone(zone)
    hour, minute = (int(part) for part in cutoff.split(":"))
    today = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    chosen = today if local <= today else (today + timedelta(days=1))
    # Re-attach the zone after the day step so a DST change lands on the local wall time.
    chosen = datetime(chosen.year, chosen.month, chosen.day, hour, minute, tzinfo=zone)
    return chosen.astimezone(now.tzinfo)


def walk_sequence(tasks: pl.DataFrame) -> pl.Series:
    """Position of each task's bin in its wave's serpentine walk (1-based, per ``wave_id``).

    Zones in order, the aisles a wave visits in order inside a zone; the first visited
    aisle is walked up (bay ascending), the next down, and so on, alternating over the
    whole walk; inside a bay, levels from the floor up. Tasks at one bin share a number.
    Needs wave_id, zone, aisle, bay, level, bin.
    """
    keyed = tasks.with_row_index("_row").with_columns(
        pl.col("bay").cast(pl.Int64, strict=False).fill_null(0).alias("_bay"),
        pl.col("level").cast(pl.Int64, strict=False).fill_null(0).alias("_level"),
    )
    aisles = (
        keyed.select("wave_id", "zone", "aisle")
        .unique()
        .sort("wave_id", "zone", "aisle")
        .with_columns(_turn=(pl.int_range(pl.len()).over("wave_id") % 2))
    )
    walked = (
        keyed.join(aisles, on=["wave_id", "zone", "aisle"], how="left")
        .with_columns(
            _along=pl.when(pl.col("_turn") == 0).then(pl.col("_bay")).otherwise(-pl.col("_bay"))
        )
        .sort("wave_id", "zone", "aisle", "_along", "_level", "bin")
        .with_columns(
            walk_seq=(pl.col("bin") != pl.col("bin").shift(1).over("wave_id"))
            .fill_null(True)
            .cast(pl.Int32)
            .cum_sum()
            .over("wave_id")
        )
        .sort("_row")
    )
    return walked["walk_seq"]


def plan_waves(
    shipments: pl.DataFrame, settings: FulfilmentSettings
) -> list[tuple[int, int, bool]]:
    """Assign each shipment (rows already in wave order, per warehouse) to a wave.

    ``shipments`` needs warehouse_id, lines and due. Returns, per row, (wave number within
    its warehouse's new waves, tote number within the wave, due).
    """
    out: list[tuple[int, int, bool]] = []
    last_warehouse, wave, lines, count, due_of_wave = None, 0, 0, 0, None
    for warehouse, n_lines, due in shipments.select("warehouse_id", "lines", "due").iter_rows():
        if warehouse != last_warehouse:
            last_warehouse, wave, lines, count, due_of_wave = warehouse, 1, 0, 0, due
        elif (
            due != due_of_wave
            or count >= settings.max_shipments
            or (count > 0 and lines + n_lines > settings.max_lines)
        ):
            wave, lines, count, due_of_wave = wave + 1, 0, 0, due
        count += 1
        lines += n_lines
        out.append((wave, count, due))
    return out


# --- 1. cancellations after release ---------------------------------------------------------


def _cancel_released(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    # (Counted first: DuckDB's UPDATE ... RETURNING is slow on large tables.)
    ended = "t.status = 'released' AND a.status IN ('cancelled', 'withdrawn')"
    cancelled = scalar(
        con,
        f"SELECT count(*) FROM {PICK_TASKS.qualified} t JOIN {ALLOCATIONS.qualified} a "
        f"ON t.task_id = a.allocation_id WHERE {ended}",
    )
    if not cancelled:
        return 0
    con.execute(
        f"""
        UPDATE {PICK_TASKS.qualified} AS t
        SET status = 'cancelled', cancelled_at = $now, cancel_reason = a.ended_reason
        FROM {ALLOCATIONS.qualified} a
        WHERE t.task_id = a.allocation_id AND {ended}
        """,
        {"now": now},
    )
    for table, key in ((SHIPMENTS, "shipment_id"), (WAVES, "wave_id")):
        extra = ", cancelled_at = $now" if table is SHIPMENTS else ""
        con.execute(
            f"""
            UPDATE {table.qualified} SET status = 'cancelled'{extra}
            WHERE status = 'released' AND {key} NOT IN (
                SELECT {key} FROM {PICK_TASKS.qualified} WHERE status <> 'cancelled')
            """,
            {"now": now} if extra else None,
        )
    con.execute(
        f"""
        UPDATE {PARCELS.qualified} SET status = 'cancelled'
        WHERE status = 'released' AND shipment_id IN (
            SELECT shipment_id FROM {SHIPMENTS.qualified} WHERE status = 'cancelled')
        """
    )
    return cancelled


# --- 2. new waves --------------------------------------------------------------------------


def _waiting_allocations(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    statuses = ", ".join(f"'{s}'" for s in RELEASABLE)
    return frame(
        con,
        f"""
        SELECT a.allocation_id, a.order_key, a.line_no, a.sku, a.warehouse_id, a.quantity,
               o.service_level, o.ship_by, o.ordered_at
        FROM {ALLOCATIONS.qualified} a JOIN {ORDERS.qualified} o USING (order_key)
        WHERE a.status = 'committed' AND o.status IN ({statuses})
        """,
    )


def _shipments(allocations: pl.DataFrame, warehouses: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """One row per (warehouse, order) in wave order, with the cutoff it is picked for."""
    cutoffs = warehouses.select(
        "warehouse_id",
        pl.struct("carrier_cutoff", "time_zone")
        .map_elements(
            lambda w: next_cutoff(now, w["carrier_cutoff"], w["time_zone"]),
            return_dtype=pl.Datetime("us", "UTC"),
        )
        .alias("cutoff_at"),
        "time_zone",
    )
    return (
        allocations.group_by("warehouse_id", "order_key")
        .agg(
            pl.len().alias("lines"),
            pl.col("quantity").sum().alias("units"),
            pl.col("service_level").first(),
            pl.col("ship_by").first(),
            pl.col("ordered_at").first(),
        )
        .join(cutoffs, on="warehouse_id", how="left")
        .with_columns(
            due=pl.col("service_level").is_in(["overnight", "expedited"])
            | (pl.col("ship_by") < pl.col("cutoff_at") + pl.duration(days=1)).fill_null(False),
            rank=pl.col("service_level").replace_strict(_SERVICE_RANK, default=2),
        )
        .sort(
            ["warehouse_id", "due", "rank", "ship_by", "ordered_at", "order_key"],
            descending=[False, True, False, False, False, False],
            nulls_last=True,
        )
    )


def _name_waves(
    con: duckdb.DuckDBPyConnection, shipments: pl.DataFrame, settings: FulfilmentSettings
) -> pl.DataFrame:
    plan = plan_waves(shipments, settings)
    shipments = shipments.with_columns(
        pl.Series("wave_no", [p[0] for p in plan], dtype=pl.Int64),
        pl.Series("tote_no", [p[1] for p in plan], dtype=pl.Int64),
    )
    shipments = shipments.with_columns(
        wave_date=pl.struct("cutoff_at", "time_zone").map_elements(
            lambda r: r["cutoff_at"].astimezone(ZoneInfo(r["time_zone"])).date(),
            return_dtype=pl.Date,
        )
    )
    existing = frame(
        con,
        f"SELECT warehouse_id, wave_date, count(*) AS n FROM {WAVES.qualified} GROUP BY ALL",
    )
    return (
        shipments.join(existing, on=["warehouse_id", "wave_date"], how="left")
        .with_columns(
            wave_id=pl.format(
                "W-{}-{}-{}",
                pl.col("warehouse_id").str.replace("^WH-", ""),
                pl.col("wave_date").dt.strftime("%Y%m%d"),
                (pl.col("n").fill_null(0) + pl.col("wave_no")).cast(pl.String).str.zfill(3),
            ),
            tote=pl.format("T{}", pl.col("tote_no").cast(pl.String).str.zfill(2)),
        )
        .with_columns(shipment_id=pl.format("{}-{}", "wave_id", "tote"))
        .drop("n")
    )


def _release_waves(
    con: duckdb.DuckDBPyConnection,
    reference_dir: Path,
    settings: FulfilmentSettings,
    run_id: str,
    now: datetime,
    result: FulfilmentResult,
    lap: Callable[[str], None],
) -> None:
    allocations = _waiting_allocations(con)
    if allocations.is_empty():
        return
    warehouses = read_reference(reference_dir, "warehouses")
    shipments = _name_waves(con, _shipments(allocations, warehouses, now), settings)
    bins = read_reference(reference_dir, "product_locations").select(
        "warehouse_id", "sku", "zone", "aisle", "bay", "level", "bin"
    )
    tasks = (
        allocations.join(
            shipments.select("warehouse_id", "order_key", "wave_id", "shipment_id", "tote"),
            on=["warehouse_id", "order_key"],
        )
        .join(bins, on=["warehouse_id", "sku"], how="left")
        .with_columns(
            pl.col("bin").fill_null("UNASSIGNED"),
            pl.col("zone").fill_null("~"),
            pl.col("aisle").fill_null("~"),
        )
    )
    tasks = tasks.with_columns(walk_sequence(tasks).alias("walk_seq"))
    lap("plan")
    products = read_reference(reference_dir, "products")
    boxes = read_reference(reference_dir, "boxes")
    packed = cartonize(
        tasks.select("shipment_id", "sku", "quantity"),
        products,
        boxes,
        fill_factor=settings.fill_factor,
    )
    lap("cartonize")
    per_shipment = packed.parcels.group_by("shipment_id").agg(
        pl.len().alias("parcels"), pl.col("weight_g").sum()
    )
    shipment_rows = shipments.join(per_shipment, on="shipment_id", how="left").select(
        "shipment_id",
        "wave_id",
        "order_key",
        "warehouse_id",
        "tote",
        pl.lit("released").alias("status"),
        "lines",
        "units",
        pl.col("parcels").fill_null(0),
        pl.col("weight_g").fill_null(0),
        pl.lit(now).alias("released_at"),
        pl.lit(run_id).alias("run_id"),
    )
    wave_rows = (
        shipments.group_by("wave_id")
        .agg(
            pl.col("warehouse_id").first(),
            pl.col("wave_date").first(),
            pl.col("cutoff_at").first(),
            pl.col("time_zone").first(),
            pl.col("due").first().alias("due_at_cutoff"),
            pl.len().alias("shipments"),
            pl.col("lines").sum(),
            pl.col("units").sum(),
        )
        .with_columns(
            cutoff_label=pl.struct("cutoff_at", "time_zone").map_elements(
                lambda r: local_label(r["cutoff_at"], r["time_zone"]), return_dtype=pl.String
            ),
            status=pl.lit("released"),
            released_at=pl.lit(now),
            run_id=pl.lit(run_id),
        )
        .sort("wave_id")
    )
    task_rows = tasks.select(
        pl.col("allocation_id").alias("task_id"),
        "wave_id",
        "shipment_id",
        "order_key",
        "line_no",
        "warehouse_id",
        "sku",
        "bin",
        "walk_seq",
        "quantity",
        "tote",
        pl.lit("released").alias("status"),
        pl.lit(now).alias("released_at"),
        pl.lit(run_id).alias("run_id"),
    )
    parcel_rows = packed.parcels.with_columns(
        parcel_id=pl.format("{}-P{}", "shipment_id", "parcel_no"),
        status=pl.lit("released"),
        run_id=pl.lit(run_id),
    )
    for table, rows in (
        (WAVES, wave_rows),
        (SHIPMENTS, shipment_rows),
        (PICK_TASKS, task_rows),
        (PARCELS, parcel_rows),
    ):
        con.register("new_rows", table.conform(rows).to_arrow())
        con.execute(f"INSERT INTO {table.qualified} BY NAME SELECT * FROM new_rows")
        con.unregister("new_rows")
    lap("insert")
    con.execute(
        f"""
        UPDATE {ALLOCATIONS.qualified} SET status = 'released'
        WHERE status = 'committed' AND allocation_id IN (
            SELECT task_id FROM {PICK_TASKS.qualified} WHERE run_id = $run_id)
        """,
        {"run_id": run_id},
    )
    con.execute(
        f"""
        INSERT INTO {ORDER_EVENTS.qualified} BY NAME
        SELECT md5(s.order_key || '|released|' || $run_id) AS event_id, s.order_key,
               'released' AS event, $now AS "at",
               string_agg(s.units || ' units from ' || s.warehouse_id || ' in wave '
                          || s.wave_id || ' (tote ' || s.tote || ', ' || s.parcels
                          || ' parcel(s))', '; ' ORDER BY s.shipment_id) AS detail,
               $run_id AS run_id
        FROM {SHIPMENTS.qualified} s WHERE s.run_id = $run_id
        GROUP BY s.order_key
        """,
        {"run_id": run_id, "now": now},
    )
    # (Counted first: DuckDB's UPDATE ... RETURNING is slow on large tables.)
    moving = (
        f"status NOT IN ('released', 'partially_shipped') AND order_key IN "
        f"(SELECT order_key FROM {SHIPMENTS.qualified} WHERE run_id = $run_id)"
    )
    params = {"run_id": run_id}
    result.orders_released = scalar(
        con, f"SELECT count(*) FROM {ORDERS.qualified} WHERE {moving}", params
    )
    con.execute(f"UPDATE {ORDERS.qualified} SET status = 'released' WHERE {moving}", params)
    result.waves = wave_rows.height
    result.shipments = shipment_rows.height
    result.tasks = task_rows.height
    result.units = int(task_rows["quantity"].sum())
    result.parcels = packed.parcels.height
    result.ship_alone = int(packed.parcels["ship_alone"].sum())
    lap("statuses")


# --- 3. documents ----------------------------------------------------------------------------


def _pick_rows(tasks: pl.DataFrame) -> list[dict]:
    """The pick list PDF's rows: one per (bin, SKU) in walk order, totes listed."""
    grouped = (
        tasks.sort("walk_seq", "sku", "tote")
        .group_by("walk_seq", "bin", "sku", maintain_order=True)
        .agg(
            pl.col("product_name").first(),
            pl.col("quantity").sum(),
            pl.struct("tote", pl.col("tote_units").alias("quantity"), "order_number").alias(
                "totes"
            ),
        )
        .rename({"walk_seq": "seq"})
    )
    return grouped.to_dicts()


def _document_data(
    con: duckdb.DuckDBPyConnection, where: str, params: list | None = None
) -> pl.DataFrame:
    """Pick tasks with their order's number and channel; ``where`` is fixed SQL, any value in
    it a ``?`` bound from ``params``."""
    return frame(
        con,
        f"""
        SELECT t.*, o.order_number, o.channel
        FROM {PICK_TASKS.qualified} t JOIN {ORDERS.qualified} o USING (order_key)
        WHERE {where}
        ORDER BY t.wave_id, t.walk_seq, t.sku, t.tote, t.task_id
        """,
        params,
    )


def address(row: dict, prefix: str) -> dict:
    """The address a document prints, from a row's ``<prefix>name``, ``<prefix>city``, ..."""
    return {
        key: row.get(f"{prefix}{key}")
        for key in ("name", "company", "address1", "address2", "city", "region", "postal_code")
    } | {"country": row.get(f"{prefix}country")}


def local_label(moment: datetime, time_zone: str | None) -> str:
    """``2026-11-27 17:00 America/New_York``: a cutoff as the warehouse reads it."""
    if not time_zone:
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.astimezone(ZoneInfo(time_zone)).strftime(f"%Y-%m-%d %H:%M {time_zone}")


def _slip_shipments(con: duckdb.DuckDBPyConnection, where: str, params: list) -> pl.DataFrame:
    """Shipments with their order's ship-to, as the slip prints them; ``where`` is fixed
    SQL, its values ``?`` bound from ``params``."""
    return frame(
        con,
        f"""
        SELECT s.shipment_id, s.order_key, o.order_number, o.channel,
               strftime(o.ordered_at, '%Y-%m-%d %H:%M UTC') AS ordered_at,
               o.ship_name, o.ship_company, o.ship_address1, o.ship_address2, o.ship_city,
               o.ship_region, o.ship_postal_code, o.ship_country
        FROM {SHIPMENTS.qualified} s JOIN {ORDERS.qualified} o USING (order_key)
        WHERE {where}
        ORDER BY s.shipment_id
        """,
        params,
    )


def _slips(
    con: duckdb.DuckDBPyConnection,
    shipments: pl.DataFrame,
    tasks: pl.DataFrame,
    products: pl.DataFrame,
    ship_from: dict,
    open_backorder: str = "b.status = 'open'",
    params: list | None = None,
) -> list[tuple[str, dict]]:
    """(shipment_id, slip) of each of ``shipments``: its lines from ``tasks``, its parcels,
    and its order's backorders that ``open_backorder`` (fixed SQL, values bound from
    ``params``) holds open. The shipments and orders are in the temporary table
    ``shipments_of_wave``."""
    parcels = frame(
        con,
        f"SELECT shipment_id, parcel_no, box_id, weight_g FROM {PARCELS.qualified} "
        "WHERE shipment_id IN (SELECT shipment_id FROM shipments_of_wave) "
        "ORDER BY shipment_id, parcel_no",
    )
    waiting = frame(
        con,
        f"""
        SELECT b.order_key, b.line_no, b.sku, b.quantity,
               strftime(b.promised_date, '%Y-%m-%d') AS promised_date
        FROM {BACKORDERS.qualified} b
        WHERE {open_backorder}
          AND b.order_key IN (SELECT order_key FROM shipments_of_wave)
        ORDER BY b.order_key, b.line_no
        """,
        params,
    ).join(products, on="sku", how="left")
    lines = (
        tasks.group_by("shipment_id", "line_no", "sku", maintain_order=True)
        .agg(pl.col("product_name").first(), pl.col("quantity").sum())
        .sort("shipment_id", "line_no")
    )
    by_shipment = {k[0]: g for k, g in lines.group_by("shipment_id")}
    parcels_of = {k[0]: g for k, g in parcels.group_by("shipment_id")}
    waiting_of = {k[0]: g for k, g in waiting.group_by("order_key")}
    slips = []
    for row in shipments.iter_rows(named=True):
        sid = row["shipment_id"]
        slip = {
            "shipment_id": sid,
            "order_number": row["order_number"] or row["order_key"],
            "order_key": row["order_key"],
            "channel": row["channel"],
            "ordered_at": row["ordered_at"],
            "ship_from": ship_from,
            "ship_to": address(row, "ship_"),
            "lines": by_shipment[sid]
            .select("line_no", "sku", "product_name", "quantity")
            .to_dicts()
            if sid in by_shipment
            else [],
            "backordered": waiting_of[row["order_key"]]
            .select("line_no", "sku", "product_name", "quantity", "promised_date")
            .to_dicts()
            if row["order_key"] in waiting_of
            else [],
            "parcels": parcels_of[sid].select("parcel_no", "box_id", "weight_g").to_dicts()
            if sid in parcels_of
            else [],
            "returns_text": RETURNS_TEXT,
        }
        slips.append((sid, slip))
    return slips


def _packing_slips(
    con: duckdb.DuckDBPyConnection,
    wave_id: str,
    tasks: pl.DataFrame,
    products: pl.DataFrame,
    ship_from: dict,
    folder: Path,
) -> tuple[int, int]:
    shipments = _slip_shipments(con, "s.wave_id = ? AND s.status <> 'cancelled'", [wave_id])
    pages = 0
    written = 0
    for sid, slip in _slips(con, shipments, tasks, products, ship_from):
        path = folder / "packing_slips" / f"{sid}.pdf"
        pages += render_packing_slip(path, slip)
        written += 1
    return written, pages


def render_packing_slip_again(
    con: duckdb.DuckDBPyConnection, *, reference_dir: Path, shipment_id: str, to: Path
) -> int:
    """The packing slip of ``shipment_id`` drawn again to ``to``, as its wave's documents
    printed it: the lines live then (units cancelled since are still on it), its parcels,
    the backorders open then (their quantities as they are now) and the order's ship-to as
    the warehouse holds it now. Returns the pages; 0 (nothing written) when its wave's
    documents were never written."""
    found = frame(
        con,
        f"""
        SELECT s.shipment_id, s.order_key, s.warehouse_id, w.files_written_at AS printed_at
        FROM {SHIPMENTS.qualified} s JOIN {WAVES.qualified} w USING (wave_id)
        WHERE s.shipment_id = ? AND w.files_written_at IS NOT NULL
        """,
        [shipment_id],
    )
    if found.is_empty():
        return 0
    printed = found["printed_at"][0]
    products = _product_names(reference_dir)
    house = _warehouses(reference_dir).get(found["warehouse_id"][0], {})
    tasks = _document_data(
        con,
        "t.shipment_id = ? AND (t.status <> 'cancelled' OR t.cancelled_at > ?)",
        [shipment_id, printed],
    ).join(products, on="sku", how="left")
    con.register("shipments_of_wave", found.select("shipment_id", "order_key").to_arrow())
    try:
        ((_, slip),) = _slips(
            con,
            _slip_shipments(con, "s.shipment_id = ?", [shipment_id]),
            tasks,
            products,
            address(house, ""),
            "b.backordered_at <= ? AND (b.resolved_at IS NULL OR b.resolved_at > ?)",
            [printed, printed],
        )
    finally:
        con.unregister("shipments_of_wave")
    return render_packing_slip(Path(to), slip)


def _product_names(reference_dir: Path) -> pl.DataFrame:
    return read_reference(reference_dir, "products").select(
        "sku", pl.col("name").alias("product_name")
    )


def _warehouses(reference_dir: Path) -> dict[str, dict]:
    return {w["warehouse_id"]: w for w in read_reference(reference_dir, "warehouses").to_dicts()}


#: Waves whose documents are marked written in one transaction (a commit per wave took about
#: 25 ms on a million-line warehouse); a crash draws at most this many waves' files again.
MARK_EVERY = 500


def _mark_written(con: duckdb.DuckDBPyConnection, done: list[tuple[str, str, str]], now) -> None:
    """Point the shipments of the ``done`` waves (wave_id, slips folder, pick list) at their
    packing slips and mark the waves' files written, in one transaction."""
    if not done:
        return
    marks = pl.DataFrame(
        done,
        schema={"wave_id": pl.String, "slips": pl.String, "pick_list": pl.String},
        orient="row",
    )
    con.register("written_waves", marks.to_arrow())
    try:
        with transaction(con):
            con.execute(
                f"UPDATE {SHIPMENTS.qualified} s SET packing_slip_path = w.slips || s.shipment_id "
                "|| '.pdf' FROM written_waves w WHERE s.wave_id = w.wave_id "
                "AND s.status <> 'cancelled'"
            )
            con.execute(
                f"UPDATE {WAVES.qualified} v SET files_written_at = ?, "
                "pick_list_path = w.pick_list FROM written_waves w WHERE v.wave_id = w.wave_id",
                [now],
            )
    finally:
        con.unregister("written_waves")
    done.clear()


def write_documents(
    con: duckdb.DuckDBPyConnection, *, reference_dir: Path, outbox: Path, now: datetime
) -> FulfilmentResult:
    """Pick lists, packing slips and pull lists not written yet (after the stage commits)."""
    result = FulfilmentResult()
    products = _product_names(reference_dir)
    warehouses = _warehouses(reference_dir)
    waves = frame(
        con,
        f"SELECT * FROM {WAVES.qualified} WHERE files_written_at IS NULL "
        "AND status <> 'cancelled' ORDER BY wave_id",
    )
    if waves.is_empty():
        _pull_lists(con, products, warehouses, outbox, now, result)
        return result
    # Every pending wave's tasks in one query (one per wave cost a query's overhead 10,000
    # times at a million lines).
    con.register("pending_waves", waves.select("wave_id").to_arrow())
    try:
        every_task = _document_data(
            con, "t.wave_id IN (SELECT wave_id FROM pending_waves) AND t.status <> 'cancelled'"
        )
    finally:
        con.unregister("pending_waves")
    by_wave = every_task.join(products, on="sku", how="left", maintain_order="left").with_columns(
        pl.col("quantity").alias("tote_units")
    )
    tasks_of = by_wave.partition_by("wave_id", as_dict=True, maintain_order=True)
    no_tasks = by_wave.clear()
    done: list[tuple[str, str, str]] = []
    try:
        for wave in waves.iter_rows(named=True):
            wave_id = wave["wave_id"]
            house = warehouses.get(wave["warehouse_id"], {})
            folder = outbox / wave["warehouse_id"] / wave["wave_date"].isoformat()
            tasks = tasks_of.get((wave_id,), no_tasks)
            header = {
                "wave_id": wave_id,
                "warehouse_id": wave["warehouse_id"],
                "warehouse_name": house.get("name", wave["warehouse_id"]),
                "cutoff": wave["cutoff_label"],
                "released_at": wave["released_at"].strftime("%Y-%m-%d %H:%M UTC"),
                "orders": tasks["order_key"].n_unique(),
                "lines": tasks.height,
                "units": int(tasks["quantity"].sum()),
            }
            began = time.perf_counter()
            csv_path = folder / f"{wave_id}_picklist.csv"
            write_atomically(
                csv_path,
                lambda tmp, tasks=tasks: spreadsheet_safe_frame(
                    tasks.select(
                        pl.col("walk_seq").alias("seq"),
                        "wave_id",
                        "bin",
                        "sku",
                        "product_name",
                        "quantity",
                        "tote",
                        "order_number",
                        "shipment_id",
                    )
                ).write_csv(tmp, line_terminator="\n"),
            )
            result.csv_seconds += time.perf_counter() - began
            began = time.perf_counter()
            pdf_path = folder / f"{wave_id}_picklist.pdf"
            result.pages += render_pick_list(pdf_path, header, _pick_rows(tasks))
            con.register(
                "shipments_of_wave",
                tasks.select("shipment_id", "order_key").unique().to_arrow(),
            )
            ship_from = address(house, "")
            slips, pages = _packing_slips(con, wave_id, tasks, products, ship_from, folder)
            result.pdf_seconds += time.perf_counter() - began
            con.unregister("shipments_of_wave")
            result.pick_lists += 1
            result.packing_slips += slips
            result.pages += pages
            done.append((wave_id, f"{folder / 'packing_slips'}{os.sep}", str(pdf_path)))
            if len(done) >= MARK_EVERY:
                _mark_written(con, done, now)
    except BaseException:
        # What was written is marked (a persistent error would otherwise redraw the same
        # waves on every run and leave them without pull lists); the error goes on.
        with contextlib.suppress(Exception):
            _mark_written(con, done, now)
        raise
    _mark_written(con, done, now)
    _pull_lists(con, products, warehouses, outbox, now, result)
    return result


def _pull_lists(con, products, warehouses, outbox: Path, now: datetime, result) -> None:
    """A pull list per printed wave with tasks cancelled since it was printed."""
    pulled = _document_data(
        con,
        f"""t.status = 'cancelled' AND t.pulled_at IS NULL AND t.wave_id IN (
                SELECT wave_id FROM {WAVES.qualified} WHERE files_written_at IS NOT NULL
                  AND files_written_at < t.cancelled_at)""",
    ).join(products, on="sku", how="left")
    if pulled.is_empty():
        return
    for (wave_id,), tasks in pulled.group_by("wave_id", maintain_order=True):
        wave = frame(con, f"SELECT * FROM {WAVES.qualified} WHERE wave_id = ?", [wave_id]).row(
            0, named=True
        )
        folder = outbox / wave["warehouse_id"] / wave["wave_date"].isoformat()
        header = {
            "wave_id": wave_id,
            "warehouse_id": wave["warehouse_id"],
            "warehouse_name": warehouses.get(wave["warehouse_id"], {}).get("name"),
            "cutoff": wave["cutoff_label"],
            "released_at": wave["released_at"].strftime("%Y-%m-%d %H:%M UTC"),
            "orders": tasks["order_key"].n_unique(),
            "lines": tasks.height,
            "units": int(tasks["quantity"].sum()),
        }
        rows = tasks.select(
            pl.col("walk_seq").alias("seq"),
            "bin",
            "sku",
            "product_name",
            "quantity",
            "tote",
            "order_number",
            pl.col("cancel_reason").fill_null("cancelled").alias("reason"),
        )
        stamp = now.strftime("%Y%m%dT%H%M%S")
        write_atomically(
            folder / f"{wave_id}_pull_{stamp}.csv",
            lambda tmp, rows=rows: spreadsheet_safe_frame(rows).write_csv(
                tmp, line_terminator="\n"
            ),
        )
        result.pages += render_pull_list(
            folder / f"{wave_id}_pull_{stamp}.pdf", header, rows.to_dicts()
        )
        result.pull_lists += 1
        with transaction(con):
            con.execute(
                f"UPDATE {PICK_TASKS.qualified} SET pulled_at = ? "
                "WHERE wave_id = ? AND status = 'cancelled' AND pulled_at IS NULL",
                [now, wave_id],
            )


def run_fulfilment_stage(
    con: duckdb.DuckDBPyConnection,
    *,
    reference_dir: Path,
    outbox: Path,
    run_id: str,
    now: datetime,
) -> FulfilmentResult:
    """Cancellations, new waves (one transaction), then the documents (see the docstring)."""
    settings = load_settings(reference_dir)
    result = FulfilmentResult()
    lap = Laps(result.seconds)

    with transaction(con):
        result.tasks_cancelled = _cancel_released(con, now)
        _release_waves(con, reference_dir, settings, run_id, now, result, lap)
    documents = write_documents(con, reference_dir=reference_dir, outbox=outbox, now=now)
    lap("documents")
    result.pick_lists = documents.pick_lists
    result.packing_slips = documents.packing_slips
    result.pull_lists = documents.pull_lists
    result.pages = documents.pages
    result.csv_seconds = round(documents.csv_seconds, 3)
    result.pdf_seconds = round(documents.pdf_seconds, 3)
    return result
